"""Request ids (header, `extensions.requestId`, ledger), the JSON access log, and the
metrics the ledger feeds: budget used per agreement and ledger write latency."""

from __future__ import annotations

import json
import logging
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from gql_trust.cli import main
from gql_trust.config import CONFIG_ENV
from gql_trust.ledger import AuditQuery, Entry
from gql_trust.observability import JsonFormatter, accepted_request_id, logging_config
from tests.conftest import TrustUnderTest
from tests.ledger.conftest import running, sqlite_config
from tests.test_metrics import scrape, value

VACANCIES = '{ vacancies(geography: COUNTRY, where: {period: {eq: "2025-03"}}) { vacancies } }'
PAY = (
    '{ payrolledEmployees(geography: REGION, where: {period: {eq: "2025-03"}}) '
    "{ area { code } employees meanMonthlyPay } }"
)
GENERATED = re.compile(r"[0-9a-f]{32}")


async def entry_for(trust: TrustUnderTest, request_id: str) -> Entry:
    recent = await trust.app.state.ledger.entries(AuditQuery(limit=50))
    (entry,) = [e for e in recent if e.request_id == request_id]
    return entry


def access_records(caplog: pytest.LogCaptureFixture, request_id: str) -> list[logging.LogRecord]:
    return [
        r
        for r in caplog.records
        if r.name == "gql_trust.access" and r.fields["request_id"] == request_id  # type: ignore[attr-defined]
    ]


# ---- the request id -------------------------------------------------------------------------


async def test_a_request_gets_an_id_in_the_header_the_extensions_and_the_ledger(
    trust: TrustUnderTest,
) -> None:
    response = await trust.client.post(
        "/graphql", json={"query": VACANCIES}, headers=trust.headers("dwp")
    )
    assert response.status_code == 200
    request_id = response.headers["X-Request-Id"]
    assert GENERATED.fullmatch(request_id)
    assert response.json()["extensions"]["requestId"] == request_id
    entry = await entry_for(trust, request_id)
    assert entry.sub == "test-dwp" and entry.outcome.value == "OK"
    # The auditor sees the same id in auditLog.
    log = await trust.data("{ auditLog(limit: 5) { id requestId } }", who="auditor")
    assert {"id": entry.id, "requestId": request_id} in log["auditLog"]


async def test_a_well_formed_incoming_id_is_kept_apart(duckdb_trust: TrustUnderTest) -> None:
    """The server's id is its own (a re-sent id used to give two entries one id); the
    caller's is kept as clientRequestId."""
    incoming = "gw-7f3a:2026.11_26-" + "x" * 45  # 64 characters
    ids = []
    for _ in range(2):  # the same id sent twice
        response = await duckdb_trust.client.post(
            "/graphql", json={"query": VACANCIES}, headers={"X-Request-Id": incoming}
        )
        request_id = response.headers["X-Request-Id"]
        assert GENERATED.fullmatch(request_id)
        assert response.json()["extensions"]["requestId"] == request_id
        entry = await entry_for(duckdb_trust, request_id)
        assert entry.client_request_id == incoming and entry.outcome.value == "OK"
        ids.append(request_id)
    assert ids[0] != ids[1]


@pytest.mark.parametrize(
    "incoming",
    ["", "x" * 65, "has space", "semi;colon", 'quote"d', "nl\\nx", "caf\u00e9", "a/b", "{}"],
)
async def test_a_malformed_incoming_id_is_replaced(
    duckdb_trust: TrustUnderTest, incoming: str
) -> None:
    assert accepted_request_id(incoming) is None
    response = await duckdb_trust.client.post(
        "/graphql",
        json={"query": VACANCIES},
        headers={"X-Request-Id": incoming.encode("utf-8")},  # raw bytes, as sent
    )
    request_id = response.headers["X-Request-Id"]
    assert GENERATED.fullmatch(request_id)
    assert response.json()["extensions"]["requestId"] == request_id


async def test_every_route_answers_with_an_id(duckdb_trust: TrustUnderTest) -> None:
    for path in ("/healthz", "/readyz", "/metrics", "/", "/no-such-page"):
        response = await duckdb_trust.client.get(path, headers={"X-Request-Id": "probe-1"})
        assert GENERATED.fullmatch(response.headers["X-Request-Id"]), path
    refused = await duckdb_trust.client.post(
        "/graphql", json={"query": VACANCIES}, headers={"Authorization": "Bearer not-a-jwt"}
    )
    assert refused.status_code == 401
    assert GENERATED.fullmatch(refused.headers["X-Request-Id"])
    entry = await entry_for(duckdb_trust, refused.headers["X-Request-Id"])
    assert entry.outcome.value == "UNAUTHENTICATED"


