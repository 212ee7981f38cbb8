"""Where a request's time goes: pyinstrument on the real ASGI app, in process.

    python -m bench.profile --workload W1 --requests 400
    python -m bench.profile --workload W4 --requests 15

The app is built exactly as ``gql-trust serve`` builds it (same settings file:
policy, disclosure control and the ledger on) and driven through
``httpx.ASGITransport``, one request at a time, after a warm-up. First without a
profiler, timing the main steps (validation, source fetch, ledger append, cells,
JSON) and the process's CPU per request; then under pyinstrument. The sampled call
tree is summarised by library: each sample's own time goes to the library of its
frame (standard-library frames count for the library that called them), and
waiting on a source or the ledger is reported separately as ``await``. Also
writes pyinstrument's text view (and with ``--html`` its HTML) next to the results.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import httpx
from pyinstrument import Profiler

from .run import PRINCIPALS, RESULTS, default_data_dir
from .workloads import Layout, build

# First match wins: (substring of the frame's file path, category).
CATEGORIES = (
    ("/gql_trust/ledger/", "gql_trust.ledger"),
    ("/gql_trust/policy/", "gql_trust.policy"),
    ("/gql_trust/planner/", "gql_trust.planner"),
    ("/gql_trust/disclosure/", "gql_trust.disclosure"),
    ("/gql_trust/sources/", "gql_trust.sources"),
    ("/gql_trust/graphql/", "gql_trust.graphql (resolvers, plans, cells, fast lists)"),
    ("/gql_trust/identity", "gql_trust.identity (JWT)"),
    ("/gql_trust/", "gql_trust (other)"),
    ("/strawberry/", "strawberry (schema execution, extensions, field resolution)"),
    ("site-packages/graphql/", "graphql-core (parse, validate, execute)"),
    ("/sqlglot/", "sqlglot (planning SQL)"),
    ("/casbin/", "casbin (policy)"),
    ("/asyncpg/", "asyncpg"),
    ("/duckdb", "duckdb"),
    ("/jwt/", "PyJWT / cryptography"),
    ("/cryptography/", "PyJWT / cryptography"),
    ("/orjson", "JSON encoding"),
    ("/json/", "JSON encoding"),
    ("/sqlite3/", "sqlite3 (ledger sink)"),
    ("/starlette/", "starlette / ASGI"),
    ("/uvicorn/", "starlette / ASGI"),
    ("/cross_web/", "starlette / ASGI"),
    ("/httpx/", "benchmark client (httpx, in process)"),
    ("/httpcore/", "benchmark client (httpx, in process)"),
    ("/h11/", "benchmark client (httpx, in process)"),
    ("/anyio/", "benchmark client (httpx, in process)"),
    ("/pyinstrument/", "profiler"),
    ("/bench/", "benchmark client (httpx, in process)"),
)
AWAIT = "await (sources, ledger writes, threads)"


def category(path: str | None, inherited: str | None) -> str | None:
    for needle, name in CATEGORIES:
        if path and needle in path:
            return name
    return inherited  # standard library, or a C call: counts for its caller


def breakdown(root: Any) -> dict[str, float]:
    """Own time per category, in seconds."""
    totals: dict[str, float] = defaultdict(float)

    def walk(frame: Any, inherited: str | None) -> None:
        ident = frame.identifier
        if ident.startswith("[await]") or ident.startswith("[out-of-context]"):
            totals[AWAIT] += frame.time
            return
        mine = inherited if ident.startswith("[self]") else category(frame.file_path, inherited)
        own = frame.time - sum(c.time for c in frame.children)
        totals[mine or "python (other)"] += max(own, 0.0)
        for child in frame.children:
            walk(child, mine)

    walk(root, None)
    return dict(totals)


def hot_functions(root: Any, top: int = 25) -> list[tuple[str, float]]:
    """Inclusive time of gql_trust's own functions (each counted once per stack)."""
    totals: dict[str, float] = defaultdict(float)

    def walk(frame: Any, open_keys: frozenset[str]) -> None:
        key = None
        if frame.file_path and "/gql_trust/" in frame.file_path:
            key = f"{frame.function} ({frame.file_path.split('/gql_trust/')[1]})"
            if key not in open_keys:
                totals[key] += frame.time
        keys = open_keys | {key} if key else open_keys
        for child in frame.children:
            walk(child, keys)

    walk(root, frozenset())
    return sorted(totals.items(), key=lambda kv: -kv[1])[:top]


# (module, attribute path, label): timed without a profiler, each optional.
TIMED = (
    ("strawberry.schema.schema", "validate_document", "GraphQL validation (uncached)"),
    ("gql_trust.sources.postgres", "PostgresSource.fetch", "source fetch (PostgreSQL)"),
    ("gql_trust.sources.duckdb", "DuckDBSource.fetch", "source fetch (DuckDB)"),
    ("gql_trust.ledger.writer", "Ledger.append", "ledger append (queue + commit)"),
    ("gql_trust.app", "authenticate", "authenticate (JWT)"),
    ("gql_trust.graphql.plans", "cell_plan", "plan: policy, filters, paging"),
    ("gql_trust.graphql.schema", "Model.cells", "rows -> cells"),
    (
        "gql_trust.graphql.fast_lists",
        "FastListExecutionContext.complete_list_value",
        "list completion (cells -> response dicts)",
    ),
    ("gql_trust.app", "TrustGraphQL.encode_json", "JSON encoding"),
    ("strawberry.schema.schema", "Schema.execute", "Strawberry Schema.execute (total)"),
)


