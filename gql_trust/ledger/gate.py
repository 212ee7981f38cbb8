"""Every request to `/graphql` is recorded before its response leaves, or nothing leaves.

``LedgerGate.guard`` wraps the route. The GraphQL view hands each executed operation
to ``capture``; the gate then classifies the outcome, reserves the agreement's budget
and appends ONE entry for the request. Requests refused before any operation ran (a
bad token, a malformed body, the GraphiQL page) are recorded from the HTTP status.
If the entry cannot be written the caller gets a 503 and no data. Every response that
was recorded carries its receipt: ``extensions.receipt`` in a JSON body (each item of a
batch) and the ``X-Ledger-Receipt`` header (base64 JSON) whatever the body.
"""

from __future__ import annotations

import base64
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ..errors import BudgetExceeded, LedgerUnavailable
from ..tracing import span
from .chain import BudgetClaim, Written
from .entry import Entry, Outcome
from .record import (
    Proxies,
    Requested,
    budget_claim,
    build_entry,
    classify,
    combine,
    timestamp,
)
from .writer import Ledger

log = logging.getLogger("gql_trust.ledger")
OPERATIONS = "ledger_operations"  # request.state: what the GraphQL view executed
ENTRY = "ledger_entry"  # request.state: the entry written (for metrics and logs)
RECEIPT = "ledger_receipt"  # request.state: the entry and the checkpoint that includes it
WRITE_SECONDS = "ledger_write_seconds"  # request.state: time the append took (metrics)
RECEIPT_HEADER = "X-Ledger-Receipt"
_JSON_TYPES = ("application/json", "application/graphql-response+json")


@dataclass
class Operation:
    requested: Requested
    context: Any  # RequestContext: principal, trace, disclosure tally
    errors: list[Any] = field(default_factory=list)
    data: Any = None
    finished: bool = False

    def finish(self, result: Any) -> None:
        self.errors, self.data, self.finished = list(result.errors or ()), result.data, True


def capture(request: Any, request_data: Any, context: Any) -> Operation:
    """Called by the GraphQL view as it starts executing one operation of ``request``
    (so a batch keeps its order); it calls ``finish`` with the result."""
    requested = Requested(request_data.query, request_data.variables, request_data.operation_name)
    operations = getattr(request.state, OPERATIONS, None)
    if operations is None:
        operations = []
        setattr(request.state, OPERATIONS, operations)
    operation = Operation(requested, context)
    operations.append(operation)
    return operation


