"""The checks and figures of the load-and-fault test, from the recorded answers, the
ledger file and the memory samples."""

from __future__ import annotations

import contextlib
import itertools
import sqlite3
from collections import Counter
from pathlib import Path
from typing import Any

from bench.load import percentile
from bench.reliability_client import Timeline
from bench.reliability_mix import AGREEMENT, BUDGET, BY_NAME, DOWN, Answer

VERIFY_WHEN = ("under load", "after the load", "after the server stopped")
RECOVERED_WITHIN_S = 20.0  # every claimant query succeeds again this soon after PG returns


def ledger_count(path: Path) -> int:
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
        return int(conn.execute("SELECT count(*) FROM ledger_entries").fetchone()[0])


def ledger_figures(path: Path) -> dict[str, Any]:
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
        outcomes = dict(conn.execute("SELECT outcome, count(*) FROM ledger_entries GROUP BY 1"))
        budgets = {
            day: int(cells)
            for day, cells in conn.execute(
                "SELECT day, cells FROM ledger_budgets WHERE agreement = ?", (AGREEMENT,)
            )
        }
        released = {
            day: int(cells)
            for day, cells in conn.execute(
                "SELECT substr(timestamp, 1, 10), sum(cells_returned) FROM ledger_entries "
                "WHERE agreement = ? GROUP BY 1",
                (AGREEMENT,),
            )
        }
    return {"outcomes": outcomes, "budget_used": budgets, "released": released}


def _latency(answers: list[Answer]) -> dict[str, Any]:
    values = [a.latency_ms for a in answers if a.status is not None]
    return {"p50_ms": percentile(values, 50), "p95_ms": percentile(values, 95)}


