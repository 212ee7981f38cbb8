"""Exactly one entry per request to /graphql, written before the response; fail closed."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from gql_trust.ledger import Outcome
from gql_trust.ledger.entry import canonical_json
from tests.ledger.conftest import Running

VACANCIES = "query Jobs { vacancies(limit: 3) { period vacancies } }"


async def one_more(app: Running, before: int) -> Any:
    """The single entry written since ``before`` entries, after checking the chain."""
    entries = await app.entries()
    assert len(entries) == before + 1, [e.outcome for e in entries[before:]]
    assert (await app.ledger.verify()).ok
    return entries[-1]


async def test_a_served_query_is_recorded_with_what_it_read(trust_app: Running) -> None:
    variables = {"unused": [1, "two"]}
    response = await trust_app.post(VACANCIES, variables=variables)
    assert response.status_code == 200 and "errors" not in response.json()
    entry = await one_more(trust_app, 0)
    assert entry.outcome is Outcome.OK
    assert (entry.sub, entry.dept, entry.roles) == ("test-dwp", "DWP", ("analyst",))
    assert (entry.purpose, entry.agreement) == ("labour-market-analysis", "DSA-LMDT-001")
    assert entry.operation_name == "Jobs" and entry.transport == "http"
    assert entry.query_hash == hashlib.sha256(VACANCIES.encode()).hexdigest()
    assert entry.variables_hash == hashlib.sha256(canonical_json(variables).encode()).hexdigest()
    assert entry.datasets == ("vacancies",)
    assert entry.fields_read == {"vacancies": ("period", "vacancies")}
    assert entry.cells_returned == 3 and entry.fields_denied == ()
    (source,) = entry.sources
    assert source.source == "ons" and "SELECT" in source.sql.upper() and source.rows_read == 3
    assert entry.prev_hash == "0" * 64 and entry.duration_ms > 0


@pytest.mark.parametrize(
    ("who", "query", "outcome"),
    [
        ("public", "{ claimants(limit: 1) { claimants } }", Outcome.DENIED),
        (
            "hmrc",
            "{ vacancies(limit: 2) { period vacancies } claimants { disability claimants } }",
            Outcome.PARTIAL,
        ),
        ("dwp", "{ vacancies(limit: 2) { vacancies } ", Outcome.INVALID),  # syntax
        ("dwp", "{ noSuchField }", Outcome.INVALID),  # validation
        ("dwp", "{ vacancies(limit: -1) { vacancies } }", Outcome.INVALID),  # argument
        ("auditor", "{ auditLog(limit: 1) { id } }", Outcome.OK),
        ("dwp", "{ auditLog(limit: 1) { id } }", Outcome.DENIED),
    ],
)
async def test_each_outcome_is_one_entry(
    trust_app: Running, who: str, query: str, outcome: Outcome
) -> None:
    response = await trust_app.post(query, who)
    assert response.status_code == 200
    entry = await one_more(trust_app, 0)
    assert entry.outcome is outcome
    if outcome in (Outcome.DENIED, Outcome.PARTIAL):
        assert entry.fields_denied and all(d.reason for d in entry.fields_denied)
    if outcome is Outcome.PARTIAL:
        assert entry.cells_returned == 2
        denied = {(d.dataset, d.field, d.rule) for d in entry.fields_denied}
        assert ("claimants", "disability", "hmrc-never-by-disability") in denied
        assert entry.datasets == ("claimants", "vacancies")


async def test_refusals_before_execution_are_recorded(trust_app: Running) -> None:
    client = trust_app.client
    # A bad token: 401, no principal.
    response = await client.post(
        "/graphql", json={"query": VACANCIES}, headers={"Authorization": "Bearer nonsense"}
    )
    assert response.status_code == 401
    entry = await one_more(trust_app, 0)
    assert entry.outcome is Outcome.UNAUTHENTICATED
    assert (entry.sub, entry.dept, entry.roles, entry.agreement) == (None, None, (), None)
    assert entry.operation_name == "Jobs" and entry.cells_returned == 0
    # HTTP-level failures of the GraphQL view.
    bad_json = await client.post(
        "/graphql", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert bad_json.status_code == 400
    assert (await one_more(trust_app, 1)).outcome is Outcome.INVALID
    by_get = await client.get("/graphql", params={"query": "{ __typename }"})
    assert by_get.status_code >= 400
    assert (await one_more(trust_app, 2)).outcome is Outcome.INVALID
    # The GraphiQL page is a request to /graphql too.
    page = await client.get("/graphql", headers={"Accept": "text/html"})
    assert page.status_code == 200
    assert (await one_more(trust_app, 3)).outcome is Outcome.OK


async def test_a_failing_source_is_an_error_entry(
    trust_app: Running, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(trust_app.app.state.trust.sources["ons"], "fetch", broken)
    body = (await trust_app.post(VACANCIES)).json()
    assert body["data"] == {"vacancies": None}
    assert (await one_more(trust_app, 0)).outcome is Outcome.ERROR


async def test_a_callers_gateway_header_claims_nothing(trust_app: Running) -> None:
    """Only a trusted proxy's header counts (test_what_happened.py has the proxy case)."""
    await trust_app.client.post(
        "/graphql",
        json={"query": "{ __typename }"},
        headers={"X-Gql-Trust-Transport": "gateway"},
    )
    assert (await one_more(trust_app, 0)).transport == "http"


