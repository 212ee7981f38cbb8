"""Cell keys are computed in Spark, and come back with the types disclosure control reads:
the same claimants in Spark and in DuckDB give the same cells, the same keys and so the
same published values for a non-owner."""

from __future__ import annotations

import datetime as dt

import pytest

from gql_trust.planner.query import CellQuery, Cond
from gql_trust.reference import Level
from tests.conftest import TrustUnderTest

# Perturbed for HMRC; DfE sees regions and countries only; the LA officer its own authority.
NON_OWNER_QUERIES = [
    ("hmrc", '{ claimants(where: {period: {eq: "2025-03"}}) { area { code } sex claimants } }'),
    ("hmrc", "{ claimants(geography: REGION) { period ageBand claimants } }"),
    (
        "dfe",
        '{ claimants(geography: COUNTRY, where: {period: {gte: "2026-01"}}) '
        "{ period area { code } conditionality claimants } }",
    ),
    ("la", '{ claimants(where: {areaCode: {eq: "E08000025"}}) { period sex claimants } }'),
    ("hmrc", "{ areas(level: REGION) { code claimants(limit: 3) { period claimants } } }"),
]


@pytest.mark.parametrize(("who", "query"), NON_OWNER_QUERIES)
async def test_non_owners_get_the_same_published_values_from_spark_as_from_duckdb(
    spark_trust: TrustUnderTest, duckdb_trust: TrustUnderTest, who: str, query: str
) -> None:
    on_spark = await spark_trust.query(query, who=who)
    on_duckdb = await duckdb_trust.query(query, who=who)
    assert "errors" not in on_spark, on_spark["errors"]
    assert on_spark["data"] == on_duckdb["data"]
    assert on_spark["extensions"]["disclosure"] == on_duckdb["extensions"]["disclosure"]
    assert on_spark["extensions"]["disclosure"]["perturbed"] > 0


async def test_published_values_really_are_perturbed(
    spark_trust: TrustUnderTest,
) -> None:
    """A baseline for the test above: the owner's exact counts differ from what HMRC gets,
    so equal perturbed values mean equal cell keys, not an absent perturbation."""
    query = '{ claimants(where: {period: {eq: "2025-03"}}) { area { code } sex claimants } }'
    exact = (await spark_trust.data(query, who="dwp"))["claimants"]
    published = (await spark_trust.data(query, who="hmrc"))["claimants"]
    true = {(c["area"]["code"], c["sex"]): c["claimants"] for c in exact}
    given = {(c["area"]["code"], c["sex"]): c["claimants"] for c in published}
    assert set(true) <= set(given)  # a complete table: empty cells are published as 0
    # Empty cells are 0, or null where a sparse area is withheld (docs/disclosure.md).
    assert {given[k] for k in set(given) - set(true)} <= {0, None}
    shown = [k for k in true if given[k] is not None]
    differ = sum(true[k] != given[k] for k in shown)
    assert len(shown) > 20 and differ > len(shown) // 4
    assert all(v not in (1, 2) for v in given.values())


@pytest.mark.parametrize(
    "query",
    [
        CellQuery("claimants", ("period", "sex"), ("claimants",)),
        CellQuery(
            "claimants",
            ("area", "disability"),
            ("claimants",),
            where=Cond("period", "gte", (dt.date(2026, 1, 1),)),
            geography=Level.REGION,
        ),
    ],
)
async def test_spark_rows_equal_duckdb_rows_with_cell_keys_as_python_ints(
    spark_trust: TrustUnderTest, duckdb_trust: TrustUnderTest, query: CellQuery
) -> None:
    on_spark = await spark_trust.app.state.trust.run(query)
    on_duckdb = await duckdb_trust.app.state.trust.run(query)
    assert sorted(on_spark) == sorted(on_duckdb) and len(on_spark) > 2  # no ORDER BY asked
    for row in on_spark:
        *dims, count, key = row
        assert type(count) is int and type(key) is int and 0 <= key < 2**32
        assert all(type(d) in (str, bool, dt.date) for d in dims)
    assert any(key >= 2**31 for *_, key in on_spark)  # no 32-bit signed overflow on the way
    if "period" in query.dimensions:
        assert type(on_spark[0][0]) is dt.date
