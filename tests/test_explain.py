"""`extensions.explain`: the SQL each source was sent, predicates, rows and disclosure."""

from __future__ import annotations

from typing import Any

from tests.conftest import TrustUnderTest


async def explain(trust: TrustUnderTest, query: str, who: str) -> dict[str, Any]:
    response = await trust.client.post(
        "/graphql",
        json={"query": query, "extensions": {"explain": True}},
        headers=trust.headers(who),
    )
    assert response.status_code == 200
    return response.json()


async def test_explain_shows_pushed_down_sql_and_rows(trust: TrustUnderTest) -> None:
    body = await explain(
        trust,
        '{ claimants(geography: REGION, where: {sex: {eq: "F"}}) { area { code } claimants } }',
        "dwp",
    )
    (call,) = body["extensions"]["explain"]["sources"]
    assert call["source"] == "dwp" and call["dataset"] == "claimants"
    assert call["dialect"] == ("postgres" if trust.kind == "postgres" else "duckdb")
    assert "GROUP BY" in call["sql"] and "$1" in call["sql"]
    assert "'F'" not in call["sql"]  # values are bound, never in the text
    assert call["rowsRead"] == len(body["data"]["claimants"])
    assert str(trust.directory) not in str(body)
    assert "postgresql://" not in str(body)


async def test_explain_shows_policy_predicates_and_disclosure(duckdb_trust: TrustUnderTest) -> None:
    body = await explain(duckdb_trust, "{ claimants { period claimants } }", "la")
    (call,) = body["extensions"]["explain"]["sources"]
    assert call["policyPredicates"] == ["area = 'E08000025' (rule la-own-authority)"]
    assert body["extensions"]["explain"]["disclosure"] == {"claimants.claimants": "cell_key"}


async def test_files_are_named_by_relation_not_path(duckdb_trust: TrustUnderTest) -> None:
    body = await explain(
        duckdb_trust, "{ payrolledEmployees(geography: COUNTRY) { employees } }", "hmrc"
    )
    (call,) = body["extensions"]["explain"]["sources"]
    assert "paye_rti" in call["sql"] and ".parquet" not in call["sql"]


async def test_explain_is_for_authenticated_callers(duckdb_trust: TrustUnderTest) -> None:
    body = await explain(duckdb_trust, "{ vacancies(geography: COUNTRY) { vacancies } }", "public")
    assert body["data"]["vacancies"]
    assert body["extensions"]["explain"]["allowed"] is False
    assert "sources" not in body["extensions"]["explain"]


async def test_no_explain_unless_asked(duckdb_trust: TrustUnderTest) -> None:
    body = await duckdb_trust.query("{ vacancies(geography: COUNTRY) { vacancies } }")
    assert "explain" not in body.get("extensions", {})
