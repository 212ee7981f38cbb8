"""The Starlette application: GraphQL, offline GraphiQL, health and readiness."""

from __future__ import annotations

import contextlib
import gc
import logging
import os
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import orjson
from cross_web import HTTPException
from graphql import GraphQLError
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from strawberry.asgi import GraphQL
from strawberry.schema.exceptions import CannotGetOperationTypeError
from strawberry.types import ExecutionResult

from . import graphiql, tracing
from .catalog_page import render_catalog
from .config import CONFIG_ENV, Settings, load_settings
from .documents import carry_document_id, trusted_document
from .errors import LedgerUnavailable, Unauthenticated
from .explorer import render_explorer
from .graphql import build_schema
from .graphql.context import RequestContext
from .http import (
    GRAPHQL_RESPONSE_JSON,
    JSON,
    is_request_error,
    negotiate,
    response_media_type,
)
from .http.csv import CSV, NotCsv, as_csv, csv_shape, not_acceptable_error
from .http.responses import REQUEST_ERRORS, as_graphql_response, invalid_parameter
from .identity import PUBLIC, authenticate_request, provider_keys
from .ledger import Ledger
from .ledger import http as ledger_http
from .ledger.gate import LedgerGate, capture
from .ledger.record import Proxies
from .metrics import ROUTES as METRIC_ROUTES
from .metrics import Metrics, MetricsMiddleware
from .observability import RequestIdMiddleware
from .policy.reload import live_policies
from .tracing import TracingMiddleware, configure_from_env
from .trust import Trust


class TrustGraphQL(GraphQL):
    """Strawberry's ASGI view, with the trust as context and GraphiQL served locally."""

    def __init__(self, trust: Trust, **kwargs: Any) -> None:
        schema = build_schema(
            tuple(trust.contracts.values()),
            trust.settings.limits,
            federation=trust.settings.federation,
        )
        super().__init__(schema, **kwargs)
        self.trust = trust

    async def get_context(self, request: Any, response: Any) -> RequestContext:  # type: ignore[override]
        principal = getattr(request.state, "principal", PUBLIC)
        return RequestContext(
            trust=self.trust, request=request, response=response, principal=principal
        )

    async def render_graphql_ide(self, request: Request) -> Response:
        return HTMLResponse(graphiql.render_page(graphql_path="/graphql", static_prefix="/static"))

    def encode_json(self, data: object) -> bytes:
        return orjson.dumps(data)  # several times faster than json for large results

    def parse_json(self, data: str | bytes) -> Any:
        """A request body must be a JSON object (or a list of them, when batching is on),
        valid UTF-8 and nested no deeper than the GraphQL it can carry needs."""
        try:
            parsed = orjson.loads(data)  # also refuses nesting deeper than 1,024
        except orjson.JSONDecodeError as exc:
            raise HTTPException(400, "Unable to parse request body as JSON") from exc
        items = parsed if isinstance(parsed, list) else [parsed]
        if not all(isinstance(item, dict) for item in items):
            raise HTTPException(400, "The request body must be a JSON object")
        if _depth(parsed) > MAX_JSON_DEPTH:
            raise HTTPException(400, f"The request body is nested deeper than {MAX_JSON_DEPTH}")
        for item in items:
            problem = invalid_parameter(item)
            if problem is not None:
                raise HTTPException(400, problem)
        return parsed if self._in_query_params else carry_document_id(parsed)

    def should_render_graphql_ide(self, request: Any) -> bool:
        params = request.query_params  # a GET naming a trusted document runs it
        named = "documentId" in params or "extensions" in params
        return not named and super().should_render_graphql_ide(request)

    _in_query_params = False  # parse_json then reads a GET's variables, not a request

    def parse_query_params(self, params: Any) -> dict[str, Any]:
        self._in_query_params = True
        try:
            data = super().parse_query_params(params)
        finally:
            self._in_query_params = False
        return carry_document_id(data)  # type: ignore[no-any-return]

    async def execute_single(
        self,
        request: Any,
        request_adapter: Any,
        sub_response: Any,
        context: Any,
        root_value: Any,
        request_data: Any,
    ) -> Any:
        # Each operation of a batch gets its own loaders (keyed by field node, and a cached
        # parse shares nodes between identical operations); the trace and disclosure
        # tally stay shared, so the request's one ledger entry covers every operation.
        context = replace(
            context, loaders={}, operation_named=request_data.operation_name is not None
        )
        # A trusted document named by id becomes the query; GET runs only those.
        request_data, refusal = trusted_document(request_data, context, request_adapter.method)
        # The ledger gate around the route records it before the response leaves.
        operation = capture(request, request_data, context)
        if refusal is None and getattr(request.state, CSV_REQUESTED, False):
            refusal = self.csv_refusal(request, request_data)
        if refusal is not None:
            operation.finish(refusal)
            return refusal
        try:
            result = await super().execute_single(
                request, request_adapter, sub_response, context, root_value, request_data
            )
        except HTTPException as exc:
            if not isinstance(exc.__cause__, CannotGetOperationTypeError):
                raise
            # No operation matches operationName: a request error like a validation
            # failure, answered as GraphQL (a JSON errors list), not as plain text.
            name = request_data.operation_name
            message = exc.reason
            if isinstance(name, str) and len(name) > 100:  # never echo a huge name back
                message = f'Unknown operation named "{name[:100]}...".'
            error = GraphQLError(message, extensions={"code": "BAD_USER_INPUT"})
            result = ExecutionResult(data=None, errors=[error])
        operation.finish(result)
        return result

    def csv_refusal(self, request: Any, request_data: Any) -> ExecutionResult | None:
        """Before a CSV request runs: its columns, or a refusal (406) releasing nothing."""
        fields = (*self.trust.contracts, "labourMarket")
        try:
            shape = csv_shape(
                self.schema._schema,  # type: ignore[attr-defined]
                request_data.query,
                request_data.operation_name,
                request_data.variables,
                fields,
            )
        except NotCsv as exc:
            return ExecutionResult(data=None, errors=[not_acceptable_error(str(exc))])
        setattr(request.state, CSV_SHAPE, shape)
        return None

    async def process_result(self, request: Any, result: ExecutionResult) -> Any:
        response = await super().process_result(request, result)
        if is_request_error(result):
            # Execution never started: the spec wants no data entry at all, and a 400
            # under application/graphql-response+json (set by the route).
            response.pop("data", None)
            setattr(request.state, REQUEST_ERRORS, getattr(request.state, REQUEST_ERRORS, 0) + 1)
        return response


