"""Aggregation happens in the source: rows out of a source equal cells in the response,
and nested dataset fields are batched into one source query per dataset per level."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import TrustUnderTest

QUERIES = [
    '{ claimants(where: {period: {eq: "2025-03"}}) { area { code } sex claimants } }',
    "{ claimants(geography: REGION) { period area { code } claimants } }",
    "{ claimants(geography: COUNTRY, where: {disability: {eq: false}}) { ageBand claimants } }",
    "{ payrolledEmployees(geography: REGION) { sector { code } employees meanMonthlyPay } }",
    '{ payrolledEmployees(where: {areaCode: {eq: "E09000033"}}) { period sex employees } }',
    "{ vacancies(limit: 7, offset: 3) { period area { code } vacancies } }",
    "{ areas(level: REGION) { code claimants(limit: 2) { period claimants } } }",
    '{ areas(level: COUNTRY) { code vacancies(where: {period: {gte: "2026-01"}}) { period '
    "sector { code } vacancies } } }",
    '{ sectors { code payrolledEmployees(geography: COUNTRY, where: {period: {eq: "2025-01"}}) '
    "{ area { code } employees } } }",
]
# A stitched cell holds one cell from each of its three sources.
STITCHED = (
    "{ labourMarket(geography: COUNTRY) { period area { code } claimants employees vacancies } }"
)


def count_cells(value: Any) -> int:
    """Objects in the response that carry a measure are cells."""
    measures = {"claimants", "employees", "vacancies", "meanMonthlyPay"}
    if isinstance(value, list):
        return sum(count_cells(v) for v in value)
    if isinstance(value, dict):
        own = 1 if any(k in measures and not isinstance(v, list) for k, v in value.items()) else 0
        return own + sum(count_cells(v) for v in value.values() if isinstance(v, (list, dict)))
    return 0


def source_totals(trust: TrustUnderTest) -> tuple[int, int]:
    stats = [s.stats for s in trust.sources.values()]
    return sum(s.queries for s in stats), sum(s.rows for s in stats)


@pytest.mark.parametrize(("query", "sources_per_cell"), [*[(q, 1) for q in QUERIES], (STITCHED, 3)])
async def test_rows_out_of_sources_equal_cells_returned(
    trust: TrustUnderTest, query: str, sources_per_cell: int
) -> None:
    # A controlled release reads the periods a dataset covers (cached for a minute): read
    # them first, so only the query's own statements are counted.
    for contract in trust.app.state.trust.contracts.values():
        await trust.app.state.trust.coverage(contract)
    _, rows_before = source_totals(trust)
    data = await trust.data(query)
    _, rows_after = source_totals(trust)
    cells = count_cells(data)
    assert cells > 0
    assert rows_after - rows_before == cells * sources_per_cell


async def test_nested_dataset_fields_are_one_query_per_dataset_per_level(
    trust: TrustUnderTest,
) -> None:
    queries_before, _ = source_totals(trust)
    data = await trust.data(
        """{ areas(level: LOCAL_AUTHORITY) {
               code claimants { sex claimants } payrolledEmployees { employees }
               parent { code vacancies { vacancies } } } }"""
    )
    queries_after, _ = source_totals(trust)
    assert len(data["areas"]) >= 40
    # claimants + payroll at LOCAL_AUTHORITY; vacancies at REGION and at COUNTRY (Wales, Scotland)
    assert queries_after - queries_before == 4
