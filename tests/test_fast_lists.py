"""The compiled list path gives exactly the result normal Strawberry execution gives."""

from __future__ import annotations

import json
from typing import Any

import pytest

from gql_trust.graphql import build_schema
from gql_trust.graphql.context import RequestContext
from tests.conftest import PRINCIPALS, TrustUnderTest

QUERIES = [
    '{ claimants(where: {period: {eq: "2025-06"}}) { period area { code name } sex claimants } }',
    "{ c: claimants(geography: REGION) { __typename n: claimants a: area { __typename c: code "
    "level } area { name } period } }",
    "query Q($skip: Boolean!) { payrolledEmployees(geography: COUNTRY) { sector { code } "
    "employees @skip(if: $skip) meanMonthlyPay ...F } } "
    "fragment F on PayrolledEmployeesCell { ageBand ... on PayrolledEmployeesCell { sex } }",
    '{ payrolledEmployees(where: {areaCode: {eq: "E09000001"}, period: {eq: "2026-03"}}) '
    "{ sector { code } ageBand sex employees meanMonthlyPay } }",
    "{ vacancies(limit: 50, orderBy: [{vacancies: DESC}]) { period vacancies vacancies "
    "area { code } area { code name } } }",
    "{ areas(level: REGION) { code name level claimants(limit: 3) { period claimants } "
    "vacancies(limit: 2) { sector { code name } vacancies } } }",
    "{ claimants(geography: COUNTRY, limit: 2) { area { code parent { code } children { code } } "
    "claimants } }",
    "{ labourMarket(geography: REGION) { period area { code } claimants employees vacancies "
    "claimantsPerThousandEmployees vacanciesPerClaimant } }",
    "{ sectors { code name payrolledEmployees(geography: COUNTRY) { area { code } employees } } }",
    "{ claimants { claimants } vacancies(geography: COUNTRY) { vacancies } }",
    '{ claimants(where: {period: {eq: "2024-13"}}) { claimants } }',
    "{ datasets { name fields { name kind } periods { first last } } }",
]


async def execute(schema: Any, trust: TrustUnderTest, query: str, who: str) -> dict[str, Any]:
    from gql_trust.identity import authenticate

    header = trust.headers(who).get("Authorization")
    principal = authenticate(header, trust.settings.auth)
    context = RequestContext(trust=trust.app.state.trust, principal=principal)
    result = await schema.execute(query, variable_values={"skip": False}, context_value=context)
    return {
        "data": result.data,
        "errors": [e.formatted for e in result.errors or []],
    }


@pytest.mark.parametrize("who", ["dwp", "hmrc", "public"])
@pytest.mark.parametrize("query", QUERIES)
async def test_compiled_lists_equal_normal_execution(
    trust: TrustUnderTest, query: str, who: str
) -> None:
    contracts = tuple(trust.app.state.trust.contracts.values())
    fast = build_schema(contracts, trust.settings.limits, fast_lists=True)
    plain = build_schema(contracts, trust.settings.limits, fast_lists=False)
    expected = await execute(plain, trust, query, who)
    got = await execute(fast, trust, query, who)
    # json.dumps keeps key order: field order and aliases must match too
    assert json.dumps(got) == json.dumps(expected)


def test_principals_cover_owner_non_owner_and_public() -> None:
    assert {"dwp", "hmrc", "public"} <= set(PRINCIPALS)


async def test_plain_cell_lists_take_the_compiled_path(
    duckdb_trust: TrustUnderTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gql_trust.graphql import fast_lists

    compiled: list[str] = []
    original = fast_lists.FastListExecutionContext._compile

    def spy(self: Any, object_type: Any, details: Any) -> Any:
        mapper = original(self, object_type, details)
        compiled.append(f"{object_type.name}:{'yes' if mapper else 'no'}")
        return mapper

    monkeypatch.setattr(fast_lists.FastListExecutionContext, "_compile", spy)
    contracts = tuple(duckdb_trust.app.state.trust.contracts.values())
    fast = build_schema(contracts, duckdb_trust.settings.limits)
    await execute(fast, duckdb_trust, QUERIES[0], "dwp")
    await execute(fast, duckdb_trust, QUERIES[6], "dwp")
    assert "ClaimantsCell:yes" in compiled  # with its nested area, compiled as a whole
    assert "ClaimantsCell:no" in compiled  # area { parent } has a resolver: normal path