class LedgerGate:
    def __init__(
        self,
        ledger: Ledger,
        budgets: Callable[[], dict[str, int]],
        *,
        proxies: Proxies | None = None,
        policy_version: Callable[[], str | None] = lambda: None,
    ) -> None:
        self.ledger = ledger
        self.budgets = budgets  # agreement id -> daily cell budget
        self.proxies = proxies or Proxies()
        self.policy_version = policy_version  # of the policy set in force

    def _connection(self, request: Request, context: Any = None) -> dict[str, Any]:
        """What the entry says of the connection: measured, not claimed; and the version
        of the policy set that decided the request (taken when it began)."""
        peer = request.client.host if request.client else None
        decided_by = getattr(getattr(context, "policy", None), "version", None)
        return dict(
            transport=self.proxies.transport(peer, request.headers),
            client_address=self.proxies.client_address(peer, request.headers),
            request_id=getattr(request.state, "request_id", None),
            client_request_id=getattr(request.state, "client_request_id", None),
            policy_version=decided_by or self.policy_version(),
        )

    async def guard(
        self, request: Request, handler: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await self._guard(request, handler)
        written: Written | None = getattr(request.state, RECEIPT, None)
        return response if written is None else with_receipt(response, written)

    async def _guard(
        self, request: Request, handler: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        started = time.perf_counter()
        try:
            response = await handler(request)
        except Exception:
            failed = await self._record_refusal(request, started, Outcome.ERROR)
            if failed is not None:
                return failed
            raise
        operations: list[Operation] = getattr(request.state, OPERATIONS, None) or []
        try:
            if not operations or not all(o.finished for o in operations):
                # Refused before any operation completed: a bad token, body or operation name.
                outcome = _outcome_of_status(response.status_code)
                return await self._record_refusal(request, started, outcome) or response
            return await self._record_operations(request, started, operations, response)
        except Exception:
            if getattr(request.state, ENTRY, None) is not None:
                raise  # recorded already; what failed came after
            # The full entry could not be built: record the bare fact, release nothing.
            log.exception("could not build the ledger entry; no data released")
            bare = Entry(
                timestamp=timestamp(),
                outcome=Outcome.ERROR,
                duration_ms=_ms(started),
                request_id=getattr(request.state, "request_id", None),
            )
            await self._append(request, bare, None)
            return ledger_unavailable()

    async def _record_operations(
        self, request: Request, started: float, operations: list[Operation], response: Response
    ) -> Response:
        context = operations[0].context  # one context per request, shared by a batch
        cells = context.trace.cells
        outcome = combine([classify(o.errors, o.data, cells) for o in operations], cells)
        dry_run = getattr(context, "dry_run", None) is not None
        if dry_run and outcome is not Outcome.INVALID:
            outcome = Outcome.DRY_RUN  # released nothing (its cells are 0): charges nothing
        entry = build_entry(
            outcome=outcome,
            requested=[o.requested for o in operations],
            principal=context.principal,
            duration_ms=_ms(started),
            context=context,
            **self._connection(request, context),
        )
        claim = budget_claim(context.principal, self.budgets(), cells, entry.timestamp[:10])
        if dry_run:
            claim = None
        written = await self._append(request, entry, claim)
        if written is None:
            return ledger_unavailable()
        if written.outcome is Outcome.BUDGET_EXCEEDED:
            assert claim is not None
            return budget_exceeded(claim, batch=len(operations) if len(operations) > 1 else None)
        return response

    async def _record_refusal(
        self, request: Request, started: float, outcome: Outcome
    ) -> Response | None:
        """Record a request no operation ran for; a 503 response if that fails."""
        entry = build_entry(
            outcome=outcome,
            requested=[_requested(request)],
            principal=getattr(request.state, "principal", None),
            duration_ms=_ms(started),
            **self._connection(request),
        )
        return None if await self._append(request, entry, None) else ledger_unavailable()

    async def _append(
        self, request: Request, entry: Entry, claim: BudgetClaim | None
    ) -> Entry | None:
        started = time.perf_counter()
        try:
            with span("ledger commit", outcome=entry.outcome.value):
                written = await self.ledger.append(entry, claim)
        except LedgerUnavailable:
            return None
        finally:
            setattr(request.state, WRITE_SECONDS, time.perf_counter() - started)
        setattr(request.state, ENTRY, written.entry)
        setattr(request.state, RECEIPT, written)
        return written.entry


def with_receipt(response: Response, written: Written) -> Response:
    """The response with its receipt: in every JSON body's extensions, and in a header."""
    receipt = written.receipt()
    response.headers[RECEIPT_HEADER] = base64.b64encode(orjson.dumps(receipt)).decode()
    content_type = response.headers.get("content-type", "")
    body = getattr(response, "body", None)
    if not body or not content_type.startswith(_JSON_TYPES):
        return response
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        return response
    for item in parsed if isinstance(parsed, list) else [parsed]:
        if isinstance(item, dict):
            extensions = item.get("extensions")
            if not isinstance(extensions, dict):
                extensions = item["extensions"] = {}
            extensions["receipt"] = receipt
    response.body = orjson.dumps(parsed)
    response.headers["content-length"] = str(len(response.body))
    return response


def _outcome_of_status(status: int) -> Outcome:
    if status == 401:
        return Outcome.UNAUTHENTICATED
    if status >= 500:
        return Outcome.ERROR
    if status >= 400:
        return Outcome.INVALID
    return Outcome.OK  # e.g. the GraphiQL page


def _requested(request: Request) -> Requested:
    """Best effort: what a request refused before execution asked for (for its hashes).
    Only a body already read is parsed: an oversized one is never read to record it."""
    if request.method == "GET":
        return Requested.from_json(dict(request.query_params))
    body = getattr(request, "_body", None)  # Starlette keeps a body once read
    if not body:
        return Requested()
    try:
        return Requested.from_json(json.loads(body))
    except (ValueError, RecursionError):  # not JSON, not UTF-8: nothing more to record
        return Requested()


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000


def ledger_unavailable() -> Response:
    error = LedgerUnavailable(
        "ledger unavailable: the request could not be recorded, so no data was released"
    )
    return JSONResponse(
        {"errors": [{"message": error.message, "extensions": error.extensions}]},
        status_code=503,
        headers={"Retry-After": "5"},
    )


def budget_exceeded(claim: BudgetClaim, batch: int | None = None) -> Response:
    error = BudgetExceeded(
        f"agreement {claim.agreement} allows {claim.limit:,} cells a day (UTC); releasing "
        f"this result ({claim.cells:,} cells) would exceed it, so no data was released",
        agreement=claim.agreement,
        dailyCellBudget=claim.limit,
    )
    body = {"data": None, "errors": [{"message": error.message, "extensions": error.extensions}]}
    return JSONResponse(body if batch is None else [body] * batch)
