"""A trace that starts before the Hive Gateway continues into the trust: the gateway
passes the W3C `traceparent` on, and the trust's spans join that trace."""

from __future__ import annotations

import secrets

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from gql_trust import tracing
from tests.federation.conftest import Stack

QUERY = "{ vacancies(geography: COUNTRY, limit: 2) { period vacancies } }"


def test_a_gateway_trace_continues_into_the_trust(stack: Stack) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.use(provider)
    try:
        trace_id, parent_id = secrets.token_hex(16), secrets.token_hex(8)
        response = stack.post(
            stack.gateway_url, QUERY, headers={"traceparent": f"00-{trace_id}-{parent_id}-01"}
        )
        assert response.status_code == 200 and "errors" not in response.json(), response.text
    finally:
        tracing.use(None)
    finished = exporter.get_finished_spans()
    requests = [s for s in finished if s.name == "POST /graphql"]
    assert requests, [s.name for s in finished]
    assert {s.context.trace_id for s in finished} == {int(trace_id, 16)}
    assert all(s.parent is not None and s.parent.is_remote for s in requests)
    queries = [s for s in finished if s.name == "source query"]
    assert [s.attributes["source"] for s in queries] == ["ons"]
    assert any(s.name == "ledger commit" for s in finished)
