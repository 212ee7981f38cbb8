"""The embedded sink: one SQLite file in WAL mode, shared by every worker process.

Each append is one ``BEGIN IMMEDIATE`` transaction (SQLite's single writer lock, held
across processes) that reads the head, reserves budgets and writes the batch: so
workers append to one unbroken chain, and a batch costs one fsync, not one per entry.
All work runs on one thread of its own, off the event loop.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

from ..errors import LedgerUnavailable
from .chain import Head, Pending, Verification, budget_keys, link, verify
from .entry import Entry
from .rows import (
    BUDGETS,
    ENTRIES,
    HEAD,
    NAMES,
    AuditQuery,
    create_statements,
    from_row,
    read_rows,
    to_row,
)

T = TypeVar("T")
BUSY_TIMEOUT_S = 30.0  # how long an append waits for another process's transaction


class SqliteSink:
    kind = "sqlite"

    def __init__(self, path: Path, *, read_only: bool = False) -> None:
        self.path = Path(path)
        self.where = str(self.path)
        self.read_only = read_only
        self._conn: sqlite3.Connection | None = None
        self._thread: ThreadPoolExecutor | None = None

    async def _run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        if self._thread is None or self._conn is None:
            raise LedgerUnavailable(f"the ledger {self.where} is not open")
        conn = self._conn
        return await asyncio.get_running_loop().run_in_executor(self._thread, work, conn)

    async def open(self) -> None:
        if self._conn is not None:
            return
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ledger-sqlite")
        try:
            loop = asyncio.get_running_loop()
            self._conn = await loop.run_in_executor(self._thread, self._connect)
        except BaseException:
            self._thread.shutdown(wait=False)
            self._thread = None
            raise

    def _connect(self) -> sqlite3.Connection:
        if self.read_only:
            if not self.path.is_file():
                raise LedgerUnavailable(f"there is no ledger at {self.path}")
            # Read-only: verification while servers keep appending (WAL readers never block).
            uri = f"file:{quote(str(self.path.resolve()))}?mode=ro"
            return sqlite3.connect(
                uri, uri=True, isolation_level=None, timeout=BUSY_TIMEOUT_S, check_same_thread=False
            )
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(
            self.path, isolation_level=None, timeout=BUSY_TIMEOUT_S, check_same_thread=False
        )
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")  # a committed entry survives power loss
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in create_statements("INTEGER"):
                conn.execute(statement)
            conn.execute(
                f"INSERT OR IGNORE INTO {HEAD} (one, last_id, last_hash) VALUES (1, ?, ?)",
                (Head().id, Head().hash),
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            conn.close()
            raise
        return conn

    async def close(self) -> None:
        if self._conn is None or self._thread is None:
            return
        conn, thread = self._conn, self._thread
        self._conn = self._thread = None
        await asyncio.get_running_loop().run_in_executor(thread, conn.close)
        thread.shutdown(wait=True)

    async def append(self, batch: Sequence[Pending]) -> list[Entry]:
        return await self._run(lambda conn: _append(conn, batch))

    async def entries(self, query: AuditQuery) -> list[Entry]:
        sql, params = query.sql(lambda _: "?")
        return await self._run(lambda conn: [from_row(r) for r in conn.execute(sql, params)])

    async def verify(self) -> Verification:
        return await self._run(_verify)

    async def budget_used(self, agreement: str, day: str) -> int:
        return await self._run(
            lambda conn: _used(conn, [(agreement, day)]).get((agreement, day), 0)
        )


def _append(conn: sqlite3.Connection, batch: Sequence[Pending]) -> list[Entry]:
    conn.execute("BEGIN IMMEDIATE")  # the write lock first: the head cannot move under us
    try:
        last_id, last_hash = conn.execute(f"SELECT last_id, last_hash FROM {HEAD}").fetchone()
        used = _used(conn, budget_keys(batch))
        entries, budgets = link(batch, Head(last_id, last_hash), used)
        marks = ", ".join("?" for _ in NAMES)
        conn.executemany(
            f"INSERT INTO {ENTRIES} ({', '.join(NAMES)}) VALUES ({marks})",
            [to_row(e) for e in entries],
        )
        conn.execute(
            f"UPDATE {HEAD} SET last_id = ?, last_hash = ?", (entries[-1].id, entries[-1].hash)
        )
        conn.executemany(
            f"INSERT INTO {BUDGETS} (agreement, day, cells) VALUES (?, ?, ?) "
            "ON CONFLICT (agreement, day) DO UPDATE SET cells = excluded.cells",
            [(agreement, day, cells) for (agreement, day), cells in budgets.items()],
        )
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return entries


def _used(conn: sqlite3.Connection, keys: list[tuple[str, str]]) -> dict[tuple[str, str], int]:
    used = {}
    for agreement, day in keys:
        row = conn.execute(
            f"SELECT cells FROM {BUDGETS} WHERE agreement = ? AND day = ?", (agreement, day)
        ).fetchone()
        used[(agreement, day)] = int(row[0]) if row else 0
    return used


def _verify(conn: sqlite3.Connection) -> Verification:
    conn.execute("BEGIN")  # one snapshot: appends by running servers are not seen half-way
    try:
        row = conn.execute(f"SELECT last_id, last_hash FROM {HEAD}").fetchone()
        head = Head(*row) if row else None
        rows: Any = conn.execute(f"SELECT {', '.join(NAMES)} FROM {ENTRIES} ORDER BY id")
        return verify(read_rows(rows), head)
    finally:
        conn.execute("COMMIT")