def analyse(
    answers: list[Answer],
    warm: list[Answer],
    timeline: Timeline,
    *,
    clients: int,
    seconds: float,
    budget: int,
    entries_added: int,
    ledger: dict[str, Any],
    verify: tuple[tuple[int, str], ...],  # under load, idle server, server stopped
    server_alive: bool,
) -> dict[str, Any]:
    problems: list[str] = []
    wall = timeline.ended or seconds

    # 1. Every response is a designed answer, and one its workload may give.
    for kind, attribute in (("not a designed answer", "problem"), ("unexpected", "unexpected")):
        bad = [a for a in [*warm, *answers] if getattr(a, attribute)]
        if bad:
            reasons = Counter(f"{a.workload}: {getattr(a, attribute)}" for a in bad)
            sample = next(a.detail.get("body", "") for a in bad)
            problems.append(f"{len(bad)} responses {kind}: {dict(reasons)}; e.g. {sample[:300]}")
    if not server_alive:
        problems.append("the server process exited during the run")

    # 2. PostgreSQL down: claimant queries fail with SOURCE_UNAVAILABLE; back: recovered.
    claimant = [a for a in answers if _claimants(a)]
    stopped, starting, started = timeline.pg_stopped, timeline.pg_starting, timeline.pg_started
    assert stopped is not None and starting is not None and started is not None
    while_down = [a for a in claimant if a.started >= stopped and a.finished <= starting]
    not_down = [a for a in while_down if not {DOWN, BUDGET} & set(a.codes)]
    if not while_down:
        problems.append("no claimant query ran while PostgreSQL was down")
    elif not_down:
        labels = dict(Counter(f"{a.workload}: {a.label}" for a in not_down))
        problems.append(f"claimant queries answered while PostgreSQL was down: {labels}")
    before = [a for a in claimant if a.finished <= timeline.pg_stopping]  # type: ignore[operator]
    failed_before = [a for a in before if set(a.codes) - {BUDGET}]
    if failed_before:
        labels = dict(Counter(f"{a.workload}: {a.label}" for a in failed_before))
        problems.append(f"claimant queries failed before PostgreSQL was stopped: {labels}")
    back = [a for a in claimant if a.started >= started]
    ok_back = [a for a in back if not set(a.codes) - {BUDGET}]
    failed_back = [a for a in back if set(a.codes) - {BUDGET}]
    first_ok = min((a.finished for a in ok_back), default=None)
    last_failed = max((a.finished for a in failed_back), default=None)
    recovery = {
        "first_success_s": None if first_ok is None else round(first_ok - started, 2),
        "last_failure_s": None if last_failed is None else round(last_failed - started, 2),
        "failures_after_restart": len(failed_back),
        "claimant_queries_after_restart": len(back),
    }
    if timeline.ready_while_down != 503 or timeline.ready_after != 200:
        problems.append(
            f"/readyz answered {timeline.ready_while_down} with PostgreSQL down and "
            f"{timeline.ready_after} after the run (503 and 200 designed)"
        )
    if first_ok is None:
        problems.append("claimant queries never succeeded after PostgreSQL came back")
    elif last_failed is not None and last_failed - started > RECOVERED_WITHIN_S:
        problems.append(
            f"claimant queries still failed {last_failed - started:.1f} s after restart"
        )

    # 3. The ledger: intact, one entry per response, budgets add up.
    for when, (code, text) in zip(VERIFY_WHEN, verify, strict=True):
        if code != 0:
            problems.append(f"audit verify {when} exited {code}: {text}")
    received = sum(1 for a in answers if a.status is not None)
    if entries_added != received:
        problems.append(f"{entries_added} ledger entries added for {received} responses")
    used, released = ledger["budget_used"], ledger["released"]
    for day in sorted(set(used) | set(released)):
        if used.get(day, 0) != released.get(day, 0):
            problems.append(
                f"budget {day}: {used.get(day, 0)} cells used, entries released "
                f"{released.get(day, 0)}"
            )
        if used.get(day, 0) > budget:
            problems.append(f"budget {day}: {used[day]} cells used, above the budget {budget}")
    refused = sum(1 for a in [*warm, *answers] if BUDGET in a.codes)
    if refused != ledger["outcomes"].get("BUDGET_EXCEEDED", 0):
        problems.append(
            f"{refused} budget refusals answered, "
            f"{ledger['outcomes'].get('BUDGET_EXCEEDED', 0)} in the ledger"
        )
    if not refused:
        problems.append("the budget was never exceeded: lower it")
    unauthenticated = sum(1 for a in [*warm, *answers] if a.status == 401)
    if unauthenticated != ledger["outcomes"].get("UNAUTHENTICATED", 0):
        problems.append(
            f"{unauthenticated} 401 answers, "
            f"{ledger['outcomes'].get('UNAUTHENTICATED', 0)} UNAUTHENTICATED entries"
        )

    # 4. Memory: the workers' RSS does not keep growing.
    samples = [s.rss_kib for s in timeline.samples if s.workers >= 2]
    rss = {
        "samples": len(samples),
        "first_mib": round(samples[0] / 1024, 1) if samples else None,
        "last_mib": round(samples[-1] / 1024, 1) if samples else None,
        "max_mib": round(max(samples) / 1024, 1) if samples else None,
        "worker_pids_seen": len(timeline.worker_pids),
    }
    if not samples:
        problems.append("no memory samples of two workers")
    elif samples[-1] >= 2 * samples[0]:
        problems.append(f"worker RSS grew from {rss['first_mib']} to {rss['last_mib']} MiB")
    if len(timeline.worker_pids) != 2:
        problems.append(f"{len(timeline.worker_pids)} worker processes seen (a worker restarted)")

    phases = {
        "before": [a for a in answers if a.started < stopped],
        "down": [a for a in answers if stopped <= a.started < started],
        "after": [a for a in answers if a.started >= started],
    }
    windows = {"before": stopped, "down": started - stopped, "after": wall - started}
    return {
        "clients": clients,
        "seconds": seconds,
        "wall_s": round(wall, 2),
        "requests": len(answers),
        "responses": received,
        "requests_per_s": round(len(answers) / wall, 1),
        "latency": _latency(answers),
        "outcomes": dict(Counter(a.label for a in answers).most_common()),
        "by_workload": {
            name: {
                "requests": count,
                **_latency([a for a in answers if a.workload == name]),
                "outcomes": dict(Counter(a.label for a in answers if a.workload == name)),
            }
            for name, count in sorted(Counter(a.workload for a in answers).items())
        },
        "phases": {
            name: {
                "seconds": round(windows[name], 2),
                "requests": len(group),
                "requests_per_s": round(len(group) / windows[name], 1) if windows[name] else None,
                "claimant_failures": sum(1 for a in group if _claimants(a) and DOWN in a.codes),
                **_latency(group),
            }
            for name, group in phases.items()
        },
        "postgres": {
            "stopped_at_s": round(stopped, 2),
            "stop_took_s": round(stopped - timeline.pg_stopping, 2),  # type: ignore[operator]
            "restarted_at_s": round(started, 2),
            "start_took_s": round(started - starting, 2),
            "claimant_queries_while_down": len(while_down),
            "readyz_while_down": timeline.ready_while_down,
            "readyz_after": timeline.ready_after,
            "recovery": recovery,
        },
        "ledger": {
            "entries_added": entries_added,
            "verify": {when: text for when, (_, text) in zip(VERIFY_WHEN, verify, strict=True)},
            "verify_exit": [code for code, _ in verify],
            "outcomes": ledger["outcomes"],
        },
        "budget": {
            "agreement": AGREEMENT,
            "daily_cell_budget": budget,
            "used": used,
            "released_by_entries": released,
            "refusals": refused,
        },
        "rss": rss,
        "per_second": per_second(answers, timeline),
        "problems": problems,
    }


