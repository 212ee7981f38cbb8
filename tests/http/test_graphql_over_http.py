"""GraphQL over HTTP: both JSON media types, the spec's status codes, JSON request errors,
and the `graphql-http` package's own audit of a real server."""

from __future__ import annotations

import json
import subprocess

import pytest

from gql_trust.http import GRAPHQL_RESPONSE_JSON, JSON, negotiate, response_media_type
from gql_trust.ledger.rows import AuditQuery
from tests.conftest import TrustUnderTest
from tests.npm import NODE_DIR, install

AUDITS = 61  # graphql-http 1.23's server audits


def test_graphql_http_audit_finds_no_error_and_no_warning(live_server: str) -> None:
    install(NODE_DIR)
    proc = subprocess.run(
        ["node", "audit.mjs", "--url", f"{live_server}/graphql"],
        cwd=NODE_DIR,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads(proc.stdout)["results"]
    assert len(results) == AUDITS
    failed = [r for r in results if r["status"] in ("error", "warn")]
    assert failed == [], json.dumps(failed, indent=2)[:4000]
    passed = {r["id"] for r in results if r["status"] == "ok"}
    # The ones that failed before: the newer media type and its status codes.
    assert {"22EB", "865D", "556A", "D586", "51FE", "74FF", "5E5B", "86EE"} <= passed


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (None, JSON),
        ("", JSON),
        ("*/*", JSON),
        ("application/*", JSON),
        ("application/json", JSON),
        ("application/graphql-response+json", GRAPHQL_RESPONSE_JSON),
        ("application/graphql-response+json; charset=utf-8", GRAPHQL_RESPONSE_JSON),
        ("application/graphql-response+json, application/json;q=0.9", GRAPHQL_RESPONSE_JSON),
        ("application/json, application/graphql-response+json", GRAPHQL_RESPONSE_JSON),
        ("application/graphql-response+json;q=0.5, application/json", JSON),
        ("application/graphql-response+json;q=0", JSON),
        ("APPLICATION/GRAPHQL-RESPONSE+JSON", GRAPHQL_RESPONSE_JSON),
        ("text/html", JSON),  # accepts neither: the spec allows the default type
        ("garbage;;;, ,/,", JSON),
    ],
)
def test_response_media_type(accept: str | None, expected: str) -> None:
    assert response_media_type(accept) == expected


def test_negotiate_takes_the_preferred_offer_and_refuses_what_is_not_offered() -> None:
    offers = ("application/json", "text/csv")
    assert negotiate("text/csv", offers) == "text/csv"
    assert negotiate("text/csv;q=0.5, application/json", offers) == "application/json"
    assert negotiate("text/*", offers) == "text/csv"
    assert negotiate("text/csv;q=0.9, */*;q=0.1", offers) == "text/csv"
    assert negotiate("*/*", offers) == "application/json"  # a tie: the first offer
    assert negotiate(None, offers) == "application/json"
    assert negotiate("image/png", offers) is None
    assert negotiate("text/csv;q=0", offers) is None


async def _post(trust: TrustUnderTest, body: object, accept: str | None, who: str = "public"):
    headers = trust.headers(who)
    if accept is not None:
        headers["Accept"] = accept
    return await trust.client.post("/graphql", json=body, headers=headers)


@pytest.mark.parametrize(
    ("accept", "status", "media"),
    [
        (None, 200, JSON),
        ("application/json", 200, JSON),
        ("application/graphql-response+json", 400, GRAPHQL_RESPONSE_JSON),
    ],
)
@pytest.mark.parametrize(
    "body",
    [
        {"query": "{ vacancies { period "},  # does not parse
        {"query": "{ vacancies { nope } }"},  # does not validate
        {"query": "query Q($n: Int!) { vacancies(limit: $n) { vacancies } }", "variables": {}},
        {"query": "query a { __typename }", "operationName": "c"},  # no such operation
        {"query": "query a { __typename } query b { __typename }"},  # which one?
    ],
    ids=["parse", "validation", "coercion", "unknown-operation", "ambiguous-operation"],
)
async def test_request_errors_are_json_with_the_spec_status_and_no_data(
    duckdb_trust: TrustUnderTest,
    body: dict[str, object],
    accept: str | None,
    status: int,
    media: str,
) -> None:
    response = await _post(duckdb_trust, body, accept)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].split(";")[0] == media
    parsed = response.json()
    assert "data" not in parsed  # execution never started
    assert parsed["errors"] and all(isinstance(e["message"], str) for e in parsed["errors"])
    assert parsed["extensions"]["receipt"]["entry"] >= 1  # recorded like any request


