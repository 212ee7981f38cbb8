"""Property: for random `where` trees, groupings, roll-ups, orders and pages, the server
answers exactly what an independent SQL oracle over the same sources answers (after
the published disclosure control, for callers who are not the owner).

Claimants run on both claimant sources (DuckDB file and PostgreSQL); payroll and
vacancies read the same files in either trust, so they run on the DuckDB one.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings, target
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
    body = await trust.query(text, variables, who=who)
    assert "errors" not in body, (text, variables, body.get("errors"))
    got = [spec.row(cell) for cell in body["data"][spec.dataset.name]]
    expected = await PropertyOracle(trust.directory, trust.pg_dsn).answer(spec, disclose)
    assert_same_cells(spec, got, expected.cells, context=(text, variables))
    if disclose is not exact:
        # "a suppressed cell ... is counted in extensions.disclosure": the cells returned
        disclosure = body.get("extensions", {}).get("disclosure", {})
        assert disclosure.get("suppressed", 0) == expected.suppressed, (text, variables, disclosure)
        target(float(expected.suppressed), label="suppressed cells returned")
    event("cells: " + ("none" if not got else "one" if len(got) == 1 else "several"))
    if any(v is None for row in got for v in row[len(spec.dims) :]):
        event("some measures null")
    if spec.where is not None:
        event(f"where nested {nesting(spec.where)} deep")
    if any(field in spec.dataset.measures for field, _ in spec.order):
        event("ordered by a measure")
    return got


def nesting(node: dict[str, Any]) -> int:
    inner = [*node.get("and", []), *node.get("or", []), *([node["not"]] if "not" in node else [])]
    return max((1 + nesting(i) for i in inner), default=0)


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


async def test_a_page_ordered_by_a_published_value_counts_only_its_own_cells(
    duckdb_trust: TrustUnderTest,
) -> None:
    """The smallest case the non-owner payroll property found: DWP orders employees by
    their published (10-5) value and takes 3 cells. The server has to sort every cell
    after disclosure, but only these 3 are released: `extensions.disclosure` and the
    ledger (whose `cellsReturned` is what extraction budgets spend) should count them,
    not the 1,911 cells of the whole result."""
    spec = QuerySpec(
        PAYROLL,
        "LOCAL_AUTHORITY",
        ("area", "sector", "employees"),
        {"period": {"eq": "2024-10"}},
        False,
        (("employees", False),),
        3,
        None,
    )
    text, variables = spec.graphql()
    body = await duckdb_trust.query(text, variables, who="dwp")
    got = [spec.row(cell) for cell in body["data"]["payrolledEmployees"]]
    expected = await PropertyOracle(duckdb_trust.directory, None).answer(spec, employees_ten_five)
    assert got == expected.cells and len(got) == 3 and expected.suppressed == 0
    ledger = await duckdb_trust.data(
        '{ auditLog(limit: 1, where: {subject: "test-dwp"}) { cellsReturned } }', who="auditor"
    )
    counted = {
        "extensions.disclosure.suppressed": body["extensions"]["disclosure"]["suppressed"],
        "ledger cellsReturned": ledger["auditLog"][0]["cellsReturned"],
    }
    assert counted == {"extensions.disclosure.suppressed": 0, "ledger cellsReturned": 3}
