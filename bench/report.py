"""Render a results dict (bench/run.py) as markdown; list failed correctness checks."""

from __future__ import annotations

from typing import Any

CONTENDERS = (
    ("raw", "raw SQL (driver)"),
    ("raw_distinct", "raw SQL, COUNT(DISTINCT)"),
    ("gql_trust", "**gql-trust**"),
    ("postgraphile", "PostGraphile + pg-aggregates"),
    ("batch", "batch copy"),
)


def _n(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "**NO**"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return str(value)


def _load(entry: dict[str, Any], conc: str, field: str) -> Any:
    block = entry.get(conc) or {}
    if "skipped" in block:
        return "skipped"
    return block.get(field)


def _spread(entry: dict[str, Any]) -> str:
    spread = (entry.get("c16") or {}).get("connections_per_process")
    return f" [{'+'.join(map(str, spread))}]" if spread else ""


def _cpu(entry: dict[str, Any]) -> float | None:
    value = (entry.get("c1") or {}).get("server_cpu_ms_per_request")
    return value if isinstance(value, (int, float)) else None


def _p50(results: dict[str, Any], who: str, key: str, conc: str = "c1") -> float | None:
    entry = (results.get(who) or {}).get(key) or {}
    value = (entry.get(conc) or {}).get("p50_ms")
    return value if isinstance(value, (int, float)) else None


def _ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.2f}x" if a is not None and b else "-"


def render(results: dict[str, Any]) -> str:
    m = results["machine"]
    data = results["data"]
    lines = [
        f"### Scale {results['scale']:g}{' (quick)' if results.get('quick') else ''}: "
        f"{data['claimant_rows']:,} claimant rows in PostgreSQL, {data['months']} months",
        "",
        f"- Machine: {m['cpu']}, {m['cpus']} CPUs, {m['memory_gib']} GiB; "
        f"kernel {m['kernel']}; commit {m['commit']}",
        "- Versions: "
        + ", ".join(f"{k} {v}" for k, v in m["versions"].items() if not isinstance(v, dict)),
        f"- Servers: gql-trust `serve --workers {results['servers']['gql_trust_workers']}` "
        f"(policy, disclosure control, ledger: {data['ledger']}); PostGraphile "
        f"`--cluster-workers {results['servers']['postgraphile_workers']}`",
        f"- Command: `{results['command']}` ({results['elapsed_s']} s); load average at "
        f"start {results.get('load_average_at_start')} (1, 5, 15 minutes; it includes the "
        "runner's own work just before, and other work during a run inflates every "
        "contender's numbers)",
        "- req/s (16) for servers: [connections per server process], e.g. [16] = every "
        "keep-alive connection landed on one worker",
        "",
        "| workload | contender | cells | rows out of sources | p50 ms (1 client) | "
        "p95 ms (1) | req/s (1) | p50 ms (16 clients) | p95 ms (16) | req/s (16) | "
        "peak RSS MB (largest process) |",
        "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for key, meta in results["workloads"].items():
        first = True
        for who, label in CONTENDERS:
            entry = (results.get(who) or {}).get(key)
            if not entry:
                continue
            name = f"{key} {meta['title']}" if first else ""
            first = False
            if who == "batch":
                lines.append(
                    f"| {name} | {label} | {_n(entry['cells'])} | {_n(entry['rows_read'])} | "
                    f"{_n(entry['total_ms'])} (copy {_n(entry['copy_ms'])}) | | | | | | |"
                )
                continue
            rows = entry.get("rows_read", (entry.get("explain") or {}).get("rows_read"))
            cells = entry.get("cells")
            lines.append(
                f"| {name} | {label} | {_n(cells)} | {_n(rows)} | "
                f"{_n(_load(entry, 'c1', 'p50_ms'))} | {_n(_load(entry, 'c1', 'p95_ms'))} | "
                f"{_n(_load(entry, 'c1', 'rps'))} | {_n(_load(entry, 'c16', 'p50_ms'))} | "
                f"{_n(_load(entry, 'c16', 'p95_ms'))} | {_n(_load(entry, 'c16', 'rps'))}"
                f"{_spread(entry)} | "
                f"{_n(entry.get('peak_worker_rss_mb'))} |"
            )
    lines += ["", *render_reading(results), ""]
    return "\n".join(lines) + "\n"


def render_reading(results: dict[str, Any]) -> list[str]:
    """Overhead (end to end minus source time) and the issue's targets, per workload."""
    gt = results.get("gql_trust") or {}
    pg = results.get("postgraphile") or {}
    batch = results.get("batch") or {}
    lines = [
        "| workload | gql-trust p50 / raw p50 | overhead vs raw (ms) | server's own SQL (ms, "
        "explain, slowest call) | overhead vs own SQL (ms) | server CPU ms/request, 1 client "
        "(gql-trust / PostGraphile) | vs PostGraphile p50 | rows: batch / gql-trust "
        "| source queries | answers match raw |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|--|",
    ]
    for key in results["workloads"]:
        g = gt.get(key) or {}
        explain = g.get("explain") or {}
        ours, raw = _p50(results, "gql_trust", key), _p50(results, "raw", key)
        theirs = _p50(results, "postgraphile", key)
        own_sql = explain.get("source_ms")
        rows = explain.get("rows_read")
        batch_rows = (batch.get(key) or {}).get("rows_read")
        checks = [
            g.get("matches_raw"),
            (pg.get(key) or {}).get("matches_raw"),
            (batch.get(key) or {}).get("matches_raw"),
        ]
        match = "/".join(_n(c) for c in checks)
        lines.append(
            f"| {key} | {_ratio(ours, raw)} | "
            f"{_n(ours - raw if ours is not None and raw is not None else None)} | "
            f"{_n(own_sql)} | {_n(ours - own_sql if ours is not None and own_sql else None)} | "
            f"{_n(_cpu(g))} / {_n(_cpu(pg.get(key) or {}))} | "
            f"{_ratio(ours, theirs)} | "
            f"{_n(round(batch_rows / rows) if batch_rows and rows else None)}x | "
            f"{_n(explain.get('source_calls'))} | {match} |"
        )
    lines.append("")
    lines.append(
        "overhead: end to end minus the source's time, on the same request shape; server "
        "CPU is user+system time of the server's processes (all workers) per request, "
        "which other load on the machine does not inflate. "
        "answers match raw: gql-trust / PostGraphile / batch copy, cell for cell against the "
        "raw SQL answer (- where not compared). W6 compares claimants and vacancies exactly "
        "and employees after the 10-5 rule the DWP analyst is subject to."
    )
    return lines


def check_failures(results: dict[str, Any]) -> list[str]:
    failures = []
    for who in ("raw_distinct", "gql_trust", "postgraphile", "batch"):
        for key, entry in (results.get(who) or {}).items():
            if key.startswith("_") or not isinstance(entry, dict):
                continue
            if entry.get("matches_raw") is False:
                failures.append(f"{who} {key}: the answer differs from the raw SQL answer")
            for conc in ("c1", "c16"):
                block = entry.get(conc) or {}
                if block.get("errors"):
                    failures.append(
                        f"{who} {key} {conc}: {block['errors']} errors, first: "
                        f"{block.get('first_error')}"
                    )
    w5 = (results.get("gql_trust") or {}).get("W5")
    if w5 and (w5.get("explain") or {}).get("source_calls") not in (None, 2):
        failures.append(f"W5: {w5['explain']['source_calls']} source queries, expected 2")
    return failures
