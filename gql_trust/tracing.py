"""OpenTelemetry tracing: a span for each HTTP request, its planning, each source query
and the ledger commit, continuing the caller's W3C ``traceparent`` (so a federation
gateway's trace goes on into the trust and down to the source).

Off unless ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set (spans then go to that collector by
OTLP over HTTP, configured by the standard ``OTEL_*`` variables) or a tracer provider is
installed with :func:`use` (tests use the SDK's in-memory exporter). While off, a span
costs one attribute read. Span attributes never carry a token, a filter value or SQL
parameters: only names the trust chose (dataset, source, route) and counts.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from typing import Any

from opentelemetry import trace
from opentelemetry.propagate import extract
from opentelemetry.trace import SpanKind, Status, StatusCode, Tracer
from starlette.types import ASGIApp, Message, Receive, Scope, Send

ENDPOINT_ENV = "OTEL_EXPORTER_OTLP_ENDPOINT"
SERVICE_NAME = "gql-trust"
_tracer: Tracer | None = None
_provider: trace.TracerProvider | None = None


def use(provider: trace.TracerProvider | None) -> None:
    """Trace with ``provider`` from now on (None: stop tracing)."""
    global _tracer, _provider
    _provider = provider
    _tracer = None if provider is None else provider.get_tracer("gql_trust")


def shutdown() -> None:
    """Export the spans still held in batches, close the exporter and stop tracing."""
    close = getattr(_provider, "shutdown", None)
    if close is not None:
        close()
    use(None)


def configure_from_env() -> bool:
    """With ``OTEL_EXPORTER_OTLP_ENDPOINT`` set, export spans by OTLP/HTTP in batches
    (True when this call set that up)."""
    if _tracer is not None or not os.environ.get(ENDPOINT_ENV):
        return False
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    name = os.environ.get("OTEL_SERVICE_NAME", SERVICE_NAME)
    provider = TracerProvider(resource=Resource.create({"service.name": name}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    use(provider)
    return True


@contextlib.contextmanager
def span(name: str, **attributes: Any) -> Iterator[Any]:
    """A child span of the current one (nothing while tracing is off)."""
    tracer = _tracer
    if tracer is None:
        yield None
        return
    with tracer.start_as_current_span(name, attributes=attributes) as current:
        yield current


class TracingMiddleware:
    """The request's span, a child of the incoming ``traceparent`` when there is one."""

    def __init__(self, app: ASGIApp, routes: frozenset[str]) -> None:
        self.app = app
        self.routes = routes  # bounded span names: a known route or "other"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        tracer = _tracer
        if tracer is None or scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        carrier = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        path = scope.get("path", "")
        route = path if path in self.routes else "other"
        method = scope.get("method", "")
        attributes = {"http.request.method": method, "http.route": route}
        with tracer.start_as_current_span(
            f"{method} {route}", context=extract(carrier), kind=SpanKind.SERVER,
            attributes=attributes,
        ) as current:  # fmt: skip
            started = time.perf_counter()

            async def send_status(message: Message) -> None:
                if message["type"] == "http.response.start":
                    status = int(message["status"])
                    current.set_attribute("http.response.status_code", status)
                    if status >= 500:
                        current.set_status(Status(StatusCode.ERROR))
                await send(message)

            await self.app(scope, receive, send_status)
            current.set_attribute("gql_trust.duration_ms", (time.perf_counter() - started) * 1000)


__all__ = ["TracingMiddleware", "configure_from_env", "shutdown", "span", "use"]
