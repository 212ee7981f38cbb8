"""What a ledger store does. Two kinds: SQLite (embedded, one host) and PostgreSQL."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from .chain import Pending, Verification
from .entry import Entry
from .rows import AuditQuery


class Sink(Protocol):
    kind: str
    where: str  # for messages: a file path or a database name, never credentials

    async def open(self) -> None:
        """Connect (and create the tables unless read-only)."""

    async def close(self) -> None: ...

    async def append(self, batch: Sequence[Pending]) -> list[Entry]:
        """Reserve budgets and chain the batch in ONE transaction; the sealed entries."""
        ...

    async def entries(self, query: AuditQuery) -> list[Entry]: ...

    async def verify(self) -> Verification: ...

    async def budget_used(self, agreement: str, day: str) -> int: ...
