"""The table shape both sinks share: one column per entry field, lists as canonical JSON."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from .entry import Entry, FieldDenied, Outcome, SourceRead, canonical_json

ENTRIES = "ledger_entries"
HEAD = "ledger_head"
BUDGETS = "ledger_budgets"
TREE = "ledger_tree"  # (level, idx) -> hash of every complete subtree (merkle.py)
CHECKPOINTS = "ledger_checkpoints"  # size -> the signed checkpoint of each commit

# (column, SQL type); the same names and order in SQLite and PostgreSQL.
COLUMNS: tuple[tuple[str, str], ...] = (
    ("id", "{id_type} PRIMARY KEY"),
    ("timestamp", "TEXT NOT NULL"),
    ("request_id", "TEXT"),
    ("client_request_id", "TEXT"),
    ("client_address", "TEXT"),
    ("sub", "TEXT"),
    ("dept", "TEXT"),
    ("roles", "TEXT NOT NULL"),
    ("purpose", "TEXT"),
    ("agreement", "TEXT"),
    ("area", "TEXT"),
    ("policy_version", "TEXT"),
    ("transport", "TEXT NOT NULL"),
    ("operation_name", "TEXT"),
    ("query_hash", "TEXT"),
    ("variables_hash", "TEXT"),
    ("datasets", "TEXT NOT NULL"),
    ("fields_read", "TEXT NOT NULL"),
    ("fields_denied", "TEXT NOT NULL"),
    ("sources", "TEXT NOT NULL"),
    ("cells_returned", "BIGINT NOT NULL"),
    ("cells_suppressed", "BIGINT NOT NULL"),
    ("cells_perturbed", "BIGINT NOT NULL"),
    ("duration_ms", "DOUBLE PRECISION NOT NULL"),
    ("budgeted", "INTEGER NOT NULL"),
    ("outcome", "TEXT NOT NULL"),
    ("prev_hash", "TEXT NOT NULL"),
    ("hash", "TEXT NOT NULL"),
    ("previous_policy_version", "TEXT"),  # added later: ledgers made before get it by ALTER
)
NAMES = tuple(name for name, _ in COLUMNS)
_JSON = {"roles", "datasets", "fields_read", "fields_denied", "sources"}


def create_statements(id_type: str) -> list[str]:
    """``id_type``: SQLite's INTEGER (the rowid itself) or PostgreSQL's BIGINT."""
    columns = ", ".join(f"{name} {kind.format(id_type=id_type)}" for name, kind in COLUMNS)
    return [
        f"CREATE TABLE IF NOT EXISTS {ENTRIES} ({columns})",
        f"CREATE INDEX IF NOT EXISTS {ENTRIES}_timestamp ON {ENTRIES} (timestamp)",
        # One row: the last entry, read and updated in every append transaction.
        f"CREATE TABLE IF NOT EXISTS {HEAD} (one INTEGER PRIMARY KEY CHECK (one = 1), "
        "last_id BIGINT NOT NULL, last_hash TEXT NOT NULL)",
        f"CREATE TABLE IF NOT EXISTS {BUDGETS} (agreement TEXT NOT NULL, day TEXT NOT NULL, "
        "cells BIGINT NOT NULL, PRIMARY KEY (agreement, day))",
        f"CREATE TABLE IF NOT EXISTS {TREE} (level INTEGER NOT NULL, idx BIGINT NOT NULL, "
        "hash TEXT NOT NULL, PRIMARY KEY (level, idx))",
        f"CREATE TABLE IF NOT EXISTS {CHECKPOINTS} (size BIGINT PRIMARY KEY, "
        "root TEXT NOT NULL, note TEXT NOT NULL)",
    ]


def to_row(entry: Entry) -> tuple[Any, ...]:
    body = entry.body()
    body["hash"] = entry.hash
    body["budgeted"] = int(entry.budgeted)
    return tuple(canonical_json(body[n]) if n in _JSON else body.get(n) for n in NAMES)


LATEST_POLICY_CHANGE = (
    f"SELECT policy_version FROM {ENTRIES} WHERE outcome = 'POLICY_CHANGE' ORDER BY id DESC LIMIT 1"
)


def add_column_statement(if_not_exists: bool) -> str:
    """The column a ledger made before ``previous_policy_version`` lacks."""
    guard = "IF NOT EXISTS " if if_not_exists else ""
    return f"ALTER TABLE {ENTRIES} ADD COLUMN {guard}previous_policy_version TEXT"


@dataclass(frozen=True)
class Unreadable:
    """A stored row that is not an entry at all (edited into another shape)."""

    id: Any
    problem: str


def read_rows(rows: Iterable[Sequence[Any]]) -> Iterator[Entry | Unreadable]:
    for row in rows:
        try:
            yield from_row(row)
        except (TypeError, ValueError, KeyError) as exc:
            yield Unreadable(row[0], f"it is not a well-formed entry ({exc})")


def from_row(row: Sequence[Any]) -> Entry:
    values = dict(zip(NAMES, row, strict=True))
    for name in _JSON:
        values[name] = json.loads(values[name])
    for name in ("id", "cells_returned", "cells_suppressed", "cells_perturbed", "budgeted"):
        if type(values[name]) is not int:
            raise ValueError(f"{name} is not an integer")
    if values["budgeted"] not in (0, 1):
        raise ValueError("budgeted is not 0 or 1")
    return Entry(
        **{
            **values,
            "outcome": Outcome(values["outcome"]),
            "roles": tuple(values["roles"]),
            "datasets": tuple(values["datasets"]),
            "fields_read": {k: tuple(v) for k, v in values["fields_read"].items()},
            "fields_denied": tuple(FieldDenied(**d) for d in values["fields_denied"]),
            "sources": tuple(SourceRead(**s) for s in values["sources"]),
            "duration_ms": float(values["duration_ms"]),
            "budgeted": values["budgeted"] == 1,
        }
    )


@dataclass(frozen=True)
class AuditQuery:
    """A page of entries, newest first, optionally filtered."""

    limit: int = 100
    offset: int = 0
    outcomes: tuple[str, ...] = ()
    sub: str | None = None
    dept: str | None = None
    agreement: str | None = None
    since: str | None = None  # inclusive, canonical timestamp text
    until: str | None = None  # exclusive

    def sql(self, placeholder: Callable[[int], str]) -> tuple[str, list[Any]]:
        conditions, params = [], []

        def param(value: Any) -> str:
            params.append(value)
            return placeholder(len(params))

        if self.outcomes:
            conditions.append(f"outcome IN ({', '.join(param(o) for o in self.outcomes)})")
        for column, value in (
            ("sub", self.sub),
            ("dept", self.dept),
            ("agreement", self.agreement),
        ):
            if value is not None:
                conditions.append(f"{column} = {param(value)}")
        if self.since is not None:
            conditions.append(f"timestamp >= {param(self.since)}")
        if self.until is not None:
            conditions.append(f"timestamp < {param(self.until)}")
        where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
        page = f" LIMIT {param(self.limit)} OFFSET {param(self.offset)}"
        return f"SELECT {', '.join(NAMES)} FROM {ENTRIES}{where} ORDER BY id DESC{page}", params
