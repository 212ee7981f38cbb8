"""The `gql-trust` command."""

from __future__ import annotations

import asyncio
import json
import os
import shlex
import sys
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from .config import CONFIG_ENV, bundled_dir, load_settings
from .errors import ConfigError
from .identity import AuthConfig, mint_token

console = Console(stderr=True)


def _fail(message: str) -> None:
    from rich.markup import escape  # messages quote TOML tables like [sources.dwp]

    console.print(f"[red]error:[/red] {escape(message)}", soft_wrap=True, highlight=False)
    sys.exit(2)


class _Group(click.Group):
    """Turns the project's configuration errors into one clear line, not a traceback."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except ConfigError as exc:
            _fail(exc.message)
        return None


@click.group(cls=_Group)
@click.version_option(package_name="gql-trust")
def main() -> None:
    """gql-trust: a GraphQL server for a Labour Market Data Trust."""


@main.command("demo-data")
@click.option("--data-dir", type=click.Path(path_type=Path), required=True)
@click.option("--scale", type=float, default=1.0, show_default=True)
@click.option("--seed", type=int, default=42, show_default=True)
@click.option("--postgres", "postgres_dsn", help="Write DWP claimants to this PostgreSQL DSN.")
@click.option(
    "--spark",
    "spark_remote",
    metavar="sc://HOST:PORT",
    help="Write DWP claimants as Parquet under DIR/dwp/claimants/, read through this "
    "Spark Connect server.",
)
def demo_data(
    data_dir: Path, scale: float, seed: int, postgres_dsn: str | None, spark_remote: str | None
) -> None:
    """Write a deterministic demo data trust and DIR/gql-trust.toml."""
    if postgres_dsn and spark_remote:
        _fail("give --postgres or --spark, not both: DWP claimants live in one place")
    if spark_remote is not None:
        from .sources.spark import check_remote

        try:
            check_remote(spark_remote)
        except ValueError as exc:
            _fail(f"--spark: {exc}")
    config = _generate(data_dir, scale, seed, postgres_dsn, spark_remote)
    click.echo(str(config))


def _generate(
    data_dir: Path,
    scale: float,
    seed: int,
    postgres_dsn: str | None,
    spark_remote: str | None = None,
) -> Path:
    from .demo import generate

    if not 0 < scale < float("inf"):  # also rejects nan and inf
        _fail(f"--scale must be a positive number (got {scale}), e.g. --scale 0.1")
    with console.status("generating the demo data trust") as status:
        return generate(
            data_dir,
            scale=scale,
            seed=seed,
            postgres_dsn=postgres_dsn,
            spark_remote=spark_remote,
            progress=lambda message: status.update(message),
        )


@main.command()
@click.option("--config", "config", type=click.Path(path_type=Path), envvar=CONFIG_ENV)
@click.option("--host", default=None, help="Bind address (default from config, 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port (default from config, 8000).")
@click.option("--workers", type=int, default=1, show_default=True)
def serve(config: Path | None, host: str | None, port: int | None, workers: int) -> None:
    """Serve the trust described by a settings file."""
    settings = load_settings(config)
    _serve(settings.path, host or settings.server.host, port or settings.server.port, workers)


@main.command()
@click.option("--data-dir", type=click.Path(path_type=Path), default=Path("demo-trust"))
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=8000, show_default=True)
@click.option("--postgres", "postgres_dsn", help="Keep DWP claimants in this PostgreSQL DSN.")
def demo(data_dir: Path, host: str, port: int, postgres_dsn: str | None) -> None:
    """Generate the demo trust if missing, then serve it."""
    config = data_dir / "gql-trust.toml"
    if not config.is_file():
        config = _generate(data_dir, 1.0, 42, postgres_dsn)
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    _print_demo_tokens(load_settings(config).auth, f"http://{shown}:{port}/graphql")
    console.print(f"GraphiQL: [bold]http://{shown}:{port}/graphql[/bold]")
    console.print(f"Catalog:  http://{shown}:{port}/")
    _serve(config.resolve(), host, port, 1)


# (label, sub, dept, role, purpose, agreement, area, an example query; None: /metrics)
DEMO_PRINCIPALS = (
    (
        "DWP analyst (agreement DSA-LMDT-001, purpose labour-market-analysis)",
        "dwp-analyst",
        "DWP",
        "analyst",
        "labour-market-analysis",
        "DSA-LMDT-001",
        None,
        "{ payrolledEmployees(limit: 5) { period employees meanMonthlyPay } }",
    ),
    (
        "HMRC analyst",
        "hmrc-analyst",
        "HMRC",
        "analyst",
        None,
        None,
        None,
        "{ claimants(limit: 5) { period ageBand claimants } }",
    ),
    (
        "DfE analyst",
        "dfe-analyst",
        "DfE",
        "analyst",
        None,
        None,
        None,
        "{ claimants(geography: REGION, limit: 5) { period area { name } claimants } }",
    ),
    (
        "LA officer, Birmingham (E08000025)",
        "la-officer-birmingham",
        "LA",
        "la-officer",
        None,
        None,
        "E08000025",
        '{ claimants(where: {areaCode: {eq: "E08000025"}}, limit: 5) { period claimants } }',
    ),
    (
        "TRUST auditor",
        "trust-auditor",
        "TRUST",
        "auditor",
        None,
        None,
        None,
        "{ auditLog(limit: 5) { id timestamp subject dept outcome } }",
    ),
    ("TRUST operator (/metrics)", "trust-operator", "TRUST", "operator", None, None, None, None),
)
DEMO_TOKEN_TTL_S = 12 * 3600


def _print_demo_tokens(auth: AuthConfig | None, url: str) -> None:
    """Example tokens (valid 12 hours) for the demo principals, with a curl line each."""
    if auth is None or auth.signing_key_path is None:
        console.print(
            "No [auth] signing key in the settings: only public access is possible.", markup=False
        )
        return
    console.print("Demo tokens (valid 12 hours); without one you are the public.")
    console.print(
        'In GraphiQL, put {"Authorization": "Bearer <token>"} in the Headers tab.',
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
    for label, sub, dept, role, purpose, agreement, area, query in DEMO_PRINCIPALS:
        token = mint_token(
            auth,
            sub=sub,
            dept=dept,
            roles=[role],
            purpose=purpose,
            agreement=agreement,
            area=area,
            ttl_s=DEMO_TOKEN_TTL_S,
        )
        if query is None:
            metrics_url = url.removesuffix("/graphql") + "/metrics"
            example = f"curl -s {metrics_url} -H 'Authorization: Bearer {token}'"
        else:
            body = shlex.quote(json.dumps({"query": query}))
            example = (
                f"curl -s {url} -H 'Content-Type: application/json' "
                f"-H 'Authorization: Bearer {token}' -d {body}"
            )
        console.print(f"\n[bold]{label}[/bold]")
        for line in (token, example):
            console.print(line, markup=False, highlight=False, soft_wrap=True)
    console.print()


def _metrics_folder() -> None:
    """``$PROMETHEUS_MULTIPROC_DIR`` for the workers (inherited when they are spawned):
    the one given, emptied of an earlier run's files, or a new temporary folder."""
    import tempfile

    from .metrics import MULTIPROCESS_ENV

    given = os.environ.get(MULTIPROCESS_ENV)
    if given:
        folder = Path(given)
        folder.mkdir(parents=True, exist_ok=True)
        for stale in folder.glob("*.db"):
            stale.unlink()
    else:
        os.environ[MULTIPROCESS_ENV] = tempfile.mkdtemp(prefix="gql-trust-metrics-")


