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
from hypothesis import HealthCheck, given, settings
from hypothesis import event as _event
from hypothesis import strategies as st
from hypothesis import target as _target
from hypothesis.control import currently_in_test_context

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
# Controlled tables: more examples (refusals, callers and shapes to cover), still fast.
CONTROLLED_EXAMPLES = settings(EXAMPLES, max_examples=80)
FLOATS = {"meanMonthlyPay"}


def event(value: str) -> None:
    """hypothesis.event, also from the fixed tests that reuse these checks outside @given."""
    if currently_in_test_context():
        _event(value)


def target(observation: float, label: str) -> None:
    if currently_in_test_context():
        _target(observation, label=label)


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
    trust: TrustUnderTest, spec: QuerySpec, caller: Caller, *, aim: bool = True
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
    if aim:  # steer towards tables with sparse areas
        target(float(expected.disclosure["withheld"]), label="withheld cells returned")
    return got, expected


def callers(dataset: Dataset) -> st.SearchStrategy[Caller]:
    return st.sampled_from(CONTROLLED[dataset.name])


@CONTROLLED_EXAMPLES
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


@CONTROLLED_EXAMPLES
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


def alone(spec: QuerySpec, caller: Caller, row: tuple[Any, ...]) -> QuerySpec:
    """The standard cell of ``row`` asked on its own: no dimension selected, each of its
    grouped dimensions pinned by `eq` (the row scope pins itself), the query's own pins
    kept, at the same geography."""
    decision = decide(spec, caller)
    scope = dict(caller.scope)
    pins = [
        {spec.dataset.dim(name).filter: {"eq": value}}
        for name, values in decision.pins.items()
        if name not in scope
        for value in sorted(values)
    ]
    pins += [
        {d.filter: {"eq": value}}
        for d, value in zip(spec.dims, row, strict=False)
        if d.name not in scope
    ]
    return QuerySpec(
        spec.dataset, spec.geography, spec.measures, {"and": pins}, False, (), None, None
    )


SINGLE = settings(EXAMPLES, max_examples=40)


@SINGLE
@given(data=st.data())
async def test_a_controlled_cell_is_its_standard_cell_and_zeros_look_small(
    duckdb_trust: TrustUnderTest, data: Any
) -> None:
    """For permitted queries by controlled callers: every returned cell is the same
    standard cell asked on its own (unless that one cell is withheld as sparse), the
    rows returned depend only on the lattice (not on which cells are empty), and a
    true zero is published as a true 1 or 2 is (0, or null)."""
    trust = duckdb_trust
    dataset = data.draw(st.sampled_from([CLAIMANTS, PAYROLL]), label="dataset")
    caller = data.draw(callers(dataset), label="caller")
    domain = load_domain(trust.directory)
    spec = data.draw(controlled_queries(dataset, domain, caller, standard_only=True), label="query")
    result = await check_controlled(trust, spec, caller)
    assert result is not None, "standard cells only: the strategy draws permitted queries"
    got, expected = result
    k = len(spec.dims)

    # the rows are the lattice's: same count, and without a measure among the sort keys
    # the same dimension values in the same order as the lattice sorted alone
    oracle = ControlledOracle(trust.directory, trust.pg_dsn)
    lattice = await oracle.lattice(spec, caller, decide(spec, caller))
    assert expected.total == len(lattice)
    start = spec.offset or 0
    page = 1000 if spec.limit is None else spec.limit
    assert len(got) == max(0, min(page, len(lattice) - start)), (spec, len(got))
    assert {row[:k] for row in got} <= {tuple(cell.values()) for cell in lattice}
    if not any(field in spec.dataset.measures for field, _ in spec.order):
        keys = [(f, desc) for f, desc in spec.order] + [(d.name, False) for d in spec.dims]
        ordered = sorted(lattice, key=lambda cell: [cell[d.name] for d in spec.dims])
        for name, desc in reversed([(f, d) for f, d in keys if f in lattice[0]] if lattice else []):
            ordered.sort(key=lambda cell, n=name: cell[n], reverse=desc)
        assert [row[:k] for row in got] == [
            tuple(cell[d.name] for d in spec.dims) for cell in ordered[start : start + page]
        ], spec

    # a true zero is published as a true 1 or 2 may be (0; the p-table also gives 3),
    # and under 10-5 as any count under 10 is (null, with a null mean)
    for row, cell in zip(got, expected.cells, strict=True):
        if spec.dataset is CLAIMANTS and "claimants" in spec.measures:
            true, published = cell.exact["claimants"], row[k + spec.measures.index("claimants")]
            if true in (0, 1, 2):
                event(f"true {true} published as {published}")
                # 0 stays 0; 1 and 2 share every outcome with each other and with 3-5
                # (0, 3, 4, 5, and 6 for a 2): never 1 or 2 (docs/disclosure.md p-table)
                allowed = (0, None) if true == 0 else (0, None, *range(3, true + 5))
                assert published in allowed, (spec, row)
        if spec.dataset is PAYROLL and spec.measures and cell.exact["employees"] < 10:
            event("true 0-9 employees published")
            assert all(v is None for v in row[k:]), (spec, row)

    # each of a few returned cells, asked on its own
    if not spec.measures or not got:
        return
    for index in sorted(set(data.draw(st.lists(st.integers(0, len(got) - 1), max_size=3)))):
        row, cell = got[index], expected.cells[index]
        single = alone(spec, caller, row[:k])
        answered = await check_controlled(trust, single, caller, aim=False)
        assert answered is not None, single
        (single_row,), single_expected = answered
        if cell.withheld:
            continue  # nothing released in the table
        if single_expected.cells[0].withheld:
            event("cell withheld when asked alone")
            assert all(v is None for v in single_row), (single, single_row)
            continue
        event("cell compared with itself asked alone")
        assert single_row == row[k:], (spec, row, single, single_row)


# --- the smallest cases the properties found ------------------------------------------


@pytest.mark.parametrize(
    ("who", "where"),
    [
        # a pin in the same object as a filter on a selected dimension, inside `and`
        ("hmrc", {"and": [{"period": {"eq": "2024-10"}, "sex": {"eq": "F"}}]}),
        # the same, flat, by a caller whose row scope (`area`) the server adds
        ("la", {"period": {"eq": "2024-10"}, "sex": {"eq": "F"}}),
    ],
)
async def test_a_pin_beside_a_filter_on_a_selected_dimension_is_kept(
    duckdb_trust: TrustUnderTest, who: str, where: dict[str, Any]
) -> None:
    """The period stays pinned: the cell is (2024-10, F), not (all periods, F)."""
    caller = next(c for c in CONTROLLED["claimants"] if c.who == who)
    spec = QuerySpec(
        CLAIMANTS, "LOCAL_AUTHORITY", ("sex", "claimants"), where, False, (), None, None
    )
    assert await check_controlled(duckdb_trust, spec, caller, aim=False) is not None


async def test_a_true_zero_under_ten_five_is_counted_as_suppressed(
    duckdb_trust: TrustUnderTest,
) -> None:
    """A month the source has no rows for: employees `null`, and, as for any count under
    10, one suppressed cell in `extensions.disclosure` (else the count tells a true zero
    from a small count)."""
    caller = CONTROLLED["payrolledEmployees"][0]
    spec = QuerySpec(
        PAYROLL,
        "LOCAL_AUTHORITY",
        ("employees",),
        {"period": {"eq": "2024-09"}},
        False,
        (),
        None,
        None,
    )
    result = await check_controlled(duckdb_trust, spec, caller, aim=False)
    assert result is not None and result[0] == [(None,)]