def create_app(settings: Settings) -> Starlette:
    trust = Trust.from_settings(settings)
    graphql_app = TrustGraphQL(trust, allow_queries_via_get=True)  # trusted documents only
    ledger = Ledger.from_config(settings.ledger)
    trust.ledger = ledger
    # policies/ is re-read while the server runs; each request records the set it began with.
    policies = live_policies(trust, graphql_app.schema, ledger)
    provider = provider_keys(settings.auth)  # an identity provider's keys, fetched as needed
    ledger_gate = LedgerGate(
        ledger,
        lambda: {a.id: a.daily_cell_budget for a in trust.policy.agreements.values()},
        proxies=Proxies(settings.server.trusted_proxies),
        policy_version=lambda: trust.policy.version,
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await trust.start()
        await _start_ledger(ledger)
        policies.start()
        # Everything built so far (schema, contracts, policy, libraries) lives as long as
        # the process: moved out of the collector's reach, a full collection scans only
        # what requests made (one used to take ~70 ms in the middle of a large response).
        gc.freeze()
        try:
            yield
        finally:
            await policies.stop()
            await ledger.close()
            await trust.close()
            if exporting:
                tracing.shutdown()  # the spans still batched

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        sources = await trust.readiness()
        failing = sorted(name for name, state in sources.items() if state != "ok")
        body: dict[str, Any] = {"status": "unavailable" if failing else "ok", "sources": sources}
        if failing:
            body["failing"] = failing
        return JSONResponse(body, status_code=503 if failing else 200)

    async def graphql_route(request: Request) -> Response:
        accept = request.headers.get("accept")
        media_type = response_media_type(accept)
        wants_csv = negotiate(accept, (JSON, GRAPHQL_RESPONSE_JSON, CSV)) == CSV
        setattr(request.state, CSV_REQUESTED, wants_csv)
        # Every request is in the ledger before its response leaves (or it gets a 503).
        response = await ledger_gate.guard(request, serve_graphql)
        if wants_csv:
            return as_csv(getattr(request.state, CSV_SHAPE, None), response)
        if media_type == GRAPHQL_RESPONSE_JSON:
            as_graphql_response(request, response)
        return response

    async def serve_graphql(request: Request) -> Response:
        if request.method not in ("GET", "POST"):  # still recorded, as INVALID
            return _method_not_allowed(request.method)
        # A browser asking for the page gets GraphiQL, even with ?query= in its URL
        # (which pre-fills the editor); queries themselves are only accepted by POST.
        if request.method == "GET" and "text/html" in request.headers.get("accept", ""):
            return await graphql_app.render_graphql_ide(request)
        if await _too_large(request, settings.limits.max_body_bytes):
            return _payload_too_large(settings.limits.max_body_bytes)
        if getattr(request.state, CSV_REQUESTED, False) and request._body.lstrip()[:1] == b"[":
            message = "not acceptable as text/csv: a batch has no single table; send one query"
            error = {"message": message, "extensions": {"code": "NOT_ACCEPTABLE"}}
            return JSONResponse({"errors": [error]}, status_code=406)
        try:
            request.state.principal = await authenticate_request(
                request.headers.get("authorization"), settings.auth, provider
            )
        except Unauthenticated as exc:
            return _unauthenticated(exc)
        try:
            return await graphql_app.run(request)
        except HTTPException as exc:
            return _request_error(exc.status_code, exc.reason)

    async def home(request: Request) -> Response:
        return HTMLResponse(await render_catalog(trust))

    async def explore(request: Request) -> Response:
        return HTMLResponse(await render_explorer(trust))

    metrics = Metrics(trust, ledger)
    # Reload counts go into the workers' shared counters as soon as a reload is decided.
    metrics.policy_stats = policies.stats
    policies.on_change = metrics.carry

    async def metrics_route(request: Request) -> Response:
        if not settings.metrics.public:  # counts of denials and budgets are not for anyone
            try:
                principal = await authenticate_request(
                    request.headers.get("authorization"), settings.auth, provider
                )
            except Unauthenticated as exc:
                return _unauthenticated(exc)
            request.state.principal = principal
            if not principal.authenticated:
                return _unauthenticated(
                    Unauthenticated("/metrics needs a bearer token with role operator or auditor")
                )
            decision = trust.policy.allows(principal, "metrics", "scrape", "read")
            if not decision.allowed:
                message = "/metrics needs the role operator or auditor"
                return JSONResponse(
                    {"errors": [{"message": message, "extensions": {"code": "FORBIDDEN"}}]},
                    status_code=403,
                )
        body, content_type = await metrics.render(request.headers.get("accept", ""))
        return Response(body, headers={"Content-Type": content_type})

    exporting = configure_from_env()  # spans to OTEL_EXPORTER_OTLP_ENDPOINT, if set
    middleware = [
        Middleware(TracingMiddleware, routes=METRIC_ROUTES),  # the request's span, outermost
        Middleware(RequestIdMiddleware),  # the id, then the access log line
        Middleware(MetricsMiddleware, metrics=metrics),
    ]
    if settings.server.cors_origins:
        middleware.append(
            Middleware(
                CORSMiddleware,
                allow_origins=list(settings.server.cors_origins),
                allow_methods=["GET", "POST"],
                allow_headers=["Authorization", "Content-Type", "X-Request-Id"],
                expose_headers=["X-Request-Id"],
            )
        )
    app = Starlette(
        routes=[
            Route("/", home),
            Route("/explore", explore),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/metrics", metrics_route),
            # Every method reaches the gate, so a PUT or a DELETE is recorded too.
            Route("/graphql", graphql_route, methods=list(ANY_METHOD)),
            *ledger_http.routes(ledger),
            Mount("/static", StaticFiles(directory=graphiql.STATIC_DIR), name="static"),
        ],
        middleware=middleware,
        lifespan=lifespan,
    )
    app.state.trust = trust
    app.state.ledger = ledger
    app.state.metrics = metrics
    app.state.policies = policies
    app.state.provider_keys = provider
    return app


async def _start_ledger(ledger: Ledger) -> None:
    """A ledger that cannot open yet does not stop the server: it retries on each
    request, and until it can write, `/graphql` answers 503 with no data."""
    try:
        await ledger.start()
    except LedgerUnavailable:
        logging.getLogger("gql_trust.ledger").exception("the ledger is not available yet")


def create_app_from_env() -> Starlette:
    """Factory for `uvicorn --factory` (and `gql-trust serve --workers N`)."""
    return create_app(load_settings(os.environ.get(CONFIG_ENV)))


CSV_REQUESTED = "csv_requested"  # request.state: Accept prefers text/csv
CSV_SHAPE = "csv_shape"  # request.state: the columns of the CSV answer

ANY_METHOD = ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT")


def _method_not_allowed(method: str) -> Response:
    message = f"{method[:20]} is not allowed on /graphql: use POST (or GET for the page)"
    return JSONResponse(
        {"errors": [{"message": message, "extensions": {"code": "METHOD_NOT_ALLOWED"}}]},
        status_code=405,
        headers={"Allow": "GET, POST"},
    )


def _request_error(status: int, reason: str) -> Response:
    """A request error as GraphQL-over-HTTP wants it: a JSON body, never plain text."""
    return JSONResponse({"errors": [{"message": reason}]}, status_code=status)


def _unauthenticated(exc: Unauthenticated) -> Response:
    return JSONResponse(
        {"errors": [{"message": exc.message, "extensions": {"code": exc.code}}]},
        status_code=401,
        headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
    )


async def _too_large(request: Request, limit: int) -> bool:
    """Refuse oversized bodies before parsing: by Content-Length, then by what arrives."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return True
    received = 0
    chunks = []
    async for chunk in request.stream():
        received += len(chunk)
        if received > limit:
            return True
        chunks.append(chunk)
    request._body = b"".join(chunks)  # Starlette reuses a body already read
    return False


def _payload_too_large(limit: int) -> Response:
    message = f"request body is larger than {limit:,} bytes; send a smaller query"
    return JSONResponse(
        {"errors": [{"message": message, "extensions": {"code": "PAYLOAD_TOO_LARGE"}}]},
        status_code=413,
    )


MAX_JSON_DEPTH = 64


def _depth(value: Any) -> int:
    """Nesting depth of parsed JSON, without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        deepest = max(deepest, depth)
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    return deepest