def per_second(answers: list[Answer], timeline: Timeline) -> list[dict[str, Any]]:
    """Answers finished in each second, with the workers' memory and CPU use then."""
    rows = []
    samples = timeline.samples
    for second in range(int(max((a.finished for a in answers), default=0)) + 1):
        done = [a for a in answers if second <= a.finished < second + 1]
        near = [s for s in samples if second <= s.t < second + 1.5]
        row: dict[str, Any] = {
            "t": second,
            "answers": len(done),
            "p50_ms": percentile([a.latency_ms for a in done], 50),
            "claimants_down": sum(1 for a in done if _claimants(a) and DOWN in a.codes),
            "budget_refused": sum(1 for a in done if BUDGET in a.codes),
        }
        if near:
            row["rss_mib"] = round(near[0].rss_kib / 1024, 1)
            row["load1"] = round(near[0].load1, 2)
        rows.append(row)
    for earlier, later in itertools.pairwise(samples):
        for row in rows:
            if row["t"] <= earlier.t < row["t"] + 1 and later.t > earlier.t:
                row["worker_cpu_pct"] = round(
                    100 * (later.cpu_s - earlier.cpu_s) / (later.t - earlier.t)
                )
    return rows


def _claimants(answer: Answer) -> bool:
    return BY_NAME[answer.workload].claimants and answer.status == 200


def summary(report: dict[str, Any]) -> str:
    lines = [
        f"{report['requests']:,} requests in {report['wall_s']} s from {report['clients']} "
        f"clients: {report['requests_per_s']} requests/s, p50 {report['latency']['p50_ms']} ms, "
        f"p95 {report['latency']['p95_ms']} ms",
        "outcomes: " + ", ".join(f"{k} {v:,}" for k, v in report["outcomes"].items()),
    ]
    for name, phase in report["phases"].items():
        lines.append(
            f"  {name:<6} {phase['requests']:>6,} requests, p50 {phase['p50_ms']} ms, "
            f"p95 {phase['p95_ms']} ms, claimant SOURCE_UNAVAILABLE {phase['claimant_failures']}"
        )
    pg = report["postgres"]
    lines.append(
        f"PostgreSQL stopped at {pg['stopped_at_s']} s, restarted at {pg['restarted_at_s']} s; "
        f"claimant queries while down {pg['claimant_queries_while_down']}; recovery "
        f"{pg['recovery']}"
    )
    lines.append(f"ledger: +{report['ledger']['entries_added']:,} entries during the load")
    lines.extend(f"  verify {when}: {text}" for when, text in report["ledger"]["verify"].items())
    lines.append(f"ledger outcomes: {report['ledger']['outcomes']}")
    lines.append(f"budget: {report['budget']}")
    lines.append(f"worker RSS: {report['rss']}")
    if "machine" in report:
        lines.append(f"machine: {report['machine']}; stages: {report.get('stages')}")
    lines.append("problems: " + ("none" if not report["problems"] else ""))
    lines.extend(f"  - {p}" for p in report["problems"])
    return "\n".join(lines)