async def test_crlf_and_huge_operation_names_cannot_forge_or_break_the_chain(
    trust_app: Running,
) -> None:
    forged = 'Evil\r\n{"id": 1, "outcome": "OK", "sub": "nobody"}\r\n'
    # No operation has that name: a request error (200 as application/json, no data), and
    # the ledger records it.
    response = await trust_app.post("query Evil { __typename }", operationName=forged)
    assert response.status_code == 200 and "data" not in response.json()
    entry = await one_more(trust_app, 0)
    assert entry.outcome is Outcome.INVALID
    assert entry.operation_name is None  # no operation of that name ran: nothing recorded
    assert entry.sub == "test-dwp"  # nothing in the name became a field of the entry
    # Just under the body limit: no such operation either.
    response = await trust_app.post("query A { __typename }", operationName="A" * 900_000)
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert (await one_more(trust_app, 1)).operation_name is None
    # A real operation's long name is cut to 200 characters.
    name = "A" * 1_000
    response = await trust_app.post(f"query {name} {{ __typename }}", operationName=name)
    assert response.status_code == 200
    assert (await one_more(trust_app, 2)).operation_name == "A" * 200
    # Over 1 MB: refused before parsing, and still recorded.
    response = await trust_app.post("query A { __typename }", operationName="A" * 1_048_576)
    assert response.status_code >= 400
    assert (await one_more(trust_app, 3)).outcome is Outcome.INVALID


class BrokenSink:
    """A store that refuses every write (a full disk, a lost database)."""

    def __init__(self, sink: Any) -> None:
        self.sink = sink
        self.kind, self.where = sink.kind, sink.where

    async def append(self, batch: Any) -> Any:
        raise OSError("no space left on device")

    def __getattr__(self, name: str) -> Any:
        return getattr(self.sink, name)


@pytest.mark.parametrize(
    ("who", "headers"),
    [("dwp", {}), ("public", {"Authorization": "Bearer nonsense"})],
)
async def test_no_data_leaves_when_the_ledger_cannot_be_written(
    trust_app: Running, who: str, headers: dict[str, str]
) -> None:
    ledger = trust_app.ledger
    ledger.sink = BrokenSink(ledger.sink)  # type: ignore[assignment]
    response = await trust_app.client.post(
        "/graphql", json={"query": VACANCIES}, headers=headers or trust_app.headers(who)
    )
    assert response.status_code == 503
    body = response.json()
    assert "data" not in body and "vacancies" not in response.text
    (error,) = body["errors"]
    assert error["extensions"]["code"] == "LEDGER_UNAVAILABLE"
    assert "no data was released" in error["message"]
    ledger.sink = ledger.sink.sink  # type: ignore[attr-defined]
    assert (await trust_app.post(VACANCIES)).status_code == 200
    entries = await trust_app.entries()
    assert [e.id for e in entries] == [1] and (await ledger.verify()).ok


async def test_batched_or_not_the_entry_is_written_before_the_response(
    trust_app: Running,
) -> None:
    """The entry exists by the time the caller has the response in hand."""
    for n in range(5):
        await trust_app.post(VACANCIES)
        assert len(await trust_app.entries()) == n + 1


def test_entry_json_is_stable() -> None:
    assert json.loads(canonical_json({"z": 1, "a": "\r\n"})) == {"a": "\r\n", "z": 1}


async def test_an_entry_that_cannot_be_built_still_leaves_a_record_and_no_data(
    trust_app: Running, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(**kwargs: Any) -> Any:
        raise ValueError("unexpected shape")

    monkeypatch.setattr("gql_trust.ledger.gate.build_entry", broken)
    response = await trust_app.post(VACANCIES)
    assert response.status_code == 503 and "data" not in response.json()
    entry = await one_more(trust_app, 0)
    assert entry.outcome is Outcome.ERROR and entry.cells_returned == 0
