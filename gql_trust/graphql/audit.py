"""`auditLog`: the extraction ledger, newest first, for the auditor role only."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import strawberry
from strawberry.types import Info

from ..errors import Forbidden, InvalidQuery, LedgerUnavailable
from ..ledger import AuditQuery, Entry, Outcome
from ..ledger.chain import b64
from ..ledger.merkle import leaf_hash
from ..trust import Denial
from .context import RequestContext

DEFAULT_LIMIT, MAX_LIMIT = 100, 1_000

LedgerOutcome = strawberry.enum(
    Outcome,
    name="LedgerOutcome",
    description="What happened to a request: OK, PARTIAL (some data, some refused or failed), "
    "DENIED, INVALID, ERROR, UNAUTHENTICATED or BUDGET_EXCEEDED.",
)


@strawberry.type(description="The fields of one dataset a request read.")
class AuditFieldsRead:
    dataset: str
    fields: list[str]


@strawberry.type(description="A field policy refused, with the rule that decided it.")
class AuditFieldDenied:
    dataset: str
    field: str
    action: str
    rule: str | None
    reason: str


@strawberry.type(description="One statement pushed down to a source.")
class AuditSource:
    source: str
    dataset: str
    sql: str
    rows_read: int


@strawberry.type(description="One ledger entry: one request to /graphql.")
class AuditEntry:
    id: int
    timestamp: str = strawberry.field(description="UTC, ISO 8601.")
    request_id: str | None = strawberry.field(description="The server's id of the request.")
    client_request_id: str | None = strawberry.field(
        description="The X-Request-Id the caller sent, if well-formed (not trusted)."
    )
    client_address: str | None = strawberry.field(
        description="The connection's address, or X-Forwarded-For from a trusted proxy."
    )
    subject: str | None = strawberry.field(description="The token's `sub`; null if none.")
    dept: str | None
    roles: list[str]
    purpose: str | None
    agreement: str | None
    area: str | None = strawberry.field(description="The principal's area claim (row scope).")
    policy_version: str | None = strawberry.field(
        description="SHA-256 of the policy files that decided the request (for a "
        "POLICY_CHANGE: the set that took effect)."
    )
    previous_policy_version: str | None = strawberry.field(
        description="POLICY_CHANGE only: the policy version it replaced."
    )
    transport: str = strawberry.field(
        description="http, or gateway (through federation, from a trusted proxy)."
    )
    operation_name: str | None = strawberry.field(
        description="The executed operation's name, from the parsed document (at most 200 "
        "characters; control characters escaped)."
    )
    query_hash: str | None = strawberry.field(description="SHA-256 of the query text.")
    variables_hash: str | None = strawberry.field(
        description="SHA-256 of the variables' canonical JSON."
    )
    outcome: LedgerOutcome  # type: ignore[valid-type]
    datasets: list[str]
    fields_read: list[AuditFieldsRead]
    fields_denied: list[AuditFieldDenied]
    sources: list[AuditSource]
    cells_returned: int = strawberry.field(description="Non-null cells released.")
    cells_suppressed: int
    cells_perturbed: int
    duration_ms: float
    budgeted: bool = strawberry.field(description="Its cells count against the budget.")
    prev_hash: str
    hash: str = strawberry.field(description="SHA-256 of every other field, prevHash included.")
    leaf_hash: str = strawberry.field(
        description="Its leaf in the ledger's Merkle tree: base64 SHA-256(0x00 || entry "
        "bytes), as in receipts and /ledger/proof."
    )

    @classmethod
    def of(cls, entry: Entry) -> AuditEntry:
        return cls(
            id=entry.id,
            timestamp=entry.timestamp,
            request_id=entry.request_id,
            client_request_id=entry.client_request_id,
            client_address=entry.client_address,
            subject=entry.sub,
            dept=entry.dept,
            roles=list(entry.roles),
            purpose=entry.purpose,
            agreement=entry.agreement,
            area=entry.area,
            policy_version=entry.policy_version,
            previous_policy_version=entry.previous_policy_version,
            transport=entry.transport,
            operation_name=entry.operation_name,
            query_hash=entry.query_hash,
            variables_hash=entry.variables_hash,
            outcome=entry.outcome,
            datasets=list(entry.datasets),
            fields_read=[
                AuditFieldsRead(dataset=d, fields=list(f)) for d, f in entry.fields_read.items()
            ],
            fields_denied=[AuditFieldDenied(**vars(d)) for d in entry.fields_denied],
            sources=[AuditSource(**vars(s)) for s in entry.sources],
            cells_returned=entry.cells_returned,
            cells_suppressed=entry.cells_suppressed,
            cells_perturbed=entry.cells_perturbed,
            duration_ms=entry.duration_ms,
            budgeted=entry.budgeted,
            prev_hash=entry.prev_hash,
            hash=entry.hash,
            leaf_hash=b64(leaf_hash(entry.leaf_bytes())),
        )


@strawberry.input(description="Which entries: every condition given must hold.")
class AuditWhere:
    outcome: list[LedgerOutcome] | None = strawberry.field(  # type: ignore[valid-type]
        default=None, description="Any of these outcomes."
    )
    subject: str | None = None
    dept: str | None = None
    agreement: str | None = None
    since: str | None = strawberry.field(
        default=None, description="From this time (ISO 8601, UTC unless an offset is given)."
    )
    until: str | None = strawberry.field(default=None, description="Before this time.")


async def resolve_audit_log(
    info: Info,
    limit: int | None = None,
    offset: int | None = None,
    where: AuditWhere | None = None,
) -> list[AuditEntry] | None:
    ctx: RequestContext = info.context
    decision = ctx.policy.allows(ctx.principal, "auditLog", "entries", "read")
    if not decision.allowed:
        ctx.trace.denials.append(
            Denial("auditLog", "entries", "read", decision.rule, decision.reason)
        )
        raise Forbidden("not allowed to read auditLog", reason=decision.reason, rule=decision.rule)
    ledger = getattr(getattr(ctx.request, "app", None), "state", None)
    ledger = getattr(ledger, "ledger", None)
    if ledger is None:
        raise LedgerUnavailable("this server has no ledger to read")
    ctx.trace.fields_read.setdefault("auditLog", set()).add("entries")
    query = _query(limit, offset, where)
    try:
        entries = await ledger.entries(query)
    except LedgerUnavailable as exc:
        # The operator's message names the file or database; the caller's does not.
        raise LedgerUnavailable("the ledger cannot be read right now") from exc
    return [AuditEntry.of(e) for e in entries]


def _query(limit: int | None, offset: int | None, where: AuditWhere | None) -> AuditQuery:
    limit = DEFAULT_LIMIT if limit is None else limit
    if not 0 <= limit <= MAX_LIMIT:
        raise InvalidQuery(f"limit must be between 0 and {MAX_LIMIT:,}; got {limit}")
    offset = offset or 0
    if offset < 0:
        raise InvalidQuery(f"offset must be 0 or more; got {offset}")
    where = where or AuditWhere()
    return AuditQuery(
        limit=limit,
        offset=offset,
        outcomes=tuple(Outcome(o).value for o in where.outcome or ()),
        sub=where.subject,
        dept=where.dept,
        agreement=where.agreement,
        since=_instant(where.since, "since"),
        until=_instant(where.until, "until"),
    )


def _instant(value: str | None, name: str) -> str | None:
    """An ISO 8601 time as the ledger writes timestamps (UTC, microseconds, Z)."""
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise InvalidQuery(
            f"where.{name} must be an ISO 8601 time, e.g. 2026-01-31T09:00:00Z; got {value!r}"
        ) from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    except OverflowError as exc:  # e.g. 0001-01-01T00:00:00+14:00 is before year 1 in UTC
        raise InvalidQuery(
            f"where.{name} is outside the years 0001 to 9999 in UTC; got {value!r}"
        ) from exc


def audit_log_field() -> Any:
    return strawberry.field(
        resolver=resolve_audit_log,
        description="The extraction ledger, newest first (auditor role only). limit: entries "
        f"per page (default {DEFAULT_LIMIT}, at most {MAX_LIMIT:,}); offset: entries to skip.",
    )


__all__ = ["AuditEntry", "AuditWhere", "audit_log_field", "resolve_audit_log"]