def _serve(config: Path | None, host: str, port: int, workers: int) -> None:
    import uvicorn

    from .observability import logging_config
    from .workers import serve_workers

    os.environ[CONFIG_ENV] = str(config)
    options: dict[str, Any] = dict(
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="info",
        log_config=logging_config(),  # JSON lines on stderr, in every worker process
        access_log=False,  # gql_trust.access writes one JSON line a request instead
    )
    if workers > 1:
        _metrics_folder()  # the workers' counters, summed at each scrape
        serve_workers(uvicorn.Config("gql_trust.app:create_app_from_env", **options))
    else:
        uvicorn.run("gql_trust.app:create_app_from_env", **options)


@main.command()
@click.option("--config", "config", type=click.Path(path_type=Path), envvar=CONFIG_ENV)
@click.option("--sub", required=True, help="Subject: who the token names.")
@click.option("--dept", required=True, help="Department, e.g. DWP, HMRC, DfE, LA, TRUST.")
@click.option("--role", "roles", multiple=True, required=True, help="A role (repeatable).")
@click.option("--purpose", default=None, help="Purpose of processing.")
@click.option("--agreement", default=None, help="Data-sharing agreement id, e.g. DSA-LMDT-001.")
@click.option("--area", default=None, help="Area code (GSS) a local authority officer covers.")
@click.option(
    "--ttl", type=click.IntRange(min=1), default=3600, show_default=True, help="Seconds valid."
)
def token(
    config: Path | None,
    sub: str,
    dept: str,
    roles: tuple[str, ...],
    purpose: str | None,
    agreement: str | None,
    area: str | None,
    ttl: int,
) -> None:
    """Print a bearer token (alone on stdout) signed with the settings' [auth] signing key."""
    settings = load_settings(config)
    if settings.auth is None:
        _fail(f"{settings.path} has no [auth] table: this server accepts no tokens")
        return
    click.echo(
        mint_token(
            settings.auth,
            sub=sub,
            dept=dept,
            roles=roles,
            purpose=purpose,
            agreement=agreement,
            area=area,
            ttl_s=ttl,
        )
    )


