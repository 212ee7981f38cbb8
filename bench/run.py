"""The benchmark runner: one command, every workload next to its baselines.

    python -m bench.run --scale 1            # full run (about 10 minutes at scale 1)
    python -m bench.run --scale 1 --quick    # the same, shorter measurements (< 3 minutes)

It generates (or reuses) a demo trust with the DWP claimants in PostgreSQL, starts
the real server (`gql-trust serve --workers N`, policy, disclosure control and the
ledger on, as users run it), measures each workload over HTTP at 1 and 16
concurrent clients, then the baselines in the same run: raw SQL with the source's
own driver, batch copy, and PostGraphile + pg-aggregates. It checks that everyone
computed the same cells, and writes ``bench/results/scale-S[-quick].json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import subprocess
import sys
import time
import tomllib
import urllib.request
from dataclasses import dataclass, replace
from importlib import metadata
from pathlib import Path
from typing import Any

import asyncpg

try:
    import psutil  # noqa: F401  (servers.py samples memory and CPU with it)
except ImportError:  # pragma: no cover
    sys.exit("bench needs psutil: pip install -e '.[bench]' (see docs/benchmarks.md)")

from . import report
from .baselines import RawSources, copy_relation
from .load import LoadResult, call_load, http_load
from .servers import Server, free_port, gql_trust_server, mint_token, postgraphile_server
from .workloads import Layout, Workload, build

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/"
SEED = 42
INDEX = "bench_uc_claimants_area_month"

# Principals (DESIGN.md, demo principals): the owner of each dataset a workload reads most.
PRINCIPALS = {
    "dwp": dict(
        dept="DWP", role="analyst", purpose="labour-market-analysis", agreement="DSA-LMDT-001"
    ),
    "hmrc": dict(dept="HMRC", role="analyst"),
}


@dataclass(frozen=True)
class Budget:
    """How long each measurement may run (time and request bounds)."""

    c1_s: float
    c16_s: float
    c1_min: int
    c16_min: int
    warmup: int
    c16_skip_over_ms: float | None  # skip c=16 when one request takes longer than this

    def bounds(self, concurrency: int) -> dict[str, Any]:
        if concurrency == 1:
            return dict(duration_s=self.c1_s, min_requests=self.c1_min, max_requests=5_000)
        return dict(duration_s=self.c16_s, min_requests=self.c16_min, max_requests=50_000)


QUICK = Budget(c1_s=1.5, c16_s=2.5, c1_min=3, c16_min=16, warmup=1, c16_skip_over_ms=250)
FULL = Budget(c1_s=8, c16_s=10, c1_min=5, c16_min=16, warmup=2, c16_skip_over_ms=None)


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --- the demo trust -----------------------------------------------------------------


def _slug(scale: float) -> str:
    return f"{scale:g}".replace(".", "_")


def default_data_dir(scale: float) -> Path:
    return Path(os.environ.get("TMPDIR", "/tmp")) / "gql-trust-bench" / f"scale-{_slug(scale)}"


async def prepare_trust(
    data_dir: Path, scale: float, pg_base: str, regenerate: bool
) -> tuple[Path, str]:
    """Generate the demo trust once per (scale, seed); reuse it on later runs."""
    database = f"gql_trust_bench_s{_slug(scale)}"
    dsn = pg_base.rstrip("/") + "/" + database
    meta_path = data_dir / "bench-meta.json"
    meta = {"scale": scale, "seed": SEED, "dsn": dsn}
    config = data_dir / "gql-trust.toml"
    admin = await asyncpg.connect(pg_base.rstrip("/") + "/postgres")
    try:
        exists = await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", database)
        if not exists:
            await admin.execute(f'CREATE DATABASE "{database}"')
    finally:
        await admin.close()
    fresh = (
        not regenerate
        and exists
        and config.is_file()
        and meta_path.is_file()
        and json.loads(meta_path.read_text()) == meta
    )
    if not fresh:
        log(f"generating the demo trust at scale {scale:g} in {data_dir} (claimants in {database})")
        started = time.perf_counter()
        subprocess.run(
            [
                sys.executable,
                "-m",
                "gql_trust.cli",
                "demo-data",
                "--data-dir",
                str(data_dir),
                "--scale",
                f"{scale:g}",
                "--seed",
                str(SEED),
                "--postgres",
                dsn,
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        log(f"generated in {time.perf_counter() - started:.0f}s")
    else:
        # The settings file follows the installed gql-trust (e.g. a new [ledger] table).
        from gql_trust.demo.generate import write_config

        write_config(data_dir, dsn)
    connection = await asyncpg.connect(dsn)
    try:
        # What a department's DBA would have for area lookups; every contender benefits alike.
        await connection.execute(
            f"CREATE INDEX IF NOT EXISTS {INDEX} ON dwp.uc_claimants (area_code, month)"
        )
        await connection.execute("ANALYZE dwp.uc_claimants")
    finally:
        await connection.close()
    meta_path.write_text(json.dumps(meta))
    return config, dsn


def reset_ledger(config: Path) -> str:
    """A fresh ledger per run, so agreement budgets start at zero. Returns its description."""
    raw = tomllib.loads(config.read_text())
    ledger = raw.get("ledger")
    if not ledger:
        return "not configured"
    if ledger.get("kind") == "sqlite" and ledger.get("path"):
        path = (config.parent / ledger["path"]).resolve()
        for leftover in (path, Path(f"{path}-wal"), Path(f"{path}-shm"), Path(f"{path}-journal")):
            leftover.unlink(missing_ok=True)
    return ", ".join(f"{k}={v}" for k, v in ledger.items() if k != "dsn")


# --- HTTP helpers -------------------------------------------------------------------


def post(url: str, payload: dict[str, Any], token: str | None = None) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(url, data=json.dumps(payload).encode(), method="POST")
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=600) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


class Sampler:
    """Samples a server's RSS every 100 ms while a measurement runs."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.task: asyncio.Task[None] | None = None

    async def _loop(self) -> None:
        while True:
            self.server.sample()
            await asyncio.sleep(0.1)

    def __enter__(self) -> Sampler:
        self.server.reset_peaks()
        self.task = asyncio.get_running_loop().create_task(self._loop())
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.task is not None
        self.task.cancel()
        self.server.sample()

    def peaks_mb(self) -> dict[str, float]:
        return {
            "peak_worker_rss_mb": round(self.server.peak_worker_rss / 2**20, 1),
            "peak_total_rss_mb": round(self.server.peak_total_rss / 2**20, 1),
        }