async def test_each_operation_of_a_batch_carries_the_id(
    duckdb_trust_dir: Path, tmp_path: Path
) -> None:
    config = sqlite_config(duckdb_trust_dir, tmp_path, extra="\n[limits]\nmax_batch = 2\n")
    async with running(config) as app:
        response = await app.client.post(
            "/graphql", json=[{"query": VACANCIES}, {"query": VACANCIES}]
        )
        assert response.status_code == 200, response.text
        request_id = response.headers["X-Request-Id"]
        assert [r["extensions"]["requestId"] for r in response.json()] == [request_id] * 2
        (entry,) = await app.entries()
        assert entry.request_id == request_id


# ---- the access log -------------------------------------------------------------------------


async def test_one_access_line_per_request_with_the_caller_and_the_entry(
    trust: TrustUnderTest, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="gql_trust.access")
    headers = trust.headers("dwp")
    response = await trust.client.post("/graphql", json={"query": PAY}, headers=headers)
    request_id = response.headers["X-Request-Id"]
    (record,) = access_records(caplog, request_id)
    entry = await entry_for(trust, request_id)
    fields: dict[str, Any] = record.fields  # type: ignore[attr-defined]
    assert fields == {
        "request_id": request_id,
        "client_request_id": None,
        "method": "POST",
        "path": "/graphql",
        "status": 200,
        "duration_ms": fields["duration_ms"],
        "sub": "test-dwp",
        "dept": "DWP",
        "ledger_id": entry.id,
        "outcome": "OK",
    }
    assert fields["duration_ms"] > 0
    line = JsonFormatter().format(record)
    assert "\n" not in line
    parsed = json.loads(line)
    assert parsed["logger"] == "gql_trust.access" and parsed["level"] == "INFO"
    assert parsed["message"] == "POST /graphql 200"
    assert {k: parsed[k] for k in fields} == fields
    assert datetime.strptime(parsed["timestamp"], "%Y-%m-%dT%H:%M:%S.%fZ")
    token = headers["Authorization"].removeprefix("Bearer ")
    assert token not in line and token.split(".")[1] not in line


async def test_refused_and_non_graphql_requests_are_logged_without_secrets(
    duckdb_trust: TrustUnderTest, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="gql_trust.access")
    secret = "eyJhbGciOiJFUzI1NiJ9.c2VjcmV0LWNsYWltcw.c2lnbmF0dXJl"
    refused = await duckdb_trust.client.post(
        "/graphql?token=" + secret,
        json={"query": VACANCIES},
        headers={"Authorization": f"Bearer {secret}"},
    )
    (record,) = access_records(caplog, refused.headers["X-Request-Id"])
    fields = record.fields  # type: ignore[attr-defined]
    assert fields["status"] == 401 and fields["outcome"] == "UNAUTHENTICATED"
    assert fields["sub"] is None and isinstance(fields["ledger_id"], int)
    assert secret not in JsonFormatter().format(record)

    health = await duckdb_trust.client.get("/healthz")
    (record,) = access_records(caplog, health.headers["X-Request-Id"])
    fields = record.fields  # type: ignore[attr-defined]
    assert (fields["path"], fields["status"], fields["ledger_id"], fields["outcome"]) == (
        "/healthz",
        200,
        None,
        None,
    )


def test_json_lines_escape_control_characters_and_carry_exceptions() -> None:
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        record = logging.getLogger("gql_trust.ledger").makeRecord(
            "gql_trust.ledger", logging.ERROR, __file__, 1, "forged\n{%s}", ("x",), sys.exc_info()
        )
    line = JsonFormatter().format(record)
    assert "\n" not in line
    parsed = json.loads(line)
    assert parsed["message"] == "forged\n{x}" and "RuntimeError: boom" in parsed["exception"]


def test_the_server_logs_json_lines_to_stderr() -> None:
    """`logging_config()` is what `gql-trust serve` hands uvicorn for every worker."""
    program = (
        "import logging, logging.config\n"
        "from gql_trust.observability import logging_config\n"
        "logging.config.dictConfig(logging_config())\n"
        "logging.getLogger('gql_trust.access').info('GET /healthz 200', "
        "extra={'fields': {'request_id': 'r1', 'status': 200}})\n"
        "logging.getLogger('uvicorn.error').info('Started server process')\n"
        "logging.getLogger('gql_trust.access').debug('not at INFO')\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=60, check=True
    )
    assert proc.stdout == ""
    lines = [json.loads(line) for line in proc.stderr.splitlines()]
    assert [(x["logger"], x["message"]) for x in lines] == [
        ("gql_trust.access", "GET /healthz 200"),
        ("uvicorn.error", "Started server process"),
    ]
    assert lines[0]["request_id"] == "r1" and lines[0]["status"] == 200