def markdown(report: dict[str, Any]) -> str:
    """The figures as the tables of docs/reliability.md."""
    pg, ledger, budget, rss = report["postgres"], report["ledger"], report["budget"], report["rss"]
    recovery = pg["recovery"]
    machine = report.get("machine", {})
    out = [
        "| figure | value |",
        "|---|---|",
        f"| clients, duration | {report['clients']} clients, {report['wall_s']} s |",
        f"| requests (all answered) | {report['requests']:,} ({report['responses']:,} answered) |",
        f"| requests/s | {report['requests_per_s']} |",
        f"| latency p50 / p95 | {_ms(report['latency']['p50_ms'])} ms / "
        f"{_ms(report['latency']['p95_ms'])} ms |",
        f"| PostgreSQL stopped / restarted at | {pg['stopped_at_s']} s / "
        f"{pg['restarted_at_s']} s |",
        f"| claimant queries while it was down | {pg['claimant_queries_while_down']}, "
        "all `SOURCE_UNAVAILABLE` |",
        f"| `/readyz` while down / after | {pg['readyz_while_down']} / {pg['readyz_after']} |",
        f"| first claimant success after restart | {recovery['first_success_s']} s |",
        f"| claimant failures after restart | {recovery['failures_after_restart']} of "
        f"{recovery['claimant_queries_after_restart']} |",
        f"| ledger entries added / responses | {ledger['entries_added']:,} / "
        f"{report['responses']:,} |",
        f"| `audit verify` (under load, idle, stopped) | exit {ledger['verify_exit']} |",
        f"| budget {budget['agreement']} | {budget['daily_cell_budget']:,} cells; used "
        f"{budget['used']}; released by entries {budget['released_by_entries']}; "
        f"{budget['refusals']} refusals |",
        f"| worker RSS first / last / max | {rss['first_mib']} / {rss['last_mib']} / "
        f"{rss['max_mib']} MiB ({rss['samples']} samples, {rss['worker_pids_seen']} workers) |",
        f"| machine | {machine.get('cpus')} CPUs; load average "
        f"{machine.get('load_average_before')} before, {machine.get('load_average_after')} "
        "after |",
        "",
        "| phase | seconds | requests | requests/s | p50 ms | p95 ms "
        "| claimant SOURCE_UNAVAILABLE |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, phase in report["phases"].items():
        out.append(
            f"| {name} | {phase['seconds']} | {phase['requests']:,} | {phase['requests_per_s']} "
            f"| {_ms(phase['p50_ms'])} | {_ms(phase['p95_ms'])} | {phase['claimant_failures']} |"
        )
    out += ["", "| answer | responses |", "|---|---|"]
    out += [f"| {label} | {count:,} |" for label, count in report["outcomes"].items()]
    out += ["", "| workload | requests | p50 ms | p95 ms | answers |", "|---|---|---|---|---|"]
    for name, row in report["by_workload"].items():
        answers = ", ".join(f"{k} {v}" for k, v in sorted(row["outcomes"].items()))
        out.append(
            f"| {name} | {row['requests']} | {_ms(row['p50_ms'])} | {_ms(row['p95_ms'])} "
            f"| {answers} |"
        )
    out += ["", f"Ledger outcomes (warm-up included): {ledger['outcomes']}"]
    return "\n".join(out)


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"
