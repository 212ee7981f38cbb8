"""A ledger entry: what one request to `/graphql` asked for, read, was refused and released.

Entries are plain data. ``hash`` is SHA-256 over the canonical JSON of every other field
(``prev_hash`` and ``id`` included), so changing any stored value breaks the chain. Those
same bytes are the entry's leaf in the Merkle tree: leaf hash SHA-256(0x00 || bytes).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field, fields, replace
from enum import StrEnum
from typing import Any

GENESIS = "0" * 64  # prev_hash of the first entry
MAX_OPERATION_NAME = 200


class Outcome(StrEnum):
    OK = "OK"
    PARTIAL = "PARTIAL"  # some data released, some fields refused or failed
    DENIED = "DENIED"  # policy refused everything asked for
    INVALID = "INVALID"  # not a valid request: parse, validation, arguments, HTTP
    ERROR = "ERROR"  # the trust or a source failed
    UNAUTHENTICATED = "UNAUTHENTICATED"  # a bad token: no principal
    BUDGET_EXCEEDED = "BUDGET_EXCEEDED"  # the agreement's daily cell budget would be exceeded
    DRY_RUN = "DRY_RUN"  # said what would be released; released and charged nothing
    POLICY_CHANGE = "POLICY_CHANGE"  # a new policy set took effect (not a request)


@dataclass(frozen=True)
class SourceRead:
    """One statement pushed down to a source."""

    source: str
    dataset: str
    sql: str
    rows_read: int


@dataclass(frozen=True)
class FieldDenied:
    dataset: str
    field: str
    action: str
    rule: str | None
    reason: str


@dataclass(frozen=True)
class Entry:
    timestamp: str  # UTC, ISO 8601 with microseconds and a Z
    outcome: Outcome
    transport: str = "http"  # "gateway" only from a trusted proxy (an authenticated gateway)
    request_id: str | None = None  # the server's own
    client_request_id: str | None = None  # the caller's X-Request-Id, as sent (escaped)
    client_address: str | None = None  # the connection's, or X-Forwarded-For from a proxy
    sub: str | None = None
    dept: str | None = None
    roles: tuple[str, ...] = ()
    purpose: str | None = None
    agreement: str | None = None
    area: str | None = None  # the principal's row scope (a local authority officer's area)
    policy_version: str | None = None  # SHA-256 of the policy files that decided it
    operation_name: str | None = None
    query_hash: str | None = None
    variables_hash: str | None = None
    datasets: tuple[str, ...] = ()
    fields_read: dict[str, tuple[str, ...]] = field(default_factory=dict)
    fields_denied: tuple[FieldDenied, ...] = ()
    sources: tuple[SourceRead, ...] = ()
    cells_returned: int = 0
    cells_suppressed: int = 0
    cells_perturbed: int = 0
    duration_ms: float = 0.0
    budgeted: bool = False  # its cells count against its agreement's daily budget
    # POLICY_CHANGE only: the version replaced (policy_version is the one now in force).
    previous_policy_version: str | None = None
    # Assigned by the writer, inside the append transaction:
    id: int = 0
    prev_hash: str = ""
    hash: str = ""

    def body(self) -> dict[str, Any]:
        """Every field but ``hash``, as JSON-ready values: what the hash covers."""
        data = {name: getattr(self, name) for name in _BODY}
        if self.previous_policy_version is None:  # entries from before it existed hash alike
            del data["previous_policy_version"]
        data["outcome"] = self.outcome.value
        data["roles"] = list(self.roles)
        data["datasets"] = list(self.datasets)
        data["fields_read"] = {k: list(v) for k, v in self.fields_read.items()}
        data["fields_denied"] = [dict(vars(d)) for d in self.fields_denied]
        data["sources"] = [dict(vars(s)) for s in self.sources]
        return data

    def compute_hash(self) -> str:
        return _sha256(self.body())

    def leaf_bytes(self) -> bytes:
        """What the Merkle leaf commits to: the bytes ``hash`` is the SHA-256 of."""
        return canonical_json(self.body()).encode("ascii")

    def sealed(self, id: int, prev_hash: str) -> Entry:
        """This entry at position ``id`` after an entry whose hash is ``prev_hash``."""
        body = self.body()
        body["id"], body["prev_hash"] = id, prev_hash
        return replace(self, id=id, prev_hash=prev_hash, hash=_sha256(body))

    def refused_by_budget(self) -> Entry:
        """Nothing was released: the request would have exceeded its agreement's budget."""
        return replace(
            self,
            outcome=Outcome.BUDGET_EXCEEDED,
            cells_returned=0,
            cells_suppressed=0,
            cells_perturbed=0,
        )


_BODY = tuple(f.name for f in fields(Entry) if f.name != "hash")


_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def canonical_json(value: Any) -> str:
    """Sorted keys, no spaces, ASCII only (lone surrogates and all): one text per value."""
    return _CANONICAL.encode(value)


def _sha256(body: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_json(body).encode("ascii")).hexdigest()


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


# Everything escape_text rewrites; most values (names, roles, ids) contain none of it.
_ESCAPED = re.compile(r"[\\\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")


def escape_text(value: str) -> str:
    """Backslash and control characters escaped (``\\n``, ``\\u2028``, ...), so a value
    can never start a new line or a forged record wherever the ledger is printed."""
    if _ESCAPED.search(value) is None:
        return value
    out = []
    for char in value:
        code = ord(char)
        if char == "\\":
            out.append("\\\\")
        elif char == "\n":
            out.append("\\n")
        elif char == "\r":
            out.append("\\r")
        elif char == "\t":
            out.append("\\t")
        elif (
            code < 0x20
            or 0x7F <= code <= 0x9F
            or code in (0x2028, 0x2029)
            or 0xD800 <= code <= 0xDFFF
        ):
            out.append(f"\\u{code:04x}")
        else:
            out.append(char)
    return "".join(out)


def clean(value: Any) -> str | None:
    """A caller-supplied value (a claim, a name) as safe text, or None."""
    return None if value is None else escape_text(str(value))


def operation_name(value: Any) -> str | None:
    """At most 200 characters of the caller's operation name, escaped."""
    return None if value is None else escape_text(str(value)[:MAX_OPERATION_NAME])
