"""`extensions.explain`: the SQL each source was sent, predicates, rows and disclosure."""

from __future__ import annotations

from typing import Any

from gql_trust.ledger import AuditQuery
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


LABOUR_MARKET = (
    '{ labourMarket(geography: COUNTRY, where: {period: {eq: "2025-03"}}) { period area { code } '
    "claimants employees vacancies claimantsPerThousandEmployees vacanciesPerClaimant } }"
)


async def test_explain_of_a_stitched_query_shows_each_departments_source(
    trust: TrustUnderTest,
) -> None:
    response = await trust.client.post(
        "/graphql",
        json={"query": LABOUR_MARKET, "extensions": {"explain": True}},
        headers=trust.headers("dfe"),  # owns neither claimants nor payroll
    )
    assert response.status_code == 200
    body = response.json()
    assert "errors" not in body, body["errors"]
    rows = body["data"]["labourMarket"]
    assert sorted(r["area"]["code"] for r in rows) == ["E92000001", "S92000003", "W92000004"]
    explained = body["extensions"]["explain"]
    assert explained["allowed"] is True
    calls = sorted(explained["sources"], key=lambda c: c["source"])  # run concurrently
    dwp_dialect = "postgres" if trust.kind == "postgres" else "duckdb"
    assert [(c["source"], c["dataset"], c["dialect"]) for c in calls] == [
        ("dwp", "claimants", dwp_dialect),
        ("hmrc", "payrolledEmployees", "duckdb"),
        ("ons", "vacancies", "duckdb"),
    ]
    for call, relation in zip(calls, ("uc_claimants", "paye_rti", "vacancies"), strict=True):
        # one aggregated cell per country, nothing more; a controlled release hides the count
        controlled = call["dataset"] != "vacancies"
        assert call["rowsRead"] == (None if controlled else len(rows))
        assert call["policyPredicates"] == []
        assert "GROUP BY" in call["sql"] and relation in call["sql"]
        assert "$1" in call["sql"] and "2025-03" not in call["sql"]  # the period is bound
        assert call["ms"] >= 0
    # Non-owner: claimants perturbed, employees under 10-5; vacancies are open (no method).
    assert explained["disclosure"] == {
        "claimants.claimants": "cell_key",
        "payrolledEmployees.employees": "ten_five",
    }
    assert body["extensions"]["disclosure"]["perturbed"] == len(rows)
    for leaked in (str(trust.directory), ".parquet", ".csv", ".duckdb", "postgresql://"):
        assert leaked not in response.text
    # The ledger entry records the same statements the caller was shown.
    entries = await trust.app.state.ledger.entries(AuditQuery(limit=20))
    (entry,) = [e for e in entries if e.request_id == body["extensions"]["requestId"]]
    assert sorted((s.source, s.dataset, s.sql, s.rows_read) for s in entry.sources) == [
        (c["source"], c["dataset"], c["sql"], len(rows)) for c in calls
    ]


async def test_explain_of_a_stitched_query_shows_the_callers_own_methods(
    duckdb_trust: TrustUnderTest,
) -> None:
    body = await explain(duckdb_trust, LABOUR_MARKET, "dwp")  # owns claimants: exact
    assert len(body["extensions"]["explain"]["sources"]) == 3
    assert body["extensions"]["explain"]["disclosure"] == {
        "payrolledEmployees.employees": "ten_five"
    }


async def test_explain_does_not_count_a_controlled_callers_non_empty_cells(
    duckdb_trust: TrustUnderTest,
) -> None:
    """Rows read by a controlled release are its non-empty cells: shown, they would tell
    an empty cell from a small one (one pinned cell: 1 row or 0). The caller sees null;
    the ledger keeps the count for the auditor."""
    single = (
        '{{ claimants(where: {{period: {{eq: "2025-06"}}, areaCode: {{eq: "{code}"}}, '
        'ageBand: {{eq: "65+"}}, sex: {{eq: "F"}}}}) {{ sex claimants }} }}'
    )
    seen = set()
    for code in ("E08000024", "E09000001", "E06000034"):
        body = await explain(duckdb_trust, single.format(code=code), "hmrc")
        (call,) = body["extensions"]["explain"]["sources"]
        assert call["rowsRead"] is None and "GROUP BY" in call["sql"]
        owner = await explain(duckdb_trust, single.format(code=code), "dwp")
        seen.add(owner["extensions"]["explain"]["sources"][0]["rowsRead"])
    assert seen == {0, 1}, "the demo data should have an empty and a non-empty cell here"
    log = await duckdb_trust.data(
        '{ auditLog(limit: 2, where: {subject: "test-hmrc"}) { sources { rowsRead } } }',
        who="auditor",
    )
    assert all(entry["sources"][0]["rowsRead"] in (0, 1) for entry in log["auditLog"])
