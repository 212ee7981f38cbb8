"""The embedded sink: one SQLite file in WAL mode, shared by every worker process.

Each append is one ``BEGIN IMMEDIATE`` transaction (SQLite's single writer lock, held
across processes) that reads the head and the tree's frontier, reserves budgets, writes
the batch, its tree nodes and one signed checkpoint: so workers append to one unbroken
chain and one tree, and a batch costs one fsync and one signature, not one per entry.
All work runs on one thread of its own, off the event loop.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

from ..disclosure.dp import Draw, Granted
from ..errors import LedgerUnavailable
from . import merkle, privacy
from .chain import (
    Commit,
    Head,
    Pending,
    Stored,
    TreeMissing,
    Verification,
    budget_keys,
    seal,
    verify,
)
from .entry import Entry, Outcome
from .note import Signer, Verifier
from .rows import (
    BUDGETS,
    CHECKPOINTS,
    ENTRIES,
    HEAD,
    LATEST_POLICY_CHANGE,
    NAMES,
    TREE,
    AuditQuery,
    add_column_statement,
    create_statements,
    from_row,
    read_rows,
    to_row,
)

T = TypeVar("T")
BUSY_TIMEOUT_S = 30.0  # how long an append waits for another process's transaction


class SqliteSink:
    kind = "sqlite"

    def __init__(
        self,
        path: Path,
        *,
        read_only: bool = False,
        signer: Signer | None = None,
        verifier: Verifier | None = None,
    ) -> None:
        self.path = Path(path)
        self.where = str(self.path)
        self.read_only = read_only
        self.signer = signer or Signer.generate("gql-trust.demo/ledger")
        self.verifier = verifier or (signer.verifier if signer else None)
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
            columns = {row[1] for row in conn.execute(f"PRAGMA table_info({ENTRIES})")}
            if "previous_policy_version" not in columns:
                conn.execute(add_column_statement(if_not_exists=False))
            # A new ledger gets its head; one whose head was deleted does not get a new one
            # (appending would reuse ids and fork the tree): it stays unwritable.
            conn.execute(
                f"INSERT INTO {HEAD} (one, last_id, last_hash) SELECT 1, ?, ? "
                f"WHERE NOT EXISTS (SELECT 1 FROM {HEAD}) "
                f"AND NOT EXISTS (SELECT 1 FROM {ENTRIES}) "
                f"AND NOT EXISTS (SELECT 1 FROM {CHECKPOINTS})",
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

    async def append(self, batch: Sequence[Pending]) -> Commit:
        return await self._run(lambda conn: _append(conn, batch, self.signer))

    async def checkpoint(self) -> str | None:
        return await self._run(_newest_checkpoint)

    async def nodes(self, wanted: Sequence[merkle.Node]) -> dict[merkle.Node, bytes]:
        return await self._run(lambda conn: _nodes(conn, wanted))

    async def entries(self, query: AuditQuery) -> list[Entry]:
        sql, params = query.sql(lambda _: "?")
        return await self._run(lambda conn: [from_row(r) for r in conn.execute(sql, params)])

    async def verify(self) -> Verification:
        return await self._run(lambda conn: _verify(conn, self.verifier))

    async def reserve_privacy(self, draw: Draw) -> Granted:
        return await self._run(lambda conn: privacy.reserve_sqlite(conn, draw))

    async def budget_used(self, agreement: str, day: str) -> int:
        return await self._run(
            lambda conn: _used(conn, [(agreement, day)]).get((agreement, day), 0)
        )


def _append(conn: sqlite3.Connection, batch: Sequence[Pending], signer: Signer) -> Commit:
    conn.execute("BEGIN IMMEDIATE")  # the write lock first: the head cannot move under us
    try:
        row = conn.execute(f"SELECT last_id, last_hash FROM {HEAD}").fetchone()
        if row is None:
            raise TreeMissing("the ledger head is missing")
        head = Head(*row)
        (signed,) = conn.execute(f"SELECT COALESCE(MAX(size), 0) FROM {CHECKPOINTS}").fetchone()
        if signed != head.id:
            raise TreeMissing(f"the head is at entry {head.id}, the newest checkpoint at {signed}")
        wanted = merkle.frontier_nodes(head.id)
        found = _nodes(conn, wanted)
        if len(found) != len(wanted):
            raise TreeMissing(f"the tree of {head.id} entries is incomplete")
        latest = None
        if any(p.entry.outcome is Outcome.POLICY_CHANGE for p in batch):
            found_latest = conn.execute(LATEST_POLICY_CHANGE).fetchone()
            latest = found_latest[0] if found_latest else None
        commit = seal(
            batch, head, _used(conn, budget_keys(batch)), [found[n] for n in wanted], signer, latest
        )
        entries = [e for e in commit.entries if e.id]
        if not entries:  # nothing new to write
            conn.execute("ROLLBACK")
            return replace(commit, size=head.id, checkpoint=_newest_checkpoint(conn) or "")
        marks = ", ".join("?" for _ in NAMES)
        conn.executemany(
            f"INSERT INTO {ENTRIES} ({', '.join(NAMES)}) VALUES ({marks})",
            [to_row(e) for e in entries],
        )
        conn.execute(
            f"UPDATE {HEAD} SET last_id = ?, last_hash = ?", (entries[-1].id, entries[-1].hash)
        )
        conn.executemany(
            f"INSERT INTO {TREE} (level, idx, hash) VALUES (?, ?, ?)",
            [(level, idx, h.hex()) for (level, idx), h in commit.nodes.items()],
        )
        conn.execute(
            f"INSERT INTO {CHECKPOINTS} (size, root, note) VALUES (?, ?, ?)",
            (commit.size, commit.root.hex(), commit.checkpoint),
        )
        conn.executemany(
            f"INSERT INTO {BUDGETS} (agreement, day, cells) VALUES (?, ?, ?) "
            "ON CONFLICT (agreement, day) DO UPDATE SET cells = excluded.cells",
            [(agreement, day, cells) for (agreement, day), cells in commit.budgets.items()],
        )
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return commit


def _nodes(conn: sqlite3.Connection, wanted: Sequence[merkle.Node]) -> dict[merkle.Node, bytes]:
    found = {}
    for level, idx in wanted:
        row = conn.execute(
            f"SELECT hash FROM {TREE} WHERE level = ? AND idx = ?", (level, idx)
        ).fetchone()
        if row is not None:
            found[(level, idx)] = bytes.fromhex(row[0])
    return found


def _newest_checkpoint(conn: sqlite3.Connection) -> str | None:
    row = conn.execute(f"SELECT note FROM {CHECKPOINTS} ORDER BY size DESC LIMIT 1").fetchone()
    return None if row is None else str(row[0])


def _used(conn: sqlite3.Connection, keys: list[tuple[str, str]]) -> dict[tuple[str, str], int]:
    used = {}
    for agreement, day in keys:
        row = conn.execute(
            f"SELECT cells FROM {BUDGETS} WHERE agreement = ? AND day = ?", (agreement, day)
        ).fetchone()
        used[(agreement, day)] = int(row[0]) if row else 0
    return used


def _verify(conn: sqlite3.Connection, verifier: Verifier | None) -> Verification:
    conn.execute("BEGIN")  # one snapshot: appends by running servers are not seen half-way
    try:
        row = conn.execute(f"SELECT last_id, last_hash FROM {HEAD}").fetchone()
        stored = Stored(Head(*row) if row else None)
        for size, root, note in conn.execute(f"SELECT size, root, note FROM {CHECKPOINTS}"):
            stored.checkpoints[int(size)] = (bytes.fromhex(root), str(note))
        for agreement, day, cells in conn.execute(f"SELECT agreement, day, cells FROM {BUDGETS}"):
            stored.budgets[(agreement, day)] = int(cells)
        rows: Any = conn.execute(f"SELECT {', '.join(NAMES)} FROM {ENTRIES} ORDER BY id")
        return verify(read_rows(rows), stored.head, stored, verifier)
    finally:
        conn.execute("COMMIT")