async def measure_http(
    url: str, body: bytes, headers: dict[str, str], budget: Budget, server: Server
) -> dict[str, Any]:
    """1 then 16 clients; latency, throughput, the server's CPU per request, peak RSS.

    CPU time of the server's own processes per request is its overhead in a form that
    other work on the machine does not inflate (wall-clock latency it does)."""
    out: dict[str, Any] = {}
    port = int(url.split(":")[2].split("/")[0])
    with Sampler(server) as sampler:
        if budget.warmup:
            await http_load(
                url,
                body,
                headers,
                concurrency=1,
                duration_s=0,
                min_requests=budget.warmup,
                max_requests=budget.warmup,
            )
        cpu = server.cpu_seconds()
        c1 = await http_load(url, body, headers, concurrency=1, **budget.bounds(1))
        out["c1"] = c1.summary()
        out["c1"]["server_cpu_ms_per_request"] = _cpu_per_request(server, cpu, c1)
        if _skip_c16(c1, budget):
            out["c16"] = {"skipped": f"one request takes over {budget.c16_skip_over_ms:g} ms"}
        else:
            cpu = server.cpu_seconds()
            load = asyncio.ensure_future(
                http_load(url, body, headers, concurrency=16, **budget.bounds(16))
            )
            await asyncio.sleep(0.5)
            spread = server.connections_per_process(port)
            c16 = await load
            out["c16"] = c16.summary()
            out["c16"]["server_cpu_ms_per_request"] = _cpu_per_request(server, cpu, c16)
            # How the 16 keep-alive connections landed on the server's processes.
            out["c16"]["connections_per_process"] = spread
    out.update(sampler.peaks_mb())
    out["load_average_1m"] = round(os.getloadavg()[0], 2)
    return out


def _cpu_per_request(server: Server, before: float, result: LoadResult) -> float | None:
    if not result.requests:
        return None
    return round((server.cpu_seconds() - before) * 1000 / result.requests, 2)


def _skip_c16(c1: LoadResult, budget: Budget) -> bool:
    p50 = c1.summary()["p50_ms"]
    return budget.c16_skip_over_ms is not None and (p50 is None or p50 > budget.c16_skip_over_ms)


