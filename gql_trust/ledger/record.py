"""Build a request's ledger entry from what it asked, who asked, and what happened."""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from ..identity import Principal
from .chain import BudgetClaim
from .entry import (
    Entry,
    FieldDenied,
    Outcome,
    SourceRead,
    canonical_json,
    clean,
    operation_name,
    sha256_text,
)

TRANSPORT_HEADER = "x-gql-trust-transport"
# Codes of failures on the trust's side; any other code is the caller's doing.
FAILURE_CODES = frozenset(
    {"INTERNAL", "CONFIG_ERROR", "SOURCE_UNAVAILABLE", "SOURCE_TIMEOUT", "LEDGER_UNAVAILABLE"}
)
_NAMED_OPERATION = re.compile(
    r"^(?:\s|,|#[^\n]*\n)*(?:query|mutation|subscription)\s+([_A-Za-z]\w*)"
)


@dataclass(frozen=True)
class Requested:
    """The operation as the caller sent it."""

    query: str | None = None
    variables: Any = None
    operation_name: Any = None

    @classmethod
    def from_json(cls, data: Any) -> Requested:
        if not isinstance(data, Mapping):
            return cls()
        query = data.get("query")
        variables = data.get("variables")
        if isinstance(variables, str):  # GET puts them in the URL as JSON text
            with contextlib.suppress(ValueError):
                variables = json.loads(variables)
        return cls(query if isinstance(query, str) else None, variables, data.get("operationName"))

    @property
    def name(self) -> str | None:
        """The operationName sent, else the first operation's own name (escaped, cut)."""
        if self.operation_name is not None:
            return operation_name(self.operation_name)
        match = _NAMED_OPERATION.match(self.query or "")
        return operation_name(match.group(1)) if match else None


def timestamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def transport(headers: Mapping[str, str]) -> str:
    """ "gateway" when a federation gateway says it forwarded the request, else "http"."""
    return "gateway" if headers.get(TRANSPORT_HEADER, "").strip().lower() == "gateway" else "http"


def build_entry(
    *,
    outcome: Outcome,
    requested: Sequence[Requested],
    principal: Principal | None,
    transport: str,
    duration_ms: float,
    context: Any = None,
    request_id: Any = None,
) -> Entry:
    """``context``: the GraphQL request context (trace, disclosure) when an operation ran."""
    names = [n for n in (r.name for r in requested) if n is not None]
    queries = [r.query for r in requested if r.query is not None]
    entry = Entry(
        timestamp=timestamp(),
        outcome=outcome,
        transport=transport,
        request_id=clean(request_id),
        operation_name=", ".join(names) if names else None,
        query_hash=_hash_queries(queries),
        variables_hash=_hash_variables([r.variables for r in requested]) if requested else None,
        duration_ms=round(duration_ms, 3),
    )
    if principal is not None and principal.authenticated:
        entry = _with_principal(entry, principal)
    return _with_trace(entry, context) if context is not None else entry


def _with_principal(entry: Entry, principal: Principal) -> Entry:
    return replace(
        entry,
        sub=clean(principal.sub),
        dept=clean(principal.dept),
        roles=tuple(clean(r) or "" for r in principal.roles),
        purpose=clean(principal.purpose),
        agreement=clean(principal.agreement),
    )


def _with_trace(entry: Entry, context: Any) -> Entry:
    trace, tally = context.trace, context.disclosure
    denied = tuple(
        FieldDenied(d.dataset, d.field, d.action, clean(d.rule), clean(d.reason) or "")
        for d in trace.denials
    )
    read = {dataset: tuple(sorted(names)) for dataset, names in sorted(trace.fields_read.items())}
    return replace(
        entry,
        datasets=tuple(sorted(set(read) | {d.dataset for d in denied})),
        fields_read=read,
        fields_denied=denied,
        sources=tuple(SourceRead(c.source, c.dataset, c.sql, c.rows) for c in trace.calls),
        cells_returned=trace.cells,
        cells_suppressed=tally.suppressed,
        cells_perturbed=tally.perturbed,
    )


def _hash_queries(queries: list[str]) -> str | None:
    if not queries:
        return None
    return sha256_text(queries[0] if len(queries) == 1 else canonical_json(queries))


def _hash_variables(variables: list[Any]) -> str:
    values = [v if v is not None else {} for v in variables]
    try:
        text = canonical_json(values[0] if len(values) == 1 else values)
    except (TypeError, ValueError, RecursionError):  # cannot happen for JSON-decoded values
        text = "null"
    return sha256_text(text)


def classify(errors: Sequence[Any], data: Any, cells: int) -> Outcome:
    """One operation's outcome from its result (as the caller gets it) and cells released."""
    if not errors:
        return Outcome.OK
    if cells > 0:
        return Outcome.PARTIAL
    codes = {(e.extensions or {}).get("code") for e in errors}
    if "FORBIDDEN" in codes:
        return Outcome.DENIED
    if data is None and all(e.path is None for e in errors):
        return Outcome.INVALID  # refused before execution: parse, validation, limits
    masked = any(e.path is not None and not (e.extensions or {}).get("code") for e in errors)
    if masked or codes & FAILURE_CODES:
        return Outcome.ERROR
    return Outcome.INVALID


def combine(outcomes: Sequence[Outcome], cells: int) -> Outcome:
    """A batch of operations in one request: one outcome."""
    if len(set(outcomes)) == 1:
        return outcomes[0]
    if cells > 0:
        return Outcome.PARTIAL
    for worst in (Outcome.ERROR, Outcome.DENIED, Outcome.INVALID):
        if worst in outcomes:
            return worst
    return Outcome.OK


def budget_claim(
    principal: Principal | None, budgets: Mapping[str, int], cells: int, day: str
) -> BudgetClaim | None:
    """Only principals presenting a known agreement are budgeted."""
    if principal is None or not principal.agreement or principal.agreement not in budgets:
        return None
    return BudgetClaim(principal.agreement, day, cells, budgets[principal.agreement])
