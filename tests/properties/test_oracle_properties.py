"""Property: for random `where` trees, groupings, roll-ups, orders and pages, the server
answers exactly what an independent SQL oracle over the same sources answers (after
the published disclosure control, for callers who are not the owner).

Claimants run on both claimant sources (DuckDB file and PostgreSQL); payroll and
vacancies read the same files in either trust, so they run on the DuckDB one.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tests.conftest import TrustUnderTest

from .model import CLAIMANTS, PAYROLL, VACANCIES, QuerySpec, load_domain, queries
from .sql_oracle import (
    Disclose,
    PropertyOracle,
    claimants_perturbed,
    employees_ten_five,
    exact,
)

EXAMPLES = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    database=None,
)
FLOATS = {"meanMonthlyPay"}


async def check(
    trust: TrustUnderTest, spec: QuerySpec, who: str, disclose: Disclose = exact
) -> list[tuple[Any, ...]]:
    text, variables = spec.graphql()
    import os
    import time

    t0 = time.perf_counter()
    body = await trust.query(text, variables, who=who)
    t1 = time.perf_counter()
    assert "errors" not in body, (text, variables, body.get("errors"))
    got = [spec.row(cell) for cell in body["data"][spec.dataset.name]]
    expected = await PropertyOracle(trust.directory, trust.pg_dsn).cells(spec, disclose)
    t2 = time.perf_counter()
    if os.environ.get("PT"):
        print(
            f"TIMING server={t1 - t0:.3f} oracle={t2 - t1:.3f} rows={len(got)} dims={[d.name for d in spec.dims]} order={spec.order} who={who}"
        )
    assert_same_cells(spec, got, expected, context=(text, variables))
    event("cells: " + ("none" if not got else "one" if len(got) == 1 else "several"))
    if any(v is None for row in got for v in row[len(spec.dims) :]):
        event("some measures null")
    if spec.where is not None:
        event(f"where depth {depth(spec.where)}")
    if any(field in spec.dataset.measures for field, _ in spec.order):
        event("ordered by a measure")
    return got


def depth(node: dict[str, Any]) -> int:
    inner = [*node.get("and", []), *node.get("or", []), *([node["not"]] if "not" in node else [])]
    return 1 + max(map(depth, inner), default=0)


def assert_same_cells(
    spec: QuerySpec,
    got: list[tuple[Any, ...]],
    expected: list[tuple[Any, ...]],
    context: Any,
) -> None:
    """Same cells in the same order; floats to 1e-9 relative (sums may add up in any order)."""
    floats = [len(spec.dims) + i for i, m in enumerate(spec.measures) if m in FLOATS]
    exact_part = [tuple(v for i, v in enumerate(r) if i not in floats) for r in got]
    expected_part = [tuple(v for i, v in enumerate(r) if i not in floats) for r in expected]
    assert exact_part == expected_part, context
    for row, want in zip(got, expected, strict=True):
        for i in floats:
            assert (row[i] is None) == (want[i] is None), (context, row, want)
            if want[i] is not None:
                assert row[i] == pytest.approx(want[i], rel=1e-9), (context, row, want)


@EXAMPLES
@given(data=st.data())
async def test_claimants_as_owner_equal_the_oracle(trust: TrustUnderTest, data: Any) -> None:
    spec = data.draw(queries(CLAIMANTS, load_domain(trust.directory)), label="query")
    await check(trust, spec, "dwp")


@EXAMPLES
@given(data=st.data())
async def test_claimants_for_non_owner_are_the_oracle_perturbed(
    trust: TrustUnderTest, data: Any
) -> None:
    """HMRC sees perturbed counts (never by disability): perturb(exact, cell key)."""
    domain = load_domain(trust.directory)
    spec = data.draw(queries(CLAIMANTS, domain, hidden=frozenset({"disability"})), label="query")
    got = await check(trust, spec, "hmrc", claimants_perturbed)
    if "claimants" in spec.measures:
        assert all(row[-1] not in (1, 2) for row in got)


@EXAMPLES
@given(data=st.data())
async def test_payroll_as_owner_equals_the_oracle(duckdb_trust: TrustUnderTest, data: Any) -> None:
    spec = data.draw(queries(PAYROLL, load_domain(duckdb_trust.directory)), label="query")
    await check(duckdb_trust, spec, "hmrc")


@EXAMPLES
@given(data=st.data())
async def test_payroll_for_non_owner_is_the_oracle_under_ten_five(
    duckdb_trust: TrustUnderTest, data: Any
) -> None:
    """DWP sees employees under the 10-5 rule; mean pay is null exactly where they are."""
    domain = load_domain(duckdb_trust.directory)
    spec = data.draw(queries(PAYROLL, domain, narrow=True), label="query")
    got = await check(duckdb_trust, spec, "dwp", employees_ten_five)
    if spec.measures == ("employees", "meanMonthlyPay"):
        assert all((e is None) == (pay is None) for *_, e, pay in got)


@EXAMPLES
@given(data=st.data())
async def test_vacancies_for_anyone_equal_the_oracle(
    duckdb_trust: TrustUnderTest, data: Any
) -> None:
    """Open data: exact for every principal."""
    spec = data.draw(queries(VACANCIES, load_domain(duckdb_trust.directory)), label="query")
    who = data.draw(st.sampled_from(["public", "dwp", "hmrc", "dfe", "auditor"]), label="who")
    await check(duckdb_trust, spec, who)