# --- the contenders -----------------------------------------------------------------


async def run_gql_trust(
    config: Path,
    workloads: list[Workload],
    tokens: dict[str, str],
    workers: int,
    budget: Budget,
    logs: Path,
    raw_answers: dict[str, Any],
) -> dict[str, Any]:
    port = free_port()
    url = f"http://127.0.0.1:{port}/graphql"
    results: dict[str, Any] = {}
    with gql_trust_server(config, port, workers, logs / "gql-trust.log") as server:
        results["_idle"] = {"rss_mb": round(server.sample()[0] / 2**20, 1)}
        for w in workloads:
            log(f"gql-trust {w.key}: {w.title}")
            token = tokens[w.principal]
            entry: dict[str, Any] = {}
            # One request with explain: the answer to check, SQL, rows read and source time.
            status, reply = await asyncio.to_thread(
                post, url, {"query": w.graphql, "extensions": {"explain": True}}, token
            )
            explain = (reply.get("extensions") or {}).get("explain") or {}
            sources = explain.get("sources") or []
            entry["explain"] = {
                "status": status,
                "errors": reply.get("errors"),
                "source_calls": len(sources),
                "rows_read": sum(s.get("rowsRead", 0) for s in sources),
                # calls to different sources run concurrently: the slowest is the critical path
                "source_ms": round(max((s.get("ms", 0) for s in sources), default=0), 2),
                "source_ms_sum": round(sum(s.get("ms", 0) for s in sources), 2),
                "sql": [s.get("sql") for s in sources],
            }
            data = reply.get("data") or {}
            cells = w.cells(data) if data and not reply.get("errors") else set()
            entry["cells"] = len(cells)
            expected = raw_answers.get(w.key)
            if w.compare and expected is not None:
                entry["matches_raw"] = cells == expected
                if cells != expected:
                    entry["mismatch_sample"] = {
                        "server_only": sorted(map(str, cells - expected))[:5],
                        "raw_only": sorted(map(str, expected - cells))[:5],
                    }
            body = json.dumps({"query": w.graphql}).encode()
            entry.update(
                await measure_http(url, body, {"Authorization": f"Bearer {token}"}, budget, server)
            )
            results[w.key] = entry
    return results


async def run_postgraphile(
    dsn: str,
    workloads: list[Workload],
    workers: int,
    budget: Budget,
    logs: Path,
    raw_answers: dict[str, Any],
) -> dict[str, Any]:
    port = free_port()
    url = f"http://127.0.0.1:{port}/graphql"
    results: dict[str, Any] = {}
    chosen = [w for w in workloads if w.postgraphile]
    if not chosen:
        return results
    log("starting PostGraphile (npm ci from bench/postgraphile/package-lock.json if needed)")
    with postgraphile_server(dsn, "dwp", port, workers, logs / "postgraphile.log") as server:
        results["_idle"] = {"rss_mb": round(server.sample()[0] / 2**20, 1)}
        for w in chosen:
            log(f"PostGraphile {w.key}")
            assert w.postgraphile is not None and w.postgraphile_cells is not None
            status, reply = await asyncio.to_thread(post, url, {"query": w.postgraphile})
            entry: dict[str, Any] = {"status": status, "errors": reply.get("errors")}
            cells = w.postgraphile_cells(reply["data"]) if reply.get("data") else set()
            entry["cells"] = len(cells)
            entry["rows_read"] = len(cells)  # groups; PostgreSQL builds the JSON itself
            if raw_answers.get(w.key) is not None:
                entry["matches_raw"] = cells == raw_answers[w.key]
            body = json.dumps({"query": w.postgraphile}).encode()
            entry.update(await measure_http(url, body, {}, budget, server))
            results[w.key] = entry
    return results


