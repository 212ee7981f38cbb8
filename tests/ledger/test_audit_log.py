"""`auditLog`: the auditor reads the ledger, newest first; nobody else can."""

from __future__ import annotations

import pytest

from tests.ledger.conftest import Running

FIELDS = """id timestamp subject dept roles purpose agreement transport operationName outcome
    datasets cellsReturned cellsSuppressed cellsPerturbed durationMs queryHash variablesHash
    fieldsRead { dataset fields } fieldsDenied { dataset field action rule reason }
    sources { source dataset sql rowsRead } prevHash hash"""


async def test_the_auditor_reads_entries_newest_first(trust_app: Running) -> None:
    await trust_app.post("query Jobs { vacancies(limit: 2) { period vacancies } }")
    await trust_app.post("{ claimants { claimants } }", "public")
    await trust_app.post("{ payrolledEmployees(limit: 3) { period employees } }", "hmrc")
    body = (await trust_app.post(f"{{ auditLog {{ {FIELDS} }} }}", "auditor")).json()
    assert "errors" not in body, body
    log = body["data"]["auditLog"]
    assert [e["id"] for e in log] == [3, 2, 1]
    assert [e["outcome"] for e in log] == ["OK", "DENIED", "OK"]
    assert [e["subject"] for e in log] == ["test-hmrc", None, "test-dwp"]
    assert log[2]["operationName"] == "Jobs" and log[2]["cellsReturned"] == 2
    assert log[2]["sources"][0]["source"] == "ons" and log[2]["sources"][0]["rowsRead"] == 2
    assert log[1]["fieldsDenied"][0]["dataset"] == "claimants"
    assert log[2]["prevHash"] == "0" * 64
    assert log[1]["prevHash"] == log[2]["hash"] and log[0]["prevHash"] == log[1]["hash"]


async def test_where_filters_and_pages(trust_app: Running) -> None:
    for who in ("dwp", "public", "hmrc", "dwp"):
        await trust_app.post("{ vacancies(limit: 1) { vacancies } }", who)
    await trust_app.post("{ claimants { claimants } }", "public")

    async def ids(arguments: str) -> list[int]:
        body = (await trust_app.post(f"{{ auditLog({arguments}) {{ id }} }}", "auditor")).json()
        assert "errors" not in body, body
        return [e["id"] for e in body["data"]["auditLog"]]

    assert await ids('where: {dept: "DWP"}') == [4, 1]
    assert await ids('where: {subject: "test-hmrc"}') == [3]
    assert await ids("where: {outcome: [DENIED]}") == [5]
    assert await ids('where: {agreement: "DSA-LMDT-001", outcome: [OK]}') == [4, 1]
    # Reading the log is recorded too: entries 6 to 9 are the auditor's reads above.
    assert await ids("limit: 3, offset: 1") == [8, 7, 6]  # 9 is the newest; its own is not yet in
    assert await ids('limit: 1, offset: 1, where: {dept: "DWP"}') == [1]
    window = await ids('where: {since: "2000-01-01", until: "2999-01-01T00:00:00Z"}')
    assert window == list(range(len(window), 0, -1)) and len(window) >= 5
    assert await ids('where: {since: "2999-01-01"}') == []
    bad = (await trust_app.post('{ auditLog(where: {since: "soon"}) { id } }', "auditor")).json()
    assert bad["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


@pytest.mark.parametrize("who", ["public", "dwp", "hmrc", "dfe", "la"])
async def test_everyone_but_the_auditor_is_forbidden(trust_app: Running, who: str) -> None:
    await trust_app.post("{ vacancies(limit: 1) { vacancies } }", "dwp")
    body = (await trust_app.post("{ auditLog { id hash } datasets { name } }", who)).json()
    assert body["data"]["auditLog"] is None
    assert body["data"]["datasets"]  # the rest of the response is intact
    (error,) = body["errors"]
    assert error["path"] == ["auditLog"]
    assert error["extensions"]["code"] == "FORBIDDEN" and error["extensions"]["reason"]
