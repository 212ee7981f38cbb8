"""The load-and-fault test, shortened for CI (the full form: docs/reliability.md).

16 clients for 15 s against `gql-trust serve --workers 2`, PostgreSQL stopped at
5 s and started again at 10 s. It needs PostgreSQL's binaries (initdb, pg_ctl) and
never skips: without them it fails.
"""

from __future__ import annotations

from pathlib import Path

from bench.reliability import run
from bench.reliability_report import summary

CLIENTS = 16
SECONDS = 15


async def test_load_with_postgres_stopped_and_restarted(tmp_path: Path) -> None:
    report = await run(clients=CLIENTS, seconds=SECONDS, workdir=tmp_path)
    text = summary(report)
    # Every response is a designed one; no request went unanswered.
    assert report["responses"] == report["requests"] > 0, text
    assert not [o for o in report["outcomes"] if o.startswith("HTTP 5") or o == "NO_RESPONSE"]
    # PostgreSQL down: claimant queries fail with SOURCE_UNAVAILABLE; back: they recover.
    assert report["postgres"]["claimant_queries_while_down"] > 0, text
    assert report["postgres"]["recovery"]["first_success_s"] is not None, text
    assert report["postgres"]["readyz_while_down"] == 503, text
    # The ledger verifies and holds one entry per response; the budget adds up.
    assert report["ledger"]["verify_exit"] == [0, 0, 0], text
    assert report["ledger"]["entries_added"] == report["responses"], text
    budget = report["budget"]
    assert budget["used"] == budget["released_by_entries"], text
    assert max(budget["used"].values()) <= budget["daily_cell_budget"], text
    assert budget["refusals"] > 0, text
    # Memory: the workers' RSS stayed within twice its first sample.
    assert report["rss"]["last_mib"] < 2 * report["rss"]["first_mib"], text
    # ... and every other check of the procedure (per-workload answers, recovery time).
    assert report["problems"] == [], text