async def run_raw(
    raw: RawSources, workloads: list[Workload], budget: Budget
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Baseline (a), and the COUNT(DISTINCT) variant where PostGraphile also competes."""
    results: dict[str, Any] = {}
    distinct: dict[str, Any] = {}
    answers: dict[str, Any] = {}
    for w in workloads:
        log(f"raw SQL {w.key}")
        rows = await raw.run(w.raw)
        answers[w.key] = w.raw_cells(rows)
        results[w.key] = await _measure_raw(raw, w.raw, rows, budget)
        results[w.key]["cells"] = len(answers[w.key])
        if w.raw_distinct:
            rows = await raw.run(w.raw_distinct)
            entry = await _measure_raw(raw, w.raw_distinct, rows, budget)
            entry["cells"] = len(w.raw_cells(rows))
            entry["matches_raw"] = w.raw_cells(rows) == answers[w.key]
            distinct[w.key] = entry
    return results, distinct, answers


async def _measure_raw(
    raw: RawSources, queries: tuple[Any, ...], rows: list[Any], budget: Budget
) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "rows_read": sum(len(r) for r in rows),
        "sql": [q.sql if len(q.sql) < 400 else q.sql[:400] + " ..." for q in queries],
    }
    c1 = await call_load(
        lambda: raw.run(queries), concurrency=1, warmup=budget.warmup, **budget.bounds(1)
    )
    entry["c1"] = c1.summary()
    if _skip_c16(c1, budget):
        entry["c16"] = {"skipped": f"one request takes over {budget.c16_skip_over_ms:g} ms"}
    else:
        entry["c16"] = (
            await call_load(lambda: raw.run(queries), concurrency=16, **budget.bounds(16))
        ).summary()
    return entry


async def run_batch(
    dsn: str, layout: Layout, workloads: list[Workload], raw_answers: dict[str, Any]
) -> dict[str, Any]:
    copies: dict[str, Any] = {}
    copy_stats: dict[str, dict[str, Any]] = {}
    for name in sorted({r for w in workloads for r in w.relations}):
        log(f"batch copy of {name}")
        table, seconds, size = await copy_relation(name, dsn, layout)
        copies[name] = table
        copy_stats[name] = {
            "rows": table.num_rows,
            "seconds": round(seconds, 3),
            "mb": round(size / 2**20, 1),
        }
    results: dict[str, Any] = {"_copies": copy_stats}
    for w in workloads:
        started = time.perf_counter()
        cells = w.batch(copies)
        aggregate_s = time.perf_counter() - started
        copy_s = sum(copy_stats[r]["seconds"] for r in w.relations)
        results[w.key] = {
            "rows_read": sum(copy_stats[r]["rows"] for r in w.relations),
            "copy_ms": round(copy_s * 1000, 1),
            "aggregate_ms": round(aggregate_s * 1000, 1),
            "total_ms": round((copy_s + aggregate_s) * 1000, 1),
            "cells": len(cells),
            "matches_raw": cells == raw_answers.get(w.key) if w.compare else None,
        }
    copies.clear()
    return results


# --- the machine --------------------------------------------------------------------


def machine(dsn: str) -> dict[str, Any]:
    def cmd(*argv: str) -> str:
        try:
            return subprocess.run(argv, capture_output=True, text=True, timeout=30).stdout.strip()
        except OSError:
            return ""

    lscpu = {}
    for line in cmd("lscpu").splitlines():
        key, _, value = line.partition(":")
        lscpu[key.strip()] = value.strip()
    mem_kb = next(
        (
            int(line.split()[1])
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith("MemTotal")
        ),
        0,
    )
    versions = {}
    for package in (
        "gql-trust",
        "strawberry-graphql",
        "graphql-core",
        "starlette",
        "uvicorn",
        "sqlglot",
        "duckdb",
        "asyncpg",
        "pycasbin",
        "orjson",
        "pyarrow",
    ):
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[package] = metadata.version(package)
    versions["python"] = platform.python_version()
    versions["node"] = cmd("node", "--version")
    versions["postgresql"] = cmd("psql", dsn, "-Atc", "SHOW server_version")
    pg_pkg = Path(__file__).parent / "postgraphile" / "package.json"
    versions["postgraphile (bench/postgraphile)"] = json.loads(pg_pkg.read_text())["dependencies"]
    commit = cmd("git", "-C", str(ROOT), "rev-parse", "--short", "HEAD")
    dirty = bool(cmd("git", "-C", str(ROOT), "status", "--porcelain", "--", "gql_trust"))
    return {
        "cpu": lscpu.get("Model name"),
        "cpus": lscpu.get("CPU(s)"),
        "threads_per_core": lscpu.get("Thread(s) per core"),
        "memory_gib": round(mem_kb / 2**20, 1),
        "kernel": platform.release(),
        "versions": versions,
        "commit": commit + (" (gql_trust/ has uncommitted changes)" if dirty else ""),
    }


async def table_rows(dsn: str) -> int:
    connection = await asyncpg.connect(dsn)
    try:
        return int(await connection.fetchval("SELECT count(*) FROM dwp.uc_claimants"))
    finally:
        await connection.close()


# --- main ---------------------------------------------------------------------------


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    started = time.perf_counter()
    budget = QUICK if args.quick else FULL
    if args.c16_skip_over_ms is not None:
        budget = replace(budget, c16_skip_over_ms=args.c16_skip_over_ms)
    data_dir = (args.data_dir or default_data_dir(args.scale)).resolve()
    config, dsn = await prepare_trust(data_dir, args.scale, args.postgres, args.regenerate)
    ledger = reset_ledger(config)
    logs = data_dir / "logs"
    async with RawSources(dsn) as raw:
        months = await raw.months()
        layout = Layout.read(data_dir, months)
        workloads = build(layout)
        if args.only:
            keep = {k.strip().upper() for k in args.only.split(",")}
            workloads = [w for w in workloads if w.key in keep]
        results: dict[str, Any] = {
            "scale": args.scale,
            "quick": args.quick,
            "command": "python -m bench.run " + " ".join(sys.argv[1:]),
            "machine": machine(dsn),
            "data": {
                "claimant_rows": await table_rows(dsn),
                "months": len(months),
                "data_dir": str(data_dir),
                "ledger": ledger,
                "index": f"{INDEX} ON dwp.uc_claimants (area_code, month)",
            },
            "servers": {
                "gql_trust_workers": args.workers,
                "postgraphile_workers": args.postgraphile_workers,
            },
            "workloads": {
                w.key: {"title": w.title, "graphql": w.graphql, "postgraphile": w.postgraphile}
                for w in workloads
            },
        }
        # Raw first (no server running), it also gives the answers everyone is checked against.
        results["load_average_at_start"] = [round(x, 2) for x in os.getloadavg()]
        results["raw"], results["raw_distinct"], answers = await run_raw(raw, workloads, budget)
    tokens = {key: mint_token(config, **p) for key, p in PRINCIPALS.items()}  # type: ignore[arg-type]
    results["gql_trust"] = await run_gql_trust(
        config, workloads, tokens, args.workers, budget, logs, answers
    )
    if not args.no_postgraphile:
        results["postgraphile"] = await run_postgraphile(
            dsn, workloads, args.postgraphile_workers, budget, logs, answers
        )
    if not args.no_batch:
        results["batch"] = await run_batch(dsn, layout, workloads, answers)
    results["elapsed_s"] = round(time.perf_counter() - started, 1)
    return results


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.run",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--quick", action="store_true", help="short measurements (< 3 minutes)")
    parser.add_argument("--data-dir", type=Path, help="default: $TMPDIR/gql-trust-bench/scale-S")
    parser.add_argument(
        "--postgres",
        default=DEFAULT_PG,
        help=f"server DSN without a database (default {DEFAULT_PG}); the runner "
        "creates gql_trust_bench_s<scale> on it",
    )
    parser.add_argument("--workers", type=int, default=2, help="gql-trust workers")
    parser.add_argument("--postgraphile-workers", type=int, default=2)
    parser.add_argument("--only", help="comma-separated workloads, e.g. W1,W4")
    parser.add_argument(
        "--c16-skip-over-ms",
        type=float,
        help="skip 16 clients where one request takes longer (default: 250 with --quick, "
        "never otherwise); bounds the run at large scales",
    )
    parser.add_argument("--no-postgraphile", action="store_true")
    parser.add_argument("--no-batch", action="store_true")
    parser.add_argument("--regenerate", action="store_true", help="regenerate the demo trust")
    parser.add_argument("--out", type=Path, default=RESULTS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    results = asyncio.run(main_async(args))
    args.out.mkdir(parents=True, exist_ok=True)
    stem = f"scale-{_slug(args.scale)}" + ("-quick" if args.quick else "")
    if args.only:
        stem += "-" + args.only.replace(",", "-").upper()
    (args.out / f"{stem}.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    markdown = report.render(results)
    (args.out / f"{stem}.md").write_text(markdown)
    print(markdown)
    log(f"wrote {args.out / stem}.json and .md in {results['elapsed_s']}s")
    failures = report.check_failures(results)
    for failure in failures:
        log(f"CHECK FAILED: {failure}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