@pytest.mark.parametrize("command", ["serve", "demo"])
def test_serve_and_demo_configure_json_logging(
    command: str, duckdb_trust_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[dict[str, Any]] = []
    monkeypatch.setenv(CONFIG_ENV, "restored-after-the-test")  # _serve sets it
    monkeypatch.setattr("uvicorn.run", lambda *args, **kwargs: calls.append(kwargs))
    args = ["--config", str(duckdb_trust_dir / "gql-trust.toml")]
    if command == "demo":
        args = ["--data-dir", str(duckdb_trust_dir)]
    result = CliRunner().invoke(main, [command, *args])
    assert result.exit_code == 0, result.output
    (kwargs,) = calls
    assert kwargs["log_config"] == logging_config()
    assert kwargs["access_log"] is False  # gql_trust.access replaces uvicorn's


class BrokenSink:
    """The ledger's store, failing every append (a full disk, a lost database)."""

    def __init__(self, sink: Any) -> None:
        self.sink = sink
        self.kind, self.where = sink.kind, sink.where

    async def append(self, batch: Any) -> Any:
        raise OSError("no space left on device")

    def __getattr__(self, name: str) -> Any:
        return getattr(self.sink, name)


# ---- metrics fed by the ledger --------------------------------------------------------------


async def test_budget_used_per_agreement_is_read_from_the_ledger(
    duckdb_trust: TrustUnderTest,
) -> None:
    ledger = duckdb_trust.app.state.ledger
    before = await scrape(duckdb_trust.client, duckdb_trust)
    response = await duckdb_trust.client.post(
        "/graphql", json={"query": PAY}, headers=duckdb_trust.headers("dwp")
    )
    entry = await entry_for(duckdb_trust, response.headers["X-Request-Id"])
    assert entry.agreement == "DSA-LMDT-001" and entry.cells_returned > 0
    await duckdb_trust.query(VACANCIES, who="hmrc")  # no agreement: not budgeted
    after = await scrape(duckdb_trust.client, duckdb_trust)
    used = "gql_trust_budget_used_cells"
    assert (
        value(after, used, agreement="DSA-LMDT-001") - value(before, used, agreement="DSA-LMDT-001")
        == entry.cells_returned
    )
    today = datetime.now(UTC).date().isoformat()
    assert value(after, used, agreement="DSA-LMDT-001") == await ledger.budget_used(
        "DSA-LMDT-001", today
    )
    assert value(after, "gql_trust_budget_limit_cells", agreement="DSA-LMDT-001") == 10_000_000


async def test_budget_gauges_are_absent_until_the_ledger_is_open(
    duckdb_trust_dir: Path, tmp_path: Path
) -> None:
    async with running(sqlite_config(duckdb_trust_dir, tmp_path)) as app:
        await app.ledger.close()  # as if it could not be opened at start-up
        samples = await scrape(app.client, app)
        assert not any(name.startswith("gql_trust_budget_") for name, _ in samples)
        await app.post(VACANCIES, who="public")  # opens it (and is not budgeted)
        samples = await scrape(app.client, app)
        agreement = frozenset({("agreement", "DSA-LMDT-001")})
        assert samples[("gql_trust_budget_used_cells", agreement)] == 0
        assert samples[("gql_trust_budget_limit_cells", agreement)] == 10_000_000


async def test_ledger_writes_are_timed_and_failures_counted(
    duckdb_trust_dir: Path, tmp_path: Path
) -> None:
    async with running(sqlite_config(duckdb_trust_dir, tmp_path)) as app:
        for _ in range(3):
            assert (await app.post(VACANCIES, who="public")).status_code == 200
        app.ledger.sink = BrokenSink(app.ledger.sink)  # type: ignore[assignment]
        assert (await app.post(VACANCIES, who="public")).status_code == 503
        app.ledger.sink = app.ledger.sink.sink  # type: ignore[attr-defined]
        samples = await scrape(app.client, app)
    assert value(samples, "gql_trust_ledger_write_duration_seconds_count") == 4
    assert value(samples, "gql_trust_ledger_write_duration_seconds_sum") > 0
    assert value(samples, "gql_trust_ledger_write_failures_total") == 1
    requests = "gql_trust_dataset_requests_total"
    assert value(samples, requests, dataset="vacancies", outcome="OK") == 3
    assert not any(
        name == requests and dict(labels).get("outcome") == "ERROR" for name, labels in samples
    )
