"""OpenTelemetry spans, with the SDK's in-memory exporter: the request, planning, each
source query and the ledger commit, in the caller's trace when it sends `traceparent`."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from gql_trust import tracing
from tests.conftest import TrustUnderTest

TWO_DATASETS = """{ claimants(geography: COUNTRY, limit: 2) { period claimants }
  payrolledEmployees(geography: COUNTRY, limit: 2) { period employees } }"""


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.use(provider)
    try:
        yield exporter
    finally:
        tracing.use(None)


def traceparent() -> tuple[str, int, int]:
    trace_id, parent_id = secrets.token_hex(16), secrets.token_hex(8)
    return f"00-{trace_id}-{parent_id}-01", int(trace_id, 16), int(parent_id, 16)


def ancestors(span: ReadableSpan, by_id: dict[int, ReadableSpan]) -> list[str]:
    names = []
    while span.parent is not None and span.parent.span_id in by_id:
        span = by_id[span.parent.span_id]
        names.append(span.name)
    return names


async def test_a_request_continues_the_callers_trace(
    duckdb_trust: TrustUnderTest, spans: InMemorySpanExporter
) -> None:
    header, trace_id, parent_id = traceparent()
    response = await duckdb_trust.client.post(
        "/graphql",
        json={"query": TWO_DATASETS},
        headers={**duckdb_trust.headers("dwp"), "traceparent": header},
    )
    assert response.status_code == 200 and "errors" not in response.json()
    finished = spans.get_finished_spans()
    assert {s.context.trace_id for s in finished} == {trace_id}  # one trace: the caller's
    by_id = {s.context.span_id: s for s in finished}
    (request,) = [s for s in finished if s.name == "POST /graphql"]
    assert request.parent is not None and request.parent.span_id == parent_id
    assert request.parent.is_remote
    assert request.attributes["http.response.status_code"] == 200
    plans = [s for s in finished if s.name == "plan"]
    assert sorted(s.attributes["dataset"] for s in plans) == ["claimants", "payrolledEmployees"]
    queries = [s for s in finished if s.name == "source query"]
    assert sorted(s.attributes["source"] for s in queries) == ["dwp", "hmrc"]
    (commit,) = [s for s in finished if s.name == "ledger commit"]
    assert commit.attributes["outcome"] == "OK"
    for span in (*plans, *queries, commit):
        assert "POST /graphql" in ancestors(span, by_id), span.name
    # Nothing the caller sent, nor any SQL, is in a span.
    text = repr([dict(s.attributes or {}) for s in finished])
    assert "Bearer" not in text and "SELECT" not in text.upper()


async def test_without_traceparent_a_trace_starts_here(
    duckdb_trust: TrustUnderTest, spans: InMemorySpanExporter
) -> None:
    await duckdb_trust.client.post("/graphql", json={"query": "{ sectors { code } }"})
    await duckdb_trust.client.post("/graphql", json={"query": "{ sectors { code } }"})
    roots = [s for s in spans.get_finished_spans() if s.name == "POST /graphql"]
    assert len(roots) == 2 and all(s.parent is None for s in roots)
    assert roots[0].context.trace_id != roots[1].context.trace_id


async def test_tracing_is_off_without_a_provider(duckdb_trust: TrustUnderTest) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))  # installed nowhere
    header, _, _ = traceparent()
    response = await duckdb_trust.client.post(
        "/graphql", json={"query": "{ sectors { code } }"}, headers={"traceparent": header}
    )
    assert response.status_code == 200
    assert exporter.get_finished_spans() == ()


def test_spans_go_to_the_otlp_endpoint_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """OTLP over HTTP to a collector on loopback (a stand-in that keeps what it gets)."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    received: list[tuple[str, bytes]] = []

    class Collector(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((self.path, body))
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Collector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://127.0.0.1:{server.server_port}")
    try:
        tracing.configure_from_env()
        with tracing.span("plan", dataset="vacancies"):
            pass
    finally:
        tracing.shutdown()  # exports what the batch holds
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
    ((path, body),) = received
    assert path == "/v1/traces"
    exported = ExportTraceServiceRequest.FromString(body)
    (resource,) = exported.resource_spans
    service = {a.key: a.value.string_value for a in resource.resource.attributes}
    assert service["service.name"] == "gql-trust"
    (span,) = resource.scope_spans[0].spans
    assert span.name == "plan"
