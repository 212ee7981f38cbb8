"""The benchmark (bench/, run by hand) keeps working as the schema moves on.

Only cheap checks: the workloads' GraphQL documents validate against the
generated schema, the report renders and flags a wrong answer. No timings.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from graphql import build_schema, parse, validate

from bench.load import percentile
from bench.report import check_failures, render
from bench.workloads import Layout, build
from gql_trust.cli import schema_sdl

MONTHS = tuple(date(2024 + (m // 12), m % 12 + 1, 1) for m in range(24))
LAYOUT = Layout(Path("/nonexistent"), MONTHS, {"E08000025": "E12000005"})


@pytest.mark.parametrize("workload", build(LAYOUT), ids=lambda w: w.key)
def test_workload_queries_are_valid_graphql(workload) -> None:  # type: ignore[no-untyped-def]
    schema = build_schema(schema_sdl())
    assert validate(schema, parse(workload.graphql)) == []


def test_workloads_cover_the_issue() -> None:
    workloads = {w.key: w for w in build(LAYOUT)}
    assert sorted(workloads) == ["W1", "W2", "W3", "W4", "W5", "W6"]
    assert {k for k, w in workloads.items() if w.postgraphile} == {"W1", "W2", "W4"}
    assert "areas(level: LOCAL_AUTHORITY)" in workloads["W5"].graphql
    assert "labourMarket(geography: REGION" in workloads["W6"].graphql


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50.0
    assert percentile(values, 95) == 95.0
    assert percentile([], 50) is None


def _results(matches: bool) -> dict:
    load = {"p50_ms": 10.0, "p95_ms": 12.0, "rps": 100.0, "errors": 0, "requests": 10}
    return {
        "scale": 1.0,
        "quick": True,
        "command": "python -m bench.run --quick",
        "elapsed_s": 1.0,
        "load_average_at_start": [0.1, 0.1, 0.1],
        "machine": {
            "cpu": "x",
            "cpus": "2",
            "memory_gib": 1,
            "kernel": "k",
            "commit": "c",
            "versions": {"python": "3"},
        },
        "data": {"claimant_rows": 10, "months": 24, "ledger": "on"},
        "servers": {"gql_trust_workers": 2, "postgraphile_workers": 2},
        "workloads": {"W2": {"title": "heavy"}},
        "raw": {"W2": {"rows_read": 5, "cells": 5, "c1": load, "c16": load}},
        "gql_trust": {
            "W2": {
                "explain": {"rows_read": 5, "source_ms": 8.0, "source_calls": 1},
                "cells": 5,
                "matches_raw": matches,
                "c1": {**load, "server_cpu_ms_per_request": 1.0},
                "c16": {**load, "connections_per_process": [9, 7]},
                "peak_worker_rss_mb": 100.0,
            }
        },
    }


def test_report_renders_and_flags_wrong_answers() -> None:
    assert "[9+7]" in render(_results(True))
    assert check_failures(_results(True)) == []
    assert check_failures(_results(False)) == [
        "gql_trust W2: the answer differs from the raw SQL answer"
    ]


def test_plan_cache_shapes_compile_against_the_demo_contracts(
    duckdb_trust,  # type: ignore[no-untyped-def]
) -> None:
    from bench.plan_cache import SHAPES

    trust = duckdb_trust.app.state.trust
    for query in SHAPES.values():
        compiled = trust.compile(query.shape())
        assert "GROUP BY" in compiled.sql and trust.compile(query.shape()) is compiled


async def test_the_load_loop_counts_errors_and_respects_its_bounds() -> None:
    from bench.load import call_load

    calls = 0

    async def flaky() -> None:
        nonlocal calls
        calls += 1
        if calls % 2 == 0:
            raise ConnectionError("refused")

    result = await call_load(
        flaky, concurrency=4, duration_s=0, min_requests=10, max_requests=1_000
    )
    assert calls == 10  # the minimum, though the time was up at once
    assert result.errors == 5 and len(result.latencies_ms) == 5
    assert result.first_error == "ConnectionError('refused')"