def install_timers(totals: dict[str, float]) -> list[tuple[Any, str, Any]]:
    """Wrap the functions in TIMED to add their wall time to ``totals``; returns undo info."""
    import functools
    import importlib
    import inspect

    undo = []
    for module_name, path, label in TIMED:
        try:
            owner: Any = importlib.import_module(module_name)
            *parents, name = path.split(".")
            for parent in parents:
                owner = getattr(owner, parent)
            original = getattr(owner, name)
        except (ImportError, AttributeError):
            continue

        def wrap(f: Any, label: str = label) -> Any:
            if inspect.iscoroutinefunction(f):

                @functools.wraps(f)
                async def timed_async(*args: Any, **kwargs: Any) -> Any:
                    t0 = time.perf_counter()
                    try:
                        return await f(*args, **kwargs)
                    finally:
                        totals[label] += time.perf_counter() - t0

                return timed_async

            @functools.wraps(f)
            def timed(*args: Any, **kwargs: Any) -> Any:
                t0 = time.perf_counter()
                try:
                    return f(*args, **kwargs)
                finally:
                    totals[label] += time.perf_counter() - t0

            return timed

        setattr(owner, name, wrap(original))
        undo.append((owner, name, original))
    return undo


async def profile(
    config: Path, workload: str, requests: int, warmup: int, out: Path, html: bool = False
) -> dict:
    from gql_trust.app import create_app
    from gql_trust.config import load_settings
    from gql_trust.identity import mint_token

    settings = load_settings(config)
    data_dir = config.parent
    timings: dict[str, float] = defaultdict(float)
    undo = install_timers(timings)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        from .baselines import RawSources

        pg_dsn = settings.sources["dwp"].dsn
        async with RawSources(pg_dsn, concurrency=1) as raw:
            layout = Layout.read(data_dir, await raw.months())
        chosen = {w.key: w for w in build(layout)}[workload]
        p = PRINCIPALS[chosen.principal]
        assert settings.auth is not None
        token = mint_token(
            settings.auth,
            sub="bench-profile",
            dept=p["dept"],
            roles=[p["role"]],
            purpose=p.get("purpose"),
            agreement=p.get("agreement"),
            ttl_s=3600,
        )
        headers = {"Authorization": f"Bearer {token}"}
        body = {"query": chosen.graphql}
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            for _ in range(warmup):
                reply = await client.post("/graphql", json=body, headers=headers)
                reply.raise_for_status()
                assert "errors" not in reply.json(), reply.text[:500]
            explain = await client.post(
                "/graphql", json={**body, "extensions": {"explain": True}}, headers=headers
            )
            sources = explain.json()["extensions"]["explain"]["sources"]
            # 1. Without a profiler: wall time of the main steps, and process CPU.
            timings.clear()
            cpu0, wall0 = time.process_time(), time.perf_counter()
            for _ in range(requests):
                await client.post("/graphql", json=body, headers=headers)
            plain_cpu = (time.process_time() - cpu0) * 1000 / requests
            plain_wall = (time.perf_counter() - wall0) * 1000 / requests
            steps = {k: round(v * 1000 / requests, 3) for k, v in timings.items()}
            for owner, name, original in undo:
                setattr(owner, name, original)
            # 2. pyinstrument: where the rest goes, by library.
            profiler = Profiler(interval=0.0005, async_mode="enabled")
            started = time.perf_counter()
            profiler.start()
            for _ in range(requests):
                await client.post("/graphql", json=body, headers=headers)
            profiler.stop()
            wall = time.perf_counter() - started
    session = profiler.last_session
    root = session.root_frame()
    parts = breakdown(root) if root is not None else {}
    total = sum(parts.values()) or 1.0
    out.mkdir(parents=True, exist_ok=True)
    if html:  # large (megabytes): not written unless asked for
        (out / f"profile-{workload}.html").write_text(profiler.output_html())
    (out / f"profile-{workload}.txt").write_text(
        profiler.output_text(unicode=False, color=False, show_all=False)
    )
    result = {
        "workload": workload,
        "graphql": chosen.graphql,
        "requests": requests,
        "unprofiled": {
            "wall_ms_per_request": round(plain_wall, 2),
            "process_cpu_ms_per_request": round(plain_cpu, 2),
            "note": "process CPU includes the in-process httpx client (about 1 ms/request)",
            "steps_wall_ms_per_request": dict(sorted(steps.items(), key=lambda kv: -kv[1])),
        },
        "profiled_wall_ms_per_request": round(wall * 1000 / requests, 2),
        "source_sql": [s["sql"] for s in sources],
        "source_ms_explain": [s["ms"] for s in sources],
        "categories_ms_per_request": {
            k: round(v * 1000 / requests, 3)
            for k, v in sorted(parts.items(), key=lambda kv: -kv[1])
        },
        "categories_percent": {
            k: round(100 * v / total, 1) for k, v in sorted(parts.items(), key=lambda kv: -kv[1])
        },
        "gql_trust_functions_ms_per_request": {
            k: round(v * 1000 / requests, 3) for k, v in hot_functions(root)
        }
        if root is not None
        else {},
    }
    (out / f"profile-{workload}.json").write_text(json.dumps(result, indent=2) + "\n")
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.profile",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--config", type=Path, help="default: the runner's trust at --scale")
    parser.add_argument("--workload", default="W1")
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--out", type=Path, default=RESULTS / "profiles")
    parser.add_argument("--html", action="store_true", help="also write pyinstrument's HTML")
    args = parser.parse_args(argv)
    config = args.config or default_data_dir(args.scale) / "gql-trust.toml"
    result = asyncio.run(
        profile(config, args.workload.upper(), args.requests, args.warmup, args.out, args.html)
    )
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
