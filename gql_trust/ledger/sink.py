"""What a ledger store does. Two kinds: SQLite (embedded, one host) and PostgreSQL."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from ..disclosure.dp import Draw, Granted
from . import merkle
from .chain import Commit, Pending, Verification
from .entry import Entry
from .rows import AuditQuery


class Sink(Protocol):
    kind: str
    where: str  # for messages: a file path or a database name, never credentials

    async def open(self) -> None:
        """Connect (and create the tables unless read-only)."""

    async def close(self) -> None: ...

    async def append(self, batch: Sequence[Pending]) -> Commit:
        """Reserve budgets, chain the batch, grow the tree and sign its checkpoint, in ONE
        transaction; what was written."""
        ...

    async def checkpoint(self) -> str | None:
        """The newest signed checkpoint (None before the first entry)."""
        ...

    async def nodes(self, wanted: Sequence[merkle.Node]) -> dict[merkle.Node, bytes]:
        """The stored complete subtrees asked for (those that exist)."""
        ...

    async def entries(self, query: AuditQuery) -> list[Entry]: ...

    async def verify(self) -> Verification: ...

    async def budget_used(self, agreement: str, day: str) -> int: ...

    async def reserve_privacy(self, draw: Draw) -> Granted:
        """Charge a zCDP release's new cells and keep their values, in one transaction."""
        ...
