"""Operation limits hold, including against the known bypasses."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import httpx
import pytest

from gql_trust.app import create_app
from gql_trust.config import LimitsConfig
from gql_trust.ledger.rows import AuditQuery
from tests.conftest import TrustUnderTest

LIMITS = LimitsConfig()


async def post(trust: TrustUnderTest, body: Any, who: str = "dwp", **kwargs: Any) -> httpx.Response:
    return await trust.client.post("/graphql", json=body, headers=trust.headers(who), **kwargs)


async def assert_refused(trust: TrustUnderTest, query: str, says: str, who: str = "dwp") -> None:
    response = await post(trust, {"query": query}, who)
    assert response.status_code in (200, 400), response.text
    body = response.json()
    assert body.get("data") is None, body
    assert any(says in e["message"] for e in body["errors"]), body["errors"]
    # still serving
    ok = await trust.data("{ sectors { code } }")
    assert len(ok["sectors"]) == 21


def nested_areas(depth: int) -> str:
    inner = "code"
    for _ in range(depth):
        inner = f"parent {{ {inner} }}"
    return f'{{ area(code: "E08000025") {{ {inner} }} }}'


async def test_depth_limit(duckdb_trust: TrustUnderTest) -> None:
    assert (await duckdb_trust.data(nested_areas(LIMITS.max_depth - 2)))["area"]
    await assert_refused(
        duckdb_trust, nested_areas(LIMITS.max_depth + 1), "exceeds maximum operation depth"
    )


async def test_depth_limit_through_fragments(duckdb_trust: TrustUnderTest) -> None:
    fragments = "".join(
        f"fragment F{i} on Area {{ parent {{ ...F{i + 1} }} }} "
        for i in range(LIMITS.max_depth + 2)
    )
    last = f"fragment F{LIMITS.max_depth + 2} on Area {{ code }}"
    query = f'{{ area(code: "E08000025") {{ ...F0 }} }} {fragments} {last}'
    await assert_refused(duckdb_trust, query, "exceeds maximum operation depth")


async def test_circular_fragments_are_rejected(duckdb_trust: TrustUnderTest) -> None:
    query = (
        '{ area(code: "E08000025") { ...A } } '
        "fragment A on Area { parent { ...B } } fragment B on Area { children { ...A } }"
    )
    await assert_refused(duckdb_trust, query, "")


async def test_alias_limit_counts_aliases_inside_spread_fragments(
    duckdb_trust: TrustUnderTest,
) -> None:
    aliases = " ".join(f"a{i}: code" for i in range(LIMITS.max_aliases + 1))
    query = f'{{ area(code: "E08000025") {{ ...F }} }} fragment F on Area {{ {aliases} }}'
    await assert_refused(duckdb_trust, query, "aliases found")


async def test_token_limit(duckdb_trust: TrustUnderTest) -> None:
    fields = " ".join(["code"] * LIMITS.max_tokens)
    await assert_refused(duckdb_trust, f"{{ sectors {{ {fields} }} }}", "more than 2000 tokens")


async def test_root_field_limit(duckdb_trust: TrustUnderTest) -> None:
    roots = " ".join(f"s{i}: sectors {{ code }}" for i in range(LIMITS.max_root_fields + 1))
    await assert_refused(duckdb_trust, f"{{ {roots} }}", "root fields")


async def test_directives_per_field_limit(duckdb_trust: TrustUnderTest) -> None:
    directives = " ".join(["@include(if: true)"] * (LIMITS.max_directives_per_field + 1))
    await assert_refused(duckdb_trust, f"{{ sectors {{ code {directives} }} }}", "directives")


async def test_cell_cost_limit(duckdb_trust: TrustUnderTest) -> None:
    query = (
        "{ areas { claimants(limit: 100000) { period area { code } ageBand sex "
        "conditionality disability claimants } } }"
    )
    response = await post(duckdb_trust, {"query": query})
    body = response.json()
    assert "data" not in body  # refused before execution: a request error
    assert body["errors"][0]["extensions"]["code"] == "QUERY_TOO_COSTLY"
    assert "cells" in body["errors"][0]["message"]


async def test_a_reasonable_query_is_within_the_cost_limit(duckdb_trust: TrustUnderTest) -> None:
    data = await duckdb_trust.data(
        "{ areas(level: REGION) { claimants { period sex claimants } } }"
    )
    assert len(data["areas"]) == 9


async def test_no_field_suggestions(duckdb_trust: TrustUnderTest) -> None:
    body = (await post(duckdb_trust, {"query": "{ claimant { claimants } }"})).json()
    assert "Did you mean" not in str(body)
    assert "claimant" in body["errors"][0]["message"]


async def test_body_size_limit(duckdb_trust: TrustUnderTest) -> None:
    padding = " " * (LIMITS.max_body_bytes + 10)
    response = await post(duckdb_trust, {"query": "{ sectors { code } }" + padding})
    assert response.status_code == 413
    assert response.json()["errors"][0]["extensions"]["code"] == "PAYLOAD_TOO_LARGE"


async def test_batching_is_off_by_default(duckdb_trust: TrustUnderTest) -> None:
    response = await post(duckdb_trust, [{"query": "{ sectors { code } }"}] * 2)
    assert response.status_code == 400
    assert "atching" in response.text


@pytest.mark.parametrize("name", ["__schema", "IntrospectionQuery"])
async def test_operation_names_do_not_bypass_introspection_rules(
    duckdb_trust: TrustUnderTest, name: str
) -> None:
    body = (await post(duckdb_trust, {"query": f"query {name} {{ sectors {{ code }} }}"})).json()
    assert len(body["data"]["sectors"]) == 21


async def test_introspection_for_authenticated_callers_only_in_production(
    duckdb_trust: TrustUnderTest,
) -> None:
    production = replace(
        duckdb_trust.settings,
        limits=replace(duckdb_trust.settings.limits, introspection="authenticated"),
    )
    app = create_app(production)
    await app.state.trust.start()
    transport = httpx.ASGITransport(app=app)
    query = {"query": "{ __schema { queryType { name } } }"}
    sdl = {"query": "{ _service { sdl } }"}
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            public = (await client.post("/graphql", json=query)).json()
            analyst = (
                await client.post("/graphql", json=query, headers=duckdb_trust.headers("dwp"))
            ).json()
            public_sdl = (await client.post("/graphql", json=sdl)).json()
    finally:
        await app.state.trust.close()
    assert "data" not in public
    assert public["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert analyst["data"]["__schema"]["queryType"]["name"] == "Query"
    assert "data" not in public_sdl  # the subgraph SDL is introspection too


async def test_the_demo_profile_allows_introspection_to_all(duckdb_trust: TrustUnderTest) -> None:
    body = (
        await post(duckdb_trust, {"query": "{ __schema { queryType { name } } }"}, "public")
    ).json()
    assert body["data"]["__schema"]["queryType"]["name"] == "Query"


async def test_in_lists_are_bounded(duckdb_trust: TrustUnderTest) -> None:
    codes = ["E08000025"] * (LIMITS.max_in_values + 1)
    body = (
        await post(
            duckdb_trust,
            {
                "query": "query($c: [String!]) "
                "{ vacancies(where: {areaCode: {in: $c}}) { vacancies } }",
                "variables": {"c": codes},
            },
        )
    ).json()
    assert body["data"] == {"vacancies": None}
    assert "at most" in body["errors"][0]["message"]


async def test_batched_operations_do_not_share_nested_results(
    duckdb_trust: TrustUnderTest,
) -> None:
    """With batching enabled, identical operations with different variables get their
    own answers (nested dataset fields are batched per operation, not per request)."""
    settings = replace(
        duckdb_trust.settings, limits=replace(duckdb_trust.settings.limits, max_batch=2)
    )
    app = create_app(settings)
    await app.state.trust.start()
    query = (
        'query($p: String) { area(code: "E08000025") '
        "{ vacancies(where: {period: {eq: $p}}) { period vacancies } } }"
    )
    batch = [{"query": query, "variables": {"p": p}} for p in ("2025-01", "2025-06")]
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            answers = (await client.post("/graphql", json=batch)).json()
    finally:
        await app.state.trust.close()
    periods = [a["data"]["area"]["vacancies"][0]["period"] for a in answers]
    assert periods == ["2025-01", "2025-06"]


async def test_the_stitched_view_is_costed_and_charged_for_its_page(
    duckdb_trust: TrustUnderTest,
) -> None:
    body = await duckdb_trust.query(
        "{ labourMarket { period area { code } claimants employees vacancies } }"
    )
    # 240 periods x 91 areas x 3 sources is within the default limit: served
    assert "errors" not in body
    one = await duckdb_trust.query(
        "{ labourMarket(geography: REGION, limit: 1) { period claimants employees vacancies } }"
    )
    entries = await duckdb_trust.app.state.ledger.entries(AuditQuery(limit=1))
    assert len(one["data"]["labourMarket"]) == 1
    assert entries[0].cells_returned <= 3
