"""`GET /`: the human catalog page, rendered on the server from the shared catalog."""

from __future__ import annotations

from functools import cache
from urllib.parse import urlencode

import jinja2

from .catalog import TRUST_PURPOSE, TRUST_TITLE, DatasetEntry, describe_all
from .disclosure.methods import METHODS
from .trust import Trust


@cache
def environment() -> jinja2.Environment:
    # Autoescape everything: contract text comes from partner departments.
    return jinja2.Environment(
        loader=jinja2.PackageLoader("gql_trust", "templates"),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )


def graphiql_link(
    entry: DatasetEntry, graphql_path: str = "/graphql", *, dry_run: bool = False
) -> str:
    """GraphiQL pre-filled with the dataset's example query (its page reads ?query=);
    with ``dry_run``, GraphiQL sends it as a dry run (``extensions.dryRun``)."""
    params = {"query": entry.example_query, **({"dryRun": "true"} if dry_run else {})}
    return f"{graphql_path}?{urlencode(params)}"


async def render_catalog(
    trust: Trust, *, graphql_path: str = "/graphql", static_prefix: str = "/static"
) -> str:
    return render_page(
        await describe_all(trust), graphql_path=graphql_path, static_prefix=static_prefix
    )


def render_page(
    datasets: list[DatasetEntry], *, graphql_path: str = "/graphql", static_prefix: str = "/static"
) -> str:
    return (
        environment()
        .get_template("catalog.html")
        .render(
            title=TRUST_TITLE,
            purpose=TRUST_PURPOSE,
            datasets=datasets,
            graphiql_links={d.name: graphiql_link(d, graphql_path) for d in datasets},
            dry_run_links={d.name: graphiql_link(d, graphql_path, dry_run=True) for d in datasets},
            disclosure_names={name: m.summary for name, m in METHODS.items()},
            graphql_path=graphql_path,
            static_prefix=static_prefix,
            page="catalog",
        )
    )
