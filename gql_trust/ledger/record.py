"""Build a request's ledger entry from what it asked, who asked, and what happened."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import ipaddress
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from graphql import GraphQLError, OperationDefinitionNode, parse

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
MAX_TOKENS = 10_000  # a document longer than this is refused anyway; not parsed to name it


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
        """The name of the operation the document executes (GraphQL's own rules: the one
        ``operationName`` selects, else the only one), from the parsed document; None when
        there is none (anonymous, unparsable, or no operation of that name)."""
        if self.query is None:
            return None
        if self.operation_name is not None and not isinstance(self.operation_name, str):
            return None
        return operation_name(executed_operation(self.query, self.operation_name))


@functools.lru_cache(maxsize=1_024)
def executed_operation(query: str, selected: str | None) -> str | None:
    try:
        document = parse(query, no_location=True, max_tokens=MAX_TOKENS)
    except (GraphQLError, RecursionError):
        return None
    names = [
        d.name.value if d.name else None
        for d in document.definitions
        if isinstance(d, OperationDefinitionNode)
    ]
    if selected is None:
        return names[0] if len(names) == 1 else None
    return selected if selected in names else None


def timestamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Proxies:
    """``[server] trusted_proxies``: the only peers whose forwarding headers count."""

    def __init__(self, networks: Sequence[str] = ()) -> None:
        self.networks = tuple(ipaddress.ip_network(n, strict=False) for n in networks)

    def trusts(self, address: str | None) -> bool:
        if not self.networks or address is None:
            return False
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self.networks)

    def client_address(self, peer: str | None, headers: Mapping[str, str]) -> str | None:
        """The connection's address; through trusted proxies, the nearest address in
        X-Forwarded-For that is not one of them (the rest a caller could have written)."""
        address = peer
        if not self.trusts(address):
            return clean(address)
        hops = [h.strip() for h in headers.get("x-forwarded-for", "").split(",") if h.strip()]
        for hop in reversed(hops):
            address = hop
            if not self.trusts(hop):
                break
        return clean(address[:64]) if address is not None else None

    def transport(self, peer: str | None, headers: Mapping[str, str]) -> str:
        """ "gateway" when a trusted proxy (the federation gateway) says it forwarded the
        request; a caller's own header claims nothing."""
        claimed = headers.get(TRANSPORT_HEADER, "").strip().lower() == "gateway"
        return "gateway" if claimed and self.trusts(peer) else "http"


def transport(headers: Mapping[str, str]) -> str:
    """The transport a header claims, believed from nobody (kept for callers without a
    connection; the gate uses ``Proxies.transport``)."""
    return Proxies().transport(None, headers)


def policy_version(directory: Path) -> str:
    """SHA-256 over the policy files (name and content, in name order) in force."""
    digest = hashlib.sha256()
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        name = path.relative_to(directory).as_posix().encode()
        content = path.read_bytes()
        digest.update(len(name).to_bytes(8, "big") + name)
        digest.update(len(content).to_bytes(8, "big") + content)
    return digest.hexdigest()


def build_entry(
    *,
    outcome: Outcome,
    requested: Sequence[Requested],
    principal: Principal | None,
    transport: str,
    duration_ms: float,
    context: Any = None,
    request_id: Any = None,
    client_request_id: Any = None,
    client_address: str | None = None,
    policy_version: str | None = None,
) -> Entry:
    """``context``: the GraphQL request context (trace, disclosure) when an operation ran."""
    names = [n for n in (r.name for r in requested) if n is not None]
    queries = [r.query for r in requested if r.query is not None]
    entry = Entry(
        timestamp=timestamp(),
        outcome=outcome,
        transport=transport,
        request_id=clean(request_id),
        client_request_id=clean(client_request_id),
        client_address=client_address,
        policy_version=policy_version,
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
        area=clean(principal.area),
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
