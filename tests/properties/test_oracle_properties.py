"""Property: for random `where` trees, groupings, roll-ups, orders and pages, the server
answers exactly what an independent oracle over the same sources answers: the exact
SQL oracle for owners and open data, and for callers who get disclosure-controlled
values the documented rules (``controlled_oracle``): a refusal where the query is not
made of standard cells, otherwise the complete table, published by each method, with
sparse areas withheld.

Claimants run on both claimant sources (DuckDB file and PostgreSQL); payroll and
vacancies read the same files in either trust, so they run on the DuckDB one.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings, target
from hypothesis import strategies as st

from tests.conftest import TrustUnderTest

from .controlled_oracle import ControlledAnswer, ControlledOracle, Refused, decide
from .model import (
    CLAIMANTS,
    CONTROLLED,
    PAYROLL,
    VACANCIES,
    Caller,
    Dataset,
    QuerySpec,
    controlled_queries,
    load_domain,
    queries,
)
from .sql_oracle import PropertyOracle

EXAMPLES = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    database=None,
)
FLOATS = {"meanMonthlyPay"}


async def check(trust: TrustUnderTest, spec: QuerySpec, who: str) -> list[tuple[Any, ...]]:
    text, variables = spec.graphql()
    body = await trust.query(text, variables, who=who)
    assert "errors" not in body, (text, variables, body.get("errors"))
    got = [spec.row(cell) for cell in body["data"][spec.dataset.name]]
    expected = await PropertyOracle(trust.directory, trust.pg_dsn).answer(spec)
    assert_same_cells(spec, got, expected.cells, context=(text, variables))
    describe(spec, got)
    return got


def describe(spec: QuerySpec, got: list[tuple[Any, ...]]) -> None:
    event("cells: " + ("none" if not got else "one" if len(got) == 1 else "several"))
    if any(v is None for row in got for v in row[len(spec.dims) :]):
        event("some measures null")
    if spec.where is not None:
        event(f"where nested {nesting(spec.where)} deep")
    if any(field in spec.dataset.measures for field, _ in spec.order):
        event("ordered by a measure")


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
async def test_payroll_as_owner_equals_the_oracle(duckdb_trust: TrustUnderTest, data: Any) -> None:
    spec = data.draw(queries(PAYROLL, load_domain(duckdb_trust.directory)), label="query")
    await check(duckdb_trust, spec, "hmrc")


@EXAMPLES
@given(data=st.data())
async def test_vacancies_for_anyone_equal_the_oracle(
    duckdb_trust: TrustUnderTest, data: Any
) -> None:
    """Open data: exact for every principal."""
    spec = data.draw(queries(VACANCIES, load_domain(duckdb_trust.directory)), label="query")
    who = data.draw(st.sampled_from(["public", "dwp", "hmrc", "dfe", "auditor"]), label="who")
    await check(duckdb_trust, spec, who)


# --- callers who get disclosure-controlled values ------------------------------------


async def check_controlled(
    trust: TrustUnderTest, spec: QuerySpec, caller: Caller
) -> tuple[list[tuple[Any, ...]], ControlledAnswer] | None:
    """The server's answer to a controlled caller against the documented one: a refusal
    (None) or the same rows, counts and withheld areas."""
    text, variables = spec.graphql()
    context = (caller.who, text, variables)
    body = await trust.query(text, variables, who=caller.who)
    try:
        decide(spec, caller)
    except Refused as refused:
        event("refused: standard cells only")
        assert body.get("data") == {spec.dataset.name: None}, (context, body)
        (error,) = body.get("errors", [None])
        assert error is not None, (context, body)
        extensions = error["extensions"]
        assert extensions["code"] == "FORBIDDEN", (context, error)
        assert extensions["rule"] == "standard-cells-only", (context, error)
        assert any(
            f"Select {d}, or filter it with eq" in extensions["reason"] for d in refused.dims
        ), (context, error, refused.dims)
        return None
    assert "errors" not in body, (context, body.get("errors"))
    got = [spec.row(cell) for cell in body["data"][spec.dataset.name]]
    expected = await ControlledOracle(trust.directory, trust.pg_dsn).answer(spec, caller)
    assert_same_cells(spec, got, expected.rows, context=context)
    disclosure = body.get("extensions", {}).get("disclosure", {})
    counts = {k: disclosure.get(k, 0) for k in ("suppressed", "perturbed", "withheld")}
    assert counts == expected.disclosure, (context, disclosure)
    areas = disclosure.get("withheldAreas", [])
    assert {a["code"] for a in areas} == expected.withheld_areas, (context, areas)
    assert len(areas) == len(expected.withheld_areas), (context, areas)
    assert all(a["rule"] == "sparse-area" for a in areas), (context, areas)
    describe(spec, got)
    if expected.disclosure["withheld"]:
        event("some cells withheld")
    target(float(expected.disclosure["withheld"]), label="withheld cells returned")
    return got, expected


def callers(dataset: Dataset) -> st.SearchStrategy[Caller]:
    return st.sampled_from(CONTROLLED[dataset.name])


@EXAMPLES
@given(data=st.data())
async def test_claimants_for_controlled_callers_are_the_documented_table(
    trust: TrustUnderTest, data: Any
) -> None:
    """HMRC (never by disability), the LA officer (own authority) and DfE (regions and
    up) get standard cells only, as complete tables of cell-key counts, sparse areas
    withheld; 1 and 2 are never published."""
    caller = data.draw(callers(CLAIMANTS), label="caller")
    spec = data.draw(
        controlled_queries(CLAIMANTS, load_domain(trust.directory), caller), label="query"
    )
    result = await check_controlled(trust, spec, caller)
    if result is not None and "claimants" in spec.measures:
        assert all(row[-1] not in (1, 2) for row in result[0])


@EXAMPLES
@given(data=st.data())
async def test_payroll_for_controlled_callers_is_the_documented_table(
    duckdb_trust: TrustUnderTest, data: Any
) -> None:
    """DWP (with its agreement) and DfE (regions and up, no pay) get standard cells only,
    as complete tables: employees under 10-5 (true zeros suppressed too), perturbed means
    null exactly where employees are."""
    caller = data.draw(callers(PAYROLL), label="caller")
    domain = load_domain(duckdb_trust.directory)
    spec = data.draw(controlled_queries(PAYROLL, domain, caller), label="query")
    result = await check_controlled(duckdb_trust, spec, caller)
    if result is not None and spec.measures == ("employees", "meanMonthlyPay"):
        assert all((e is None) == (pay is None) for *_, e, pay in result[0])
