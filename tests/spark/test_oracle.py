"""Claimants served from Spark equal counts read from the same Parquet files directly
with DuckDB; aggregation happens in Spark (rows out of the source equal cells returned)."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.conftest import TrustUnderTest
from tests.spark.conftest import ParquetOracle
from tests.test_pushdown import count_cells, source_totals


def ym(value: dt.date) -> str:
    return value.strftime("%Y-%m")


async def test_by_period_for_one_local_authority_paged(
    spark_trust: TrustUnderTest, oracle: ParquetOracle
) -> None:
    data = await spark_trust.data(
        """{ claimants(where: {period: {gte: "2025-01"}, areaCode: {in: ["E08000025"]}},
                       orderBy: [{period: DESC}], limit: 5, offset: 2) {
               period area { code name } claimants } }"""
    )
    expected = await oracle.claimants(
        "SELECT month, count(DISTINCT claimant_id) FROM claimants "
        "WHERE area_code = 'E08000025' AND month >= DATE '2025-01-01' "
        "GROUP BY month ORDER BY month DESC LIMIT 5 OFFSET 2",
        "LOCAL_AUTHORITY",
    )
    assert len(expected) == 5
    assert [(c["period"], c["claimants"]) for c in data["claimants"]] == [
        (ym(m), n) for m, n in expected
    ]
    assert {c["area"]["name"] for c in data["claimants"]} == {"Birmingham"}


async def test_rolled_up_to_region_by_sex_with_a_boolean_filter(
    spark_trust: TrustUnderTest, oracle: ParquetOracle
) -> None:
    data = await spark_trust.data(
        """{ claimants(geography: REGION, where: {disability: {eq: true}}) {
               area { code } sex claimants } }"""
    )
    expected = await oracle.claimants(
        "SELECT g.up, c.sex, count(DISTINCT c.claimant_id) FROM claimants c "
        "JOIN geo g ON c.area_code = g.la WHERE c.disability GROUP BY 1, 2 ORDER BY 1, 2",
        "REGION",
    )
    got = [(c["area"]["code"], c["sex"], c["claimants"]) for c in data["claimants"]]
    assert got == [tuple(r) for r in expected]
    assert "W92000004" in {code for code, _, _ in got}  # Wales rolls up to itself


async def test_distinct_claimants_across_months_by_country_and_age(
    spark_trust: TrustUnderTest, oracle: ParquetOracle
) -> None:
    """Totals over months count each claimant once, not once per month."""
    data = await spark_trust.data(
        """{ claimants(geography: COUNTRY, where: {or: [{ageBand: {eq: "16-24"}},
                       {not: {sex: {eq: "M"}}}]}) { area { code } ageBand claimants } }"""
    )
    expected = await oracle.claimants(
        "SELECT g.up, c.age_band, count(DISTINCT c.claimant_id) FROM claimants c "
        "JOIN geo g ON c.area_code = g.la WHERE c.age_band = '16-24' OR NOT c.sex = 'M' "
        "GROUP BY 1, 2 ORDER BY 1, 2",
        "COUNTRY",
    )
    got = [(c["area"]["code"], c["ageBand"], c["claimants"]) for c in data["claimants"]]
    assert got == [tuple(r) for r in expected]
    monthly = await oracle.claimants(
        "SELECT count(*) FROM claimants WHERE age_band = '16-24' OR NOT sex = 'M'", "COUNTRY"
    )
    assert sum(n for _, _, n in got) < monthly[0][0]  # distinct people, not person-months


async def test_labour_market_stitches_spark_with_the_file_sources(
    spark_trust: TrustUnderTest, oracle: ParquetOracle
) -> None:
    data = await spark_trust.data(
        """{ labourMarket(geography: REGION, where: {period: {gte: "2026-06"}}) {
               period area { code } claimants vacancies vacanciesPerClaimant } }"""
    )
    expected = {
        (ym(m), a): n
        for m, a, n in await oracle.claimants(
            "SELECT c.month, g.up, count(DISTINCT c.claimant_id) FROM claimants c "
            "JOIN geo g ON c.area_code = g.la WHERE c.month >= DATE '2026-06-01' GROUP BY 1, 2",
            "REGION",
        )
    }
    rows = data["labourMarket"]
    assert len(rows) == len(expected) > 0
    for row in rows:
        assert row["claimants"] == expected[(row["period"], row["area"]["code"])]
        assert row["vacanciesPerClaimant"] == pytest.approx(
            row["vacancies"] / row["claimants"], abs=1e-4
        )


QUERIES = [
    '{ claimants(where: {period: {eq: "2025-03"}}) { area { code } sex claimants } }',
    "{ claimants(geography: REGION) { period area { code } claimants } }",
    '{ claimants(where: {period: {in: ["2025-03", "2025-04"]}, disability: {eq: false}}) '
    "{ period conditionality claimants } }",
    "{ areas(level: REGION) { code claimants(limit: 2) { period claimants } } }",
]


@pytest.mark.parametrize("query", QUERIES)
async def test_rows_out_of_spark_equal_cells_returned(
    spark_trust: TrustUnderTest, query: str
) -> None:
    queries_before, rows_before = source_totals(spark_trust)
    data = await spark_trust.data(query)
    queries_after, rows_after = source_totals(spark_trust)
    cells = count_cells(data)
    assert cells > 0
    assert rows_after - rows_before == cells
    assert queries_after - queries_before == 1  # nested fields batched into one query


async def test_explain_shows_spark_sql_with_bound_parameters(spark_trust: TrustUnderTest) -> None:
    response = await spark_trust.client.post(
        "/graphql",
        json={
            "query": '{ claimants(where: {areaCode: {eq: "E08000025"}}) { sex claimants } }',
            "extensions": {"explain": True},
        },
        headers=spark_trust.headers("dwp"),
    )
    (call,) = response.json()["extensions"]["explain"]["sources"]
    assert call["source"] == "dwp" and call["dialect"] == "spark"
    assert ":p1" in call["sql"] and "E08000025" not in call["sql"]  # a bound value
    assert "FROM `uc_claimants`" in call["sql"]
    assert call["rowsRead"] == 2  # F and M
