"""`GET /explore`: the analysts' explorer, a chart and a table over any dataset.

The page is rendered here with what every dataset offers (its measures, dimensions
and the periods it covers: catalog metadata, readable by anyone); the browser then
asks `/graphql` with the caller's own token, so it shows exactly what that caller may
see. The script (``static/explorer/explorer.js``) builds the query, draws the chart
with Vega-Lite and the table beside it, both from the same answer.
"""

from __future__ import annotations

import json
from typing import Any

from .catalog import GEOGRAPHIES, DatasetEntry, describe_all
from .catalog_page import environment
from .contracts.model import Conformed, Contract
from .trust import Trust

LIMIT = 5_000  # cells a chart can still show; a larger table says it was cut

_LABELS = {"ageBand": "Age band", "sex": "Sex", "period": "Period", "area": "Area"}


def dataset_options(contract: Contract, entry: DatasetEntry) -> dict[str, Any]:
    """What the explorer's form offers for one dataset (no data, only its shape)."""
    dimensions = []
    for d in contract.dimensions:
        nested = d.conformed in (Conformed.AREA, Conformed.SECTOR)
        dimensions.append(
            {
                "name": d.name,
                "label": _LABELS.get(d.name, _label(d.name)),
                "selection": f"{d.name} {{ code name }}" if nested else d.name,
                "kind": d.conformed.value if d.conformed else "category",
            }
        )
    periods = entry.periods
    return {
        "name": contract.name,
        "title": contract.title,
        "owner": contract.owner,
        "measures": [{"name": m.name, "label": _label(m.name)} for m in contract.measures],
        "dimensions": dimensions,
        "periods": {"first": periods.first, "last": periods.last} if periods else None,
    }


def _label(name: str) -> str:
    """camelCase -> "Camel case"."""
    words = "".join(f" {c.lower()}" if c.isupper() else c for c in name).strip()
    return words[:1].upper() + words[1:]


async def render_explorer(
    trust: Trust, *, graphql_path: str = "/graphql", static_prefix: str = "/static"
) -> str:
    entries = {e.name: e for e in await describe_all(trust)}
    datasets = [
        dataset_options(trust.contracts[name], entry) for name, entry in sorted(entries.items())
    ]
    config = {
        "graphqlPath": graphql_path,
        "limit": LIMIT,
        "datasets": datasets,
        "geographies": [g.value for g in GEOGRAPHIES],
    }
    return (
        environment()
        .get_template("explorer.html")
        .render(
            datasets=datasets,
            geographies=[(g.value, g.value.replace("_", " ").capitalize()) for g in GEOGRAPHIES],
            # Read by the script as data (type application/json): never executed.
            config=json.dumps(config).replace("<", "\\u003c"),
            graphql_path=graphql_path,
            static_prefix=static_prefix,
            page="explore",
        )
    )