@main.command()
@click.option("--config", "config", type=click.Path(path_type=Path), envvar=CONFIG_ENV)
@click.option(
    "--federation",
    is_flag=True,
    help="Print the Federation v2 subgraph SDL instead (what `_service { sdl }` returns: "
    "@link and @key directives), for composing with a gateway.",
)
def schema(config: Path | None, federation: bool) -> None:
    """Print the GraphQL schema the server serves (SDL), generated from the dataset contracts.

    Without --federation: the complete schema as introspection shows it, valid for any
    GraphQL tool (code generators, linters); schema/schema.graphql is this output."""
    click.echo(schema_sdl(config, federation=federation), nl=False)


def schema_sdl(config: Path | None = None, *, federation: bool = False) -> str:
    from .contracts import load_contracts
    from .graphql import build_schema
    from .graphql.federation import complete_sdl

    settings = load_settings(config) if config else None
    built = build_schema(
        load_contracts(settings.contracts_dir if settings else bundled_dir("schema")),
        settings.limits if settings else None,
        federation=settings.federation if settings else None,
    )
    if federation:
        return built.as_str() + "\n"
    return complete_sdl(built._schema)  # the GraphQLSchema Strawberry serves


@main.group()
def documents() -> None:
    """Trusted documents: the operations an agreement has approved."""


@documents.command("add")
@click.option("--config", "config", type=click.Path(path_type=Path), envvar=CONFIG_ENV)
@click.option("--agreement", "agreement_id", required=True, help="The agreement's id.")
@click.argument("query_file", type=click.Path(path_type=Path, exists=True, dir_okay=False))
def documents_add(config: Path | None, agreement_id: str, query_file: Path) -> None:
    """Add the operation in QUERY_FILE to the agreement's trusted documents manifest and
    print its documentId. The running server takes it within seconds."""
    from .documents import add_document
    from .policy.agreements import load_agreements

    settings = load_settings(config)
    agreements = load_agreements(settings.policies_dir / "agreements.yaml")
    agreement = agreements.get(agreement_id)
    if agreement is None:
        _fail(f"agreement {agreement_id} is not in {settings.policies_dir / 'agreements.yaml'}")
        return
    if agreement.trusted_documents is None:
        _fail(
            f"agreement {agreement_id} names no manifest: add `trusted_documents: "
            f"{agreement_id}.documents.json` to it in agreements.yaml"
        )
        return
    click.echo(f"sha256:{add_document(agreement.trusted_documents, query_file)}")


@main.command()
@click.option("--config", "config", type=click.Path(path_type=Path), envvar=CONFIG_ENV)
def check(config: Path | None) -> None:
    """Validate contracts against the live sources, and policies and agreements against the
    contracts: one line per problem, exit 1 if any (2 if the settings cannot be loaded)."""
    from .checks import check_trust
    from .trust import Trust

    settings = load_settings(config)
    trust = Trust.from_settings(settings)  # contracts, reference data, policy files load
    report = asyncio.run(check_trust(trust))
    for name, contract in sorted(trust.contracts.items()):
        state = "ok" if name in report.contracts else "not checked"
        mine = [p for p in report.problems if p.where.startswith(contract.path)]
        if mine:
            state = f"{len(mine)} problem{'' if len(mine) == 1 else 's'}"
        _say(f"contract {name}: {state} ({contract.path})")
    for name, state in sorted(report.sources.items()):
        _say(f"source {name}: {state}")
    for problem in report.problems:
        _say(f"{problem.severity}: {problem}")
    _say(report.summary())
    if not report.ok:
        sys.exit(1)