async def test_unknown_operation_name_is_recorded_as_invalid(duckdb_trust: TrustUnderTest) -> None:
    body = {"query": "query a { __typename }", "operationName": "c"}
    response = await _post(duckdb_trust, body, "application/graphql-response+json")
    assert response.status_code == 400
    (error,) = response.json()["errors"]
    assert error["message"] == 'Unknown operation named "c".'
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    receipt = response.json()["extensions"]["receipt"]
    recent = await duckdb_trust.app.state.ledger.entries(AuditQuery(limit=20))
    (entry,) = [e for e in recent if e.id == receipt["entry"]]  # the entry of record
    assert entry.outcome.value == "INVALID"
    assert entry.operation_name is None  # no operation ran


@pytest.mark.parametrize("accept", ["application/json", "application/graphql-response+json"])
async def test_field_errors_keep_their_data_and_200(
    duckdb_trust: TrustUnderTest, accept: str
) -> None:
    body = {"query": "{ vacancies(limit: 1) { vacancies } claimants { claimants } }"}
    response = await _post(duckdb_trust, body, accept)  # the public may not see claimants
    assert response.status_code == 200
    assert response.headers["content-type"].split(";")[0] == accept
    parsed = response.json()
    assert parsed["data"]["claimants"] is None
    assert len(parsed["data"]["vacancies"]) == 1
    assert parsed["errors"][0]["extensions"]["code"] == "FORBIDDEN"


@pytest.mark.parametrize(
    "body",
    [
        {"query": "{ __typename }", "operationName": {"obj": "ect"}},
        {"query": "{ __typename }", "operationName": 0},
        {"query": ["{ __typename }"]},
        {"query": "{ __typename }", "variables": "{}"},
        {"query": "{ __typename }", "extensions": []},
    ],
)
@pytest.mark.parametrize("accept", ["application/json", "application/graphql-response+json"])
async def test_invalid_parameters_are_400_json(
    duckdb_trust: TrustUnderTest, body: dict[str, object], accept: str
) -> None:
    response = await _post(duckdb_trust, body, accept)
    assert response.status_code == 400
    assert response.headers["content-type"].split(";")[0] == accept
    assert "parameter must be" in response.json()["errors"][0]["message"]


@pytest.mark.parametrize(
    ("headers", "content", "status"),
    [
        ({"Content-Type": "text/plain"}, b"{ __typename }", 400),
        ({"Content-Type": "application/json"}, b"{not json", 400),
        ({"Content-Type": "application/json"}, b"{}", 400),
        ({"Content-Type": "application/json", "Authorization": "Bearer nope"}, b"{}", 401),
    ],
)
async def test_every_refusal_is_a_json_errors_body(
    duckdb_trust: TrustUnderTest, headers: dict[str, str], content: bytes, status: int
) -> None:
    for accept in ("application/json", "application/graphql-response+json"):
        response = await duckdb_trust.client.post(
            "/graphql", content=content, headers={**headers, "Accept": accept}
        )
        assert response.status_code == status
        assert response.headers["content-type"].split(";")[0] == accept
        errors = response.json()["errors"]
        assert errors and isinstance(errors[0]["message"], str)
    response = await duckdb_trust.client.request("DELETE", "/graphql")
    assert response.status_code == 405
    assert response.json()["errors"][0]["extensions"]["code"] == "METHOD_NOT_ALLOWED"


async def test_an_unknown_operation_name_is_never_echoed_at_length(
    duckdb_trust: TrustUnderTest,
) -> None:
    body = {"query": "query a { __typename }", "operationName": "B" * 50_000}
    response = await _post(duckdb_trust, body, None)
    (error,) = response.json()["errors"]
    assert len(error["message"]) < 200
    assert error["message"].startswith('Unknown operation named "BBBB')
