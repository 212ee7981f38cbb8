"""Through a real Hive Gateway: the trust's subgraph composed with DfE's example subgraph.

One query mixes DfE's apprenticeship starts with the trust's vacancies and claimants on
one `Area`. The gateway forwards the caller's `Authorization` header to the trust, so
the trust's policies hold for gateway callers exactly as for direct ones.
"""

from __future__ import annotations

import csv
from typing import Any

import pytest

from tests.federation.conftest import Stack
from tests.federation.harness import DFE_DIR

MIXED = """
query Mixed($code: ID!, $period: String!) {
  area(code: $code) {
    code
    name
    apprenticeshipStarts(period: $period) { period level starts }
    vacancies(where: {period: {eq: $period}}) { period vacancies }
    claimants(where: {period: {eq: $period}}) { period claimants }
  }
}
"""
TRUST_ONLY = """
query Direct($code: ID!, $period: String!) {
  area(code: $code) {
    code
    name
    vacancies(where: {period: {eq: $period}}) { period vacancies }
    claimants(where: {period: {eq: $period}}) { period claimants }
  }
}
"""
# From DfE's root field to the trust's Area: the gateway calls the trust's `_entities`.
REVERSE = """
query Reverse($period: String!) {
  apprenticeshipStarts(period: $period) {
    level
    starts
    area {
      code
      name
      vacancies(where: {period: {eq: $period}}) { vacancies }
      claimants(where: {period: {eq: $period}}) { claimants }
    }
  }
}
"""
BIRMINGHAM = {"code": "E08000025", "period": "2025-09"}


def dfe_rows(code: str, period: str) -> list[dict[str, Any]]:
    with (DFE_DIR / "data" / "apprenticeship_starts.csv").open(encoding="utf-8") as handle:
        return [
            {"period": r["period"], "level": r["level"], "starts": int(r["starts"])}
            for r in csv.DictReader(handle)
            if r["area_code"] == code and r["period"] == period
        ]


def body_of(response: Any) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    assert "Traceback" not in response.text
    return response.json()  # type: ignore[no-any-return]


def direct(stack: Stack, who: str) -> dict[str, Any]:
    body = body_of(stack.post(stack.trust_url, TRUST_ONLY, BIRMINGHAM, who=who))
    return body  # errors included: the gateway must give the same answer


def test_the_public_gets_dfe_and_open_data_but_claimants_are_forbidden(stack: Stack) -> None:
    body = body_of(stack.post(stack.gateway_url, MIXED, BIRMINGHAM))
    area = body["data"]["area"]
    assert area["code"] == "E08000025"
    assert area["name"] == "Birmingham"
    assert area["apprenticeshipStarts"] == dfe_rows("E08000025", "2025-09") != []
    assert area["vacancies"] == direct(stack, "public")["data"]["area"]["vacancies"] != []
    assert area["claimants"] is None
    [error] = body["errors"]
    assert error["path"] == ["area", "claimants"]
    assert error["extensions"]["code"] == "FORBIDDEN"


def test_a_dwp_analyst_gets_claimants_equal_to_a_direct_query(stack: Stack) -> None:
    body = body_of(stack.post(stack.gateway_url, MIXED, BIRMINGHAM, who="dwp"))
    assert "errors" not in body, body["errors"]
    area = body["data"]["area"]
    expected = direct(stack, "dwp")
    assert "errors" not in expected
    assert area["apprenticeshipStarts"] == dfe_rows("E08000025", "2025-09")
    assert area["claimants"] == expected["data"]["area"]["claimants"] != []
    assert area["vacancies"] == expected["data"]["area"]["vacancies"]


def test_entities_called_by_the_gateway_are_policed_and_batched(stack: Stack) -> None:
    """DfE's rows -> the trust's Area via `_entities`: one source query per dataset."""
    before = stack.source_queries()
    body = body_of(stack.post(stack.gateway_url, REVERSE, {"period": "2025-09"}, who="dwp"))
    assert stack.source_queries() - before == 2  # claimants + vacancies, for all the areas
    assert "errors" not in body, body["errors"]
    rows = body["data"]["apprenticeshipStarts"]
    assert {r["area"]["code"] for r in rows} == {"E06000002", "E08000003", "E08000025", "W06000015"}
    birmingham = next(r["area"] for r in rows if r["area"]["code"] == "E08000025")
    expected = direct(stack, "dwp")["data"]["area"]["claimants"]
    assert birmingham["claimants"] == [{"claimants": c["claimants"]} for c in expected]

    public = body_of(stack.post(stack.gateway_url, REVERSE, {"period": "2025-09"}))
    for row in public["data"]["apprenticeshipStarts"]:
        assert row["area"]["claimants"] is None
        assert row["area"]["vacancies"] != []
    assert public["errors"]
    assert {e["extensions"]["code"] for e in public["errors"]} == {"FORBIDDEN"}


@pytest.mark.parametrize(
    "spoofed",
    [
        {"X-User": "dwp-analyst"},
        {"X-Dept": "DWP", "X-Roles": "analyst"},
        {"X-Principal": '{"sub": "x", "dept": "DWP", "roles": ["analyst"]}'},
        {"X-Forwarded-User": "dwp-analyst", "X-Gql-Trust-Transport": "gateway"},
    ],
)
def test_headers_asserting_a_principal_are_not_trusted(
    stack: Stack, spoofed: dict[str, str]
) -> None:
    body = body_of(stack.post(stack.gateway_url, MIXED, BIRMINGHAM, headers=spoofed))
    assert body["data"]["area"]["claimants"] is None
    assert [e["extensions"]["code"] for e in body["errors"]] == ["FORBIDDEN"]


def test_a_bad_token_through_the_gateway_is_never_treated_as_public(stack: Stack) -> None:
    headers = {"Authorization": "Bearer not-a-token"}
    body = body_of(stack.post(stack.gateway_url, MIXED, BIRMINGHAM, headers=headers))
    assert body["data"]["area"] is None  # the trust answered 401: nothing from it
    assert [e["extensions"]["code"] for e in body["errors"]] == ["UNAUTHENTICATED"]


async def test_the_ledger_records_the_gateway_as_transport_and_the_caller_as_principal(
    stack: Stack,
) -> None:
    from gql_trust.ledger import AuditQuery, Ledger

    marker = {"code": "E08000003", "period": "2025-08"}
    body_of(stack.post(stack.gateway_url, MIXED.replace("Mixed", "ViaGateway"), marker, who="dwp"))
    body_of(stack.post(stack.gateway_url, MIXED.replace("Mixed", "ViaGatewayPublic"), marker))
    body_of(
        stack.post(stack.trust_url, TRUST_ONLY.replace("Direct", "Directly"), marker, who="dwp")
    )
    ledger = Ledger.from_config(stack.settings.ledger, read_only=True)
    try:
        entries = await ledger.entries(AuditQuery(limit=200))
    finally:
        await ledger.close()
    by_operation = {e.operation_name: e for e in entries}
    gateway_dwp = by_operation["ViaGateway"]
    assert (gateway_dwp.transport, gateway_dwp.sub, gateway_dwp.dept) == (
        "gateway",
        "test-dwp",
        "DWP",
    )
    assert "claimants" in gateway_dwp.datasets
    gateway_public = by_operation["ViaGatewayPublic"]
    assert (gateway_public.transport, gateway_public.sub) == ("gateway", None)
    assert gateway_public.outcome.value == "PARTIAL"  # claimants refused, the rest released
    assert by_operation["Directly"].transport == "http"