def _say(line: str) -> None:
    console.print(line, markup=False, highlight=False, soft_wrap=True)


@main.group()
def assets() -> None:
    """Manage the GraphiQL browser assets served offline."""


@assets.command("fetch")
def assets_fetch() -> None:
    """Download the pinned GraphiQL assets from the npm registry (npm ci)."""
    from . import graphiql

    with console.status("fetching GraphiQL assets with npm"):
        files = graphiql.fetch_assets()
    for path in files:
        console.print(f"installed {path}", markup=False)


@main.group()
def audit() -> None:
    """The extraction ledger."""


@audit.command("verify")
@click.option("--config", "config", type=click.Path(path_type=Path), envvar=CONFIG_ENV)
def audit_verify(config: Path | None) -> None:
    """Check the ledger's hash chain, its Merkle tree against every signed checkpoint, its
    head and its budgets (read-only; safe while servers run).

    Exits 0 on an intact ledger, 1 naming the first bad entry, 2 if it cannot be read."""
    from .errors import LedgerUnavailable
    from .ledger import Ledger

    settings = load_settings(config)

    async def run() -> tuple[str, bool]:
        ledger = Ledger.from_config(settings.ledger, read_only=True)
        try:
            result = await ledger.verify()
        finally:
            await ledger.close()
        return result.summary(ledger.sink.where), result.ok

    try:
        summary, ok = asyncio.run(run())
    except LedgerUnavailable as exc:
        _fail(exc.message)
        return
    click.echo(summary)
    if not ok:
        sys.exit(1)


def _log(url: str, vkey: Path) -> Any:
    from .ledger.note import NoteError, Verifier
    from .ledger.witness import Log

    try:
        return Log(url, Verifier.parse(vkey.read_text(encoding="utf-8")))
    except (OSError, UnicodeDecodeError) as exc:
        _fail(f"cannot read the verifier key {vkey}: {exc}")
    except NoteError as exc:
        _fail(f"{vkey}: {exc}")


def _checked(work: Any) -> None:
    """Run a witness check: exit 1 when the log fails it, 2 when it cannot be checked."""
    from .ledger.witness import NotAnExtension, WitnessError

    try:
        said = work()
    except NotAnExtension as exc:
        from rich.markup import escape

        console.print(f"[red]FAILED:[/red] {escape(str(exc))}", soft_wrap=True, highlight=False)
        sys.exit(1)
    except WitnessError as exc:
        _fail(str(exc))
    click.echo(said)


def _log_options(command: Any) -> Any:
    """--url and --vkey: the log a partner checks, and the key its checkpoints are signed with."""
    command = click.option(
        "--vkey",
        type=click.Path(path_type=Path, exists=True, dir_okay=False),
        required=True,
        help="The log's note verifier key (keys/ledger.vkey).",
    )(command)
    return click.option(
        "--url", required=True, help="The trust's base URL, e.g. https://trust.example"
    )(command)


@audit.command("witness")
@_log_options
@click.option(
    "--state",
    type=click.Path(path_type=Path, dir_okay=False),
    required=True,
    help="Where this witness keeps the last checkpoint it accepted.",
)
def audit_witness(url: str, vkey: Path, state: Path) -> None:
    """Check that the log only grew since the checkpoint kept in --state, then keep its
    newest checkpoint.

    Exits 0 when the log is an extension of what was seen, 1 (naming the sizes) when it
    was truncated, rewritten or forked or its checkpoint is not validly signed, 2 when it
    cannot be checked (unreachable)."""
    from .ledger.witness import witness

    log = _log(url, vkey)
    _checked(lambda: witness(log, state))


@audit.command("receipt")
@_log_options
@click.argument("receipt", type=click.Path(path_type=Path, exists=True, dir_okay=False))
def audit_receipt(url: str, vkey: Path, receipt: Path) -> None:
    """Check a receipt (extensions.receipt, or a whole saved response): its checkpoint is
    signed by the log and the log proves its entry is in that tree.

    Exits 0 when it verifies, 1 when it does not, 2 when it cannot be checked."""
    from .ledger.witness import check_receipt, load_receipt

    log = _log(url, vkey)
    _checked(lambda: check_receipt(log, load_receipt(receipt)))


if __name__ == "__main__":
    main()
