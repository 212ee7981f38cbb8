"""The shared sink: PostgreSQL, for several hosts appending to one ledger.

Each append is one transaction that locks the head row (``SELECT ... FOR UPDATE``),
so appends from every host serialise on it: one chain, one tree, one budget count, and
one signed checkpoint per commit (every host signs with the same key). Table
creation is guarded by a transaction-scoped advisory lock (concurrent ``CREATE TABLE
IF NOT EXISTS`` can otherwise collide).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import asyncpg

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
    Walk,
    budget_keys,
    seal,
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

SCHEMA_LOCK = 0x6C6564676572  # pg_advisory_xact_lock key while creating the tables


class PostgresSink:
    kind = "postgres"

    def __init__(
        self,
        dsn: str,
        *,
        read_only: bool = False,
        pool_size: int = 4,
        signer: Signer | None = None,
        verifier: Verifier | None = None,
    ) -> None:
        self.dsn = dsn
        self.read_only = read_only
        self.signer = signer or Signer.generate("gql-trust.demo/ledger")
        self.verifier = verifier or (signer.verifier if signer else None)
        self.pool_size = pool_size
        self.where = _describe(dsn)
        self._pool: asyncpg.Pool | None = None

    async def open(self) -> None:
        if self._pool is not None:
            return
        try:
            pool = await asyncpg.create_pool(self.dsn, min_size=1, max_size=self.pool_size)
        except (OSError, asyncpg.PostgresError) as exc:
            raise LedgerUnavailable(f"cannot reach the ledger database {self.where}") from exc
        if not self.read_only:
            try:
                async with pool.acquire() as conn, conn.transaction():
                    await conn.execute("SELECT pg_advisory_xact_lock($1)", SCHEMA_LOCK)
                    for statement in create_statements("BIGINT"):
                        await conn.execute(statement)
                    await conn.execute(add_column_statement(if_not_exists=True))
                    # Only a new ledger gets a head: one whose head was deleted stays
                    # unwritable rather than reuse ids and fork the tree.
                    await conn.execute(
                        f"INSERT INTO {HEAD} (one, last_id, last_hash) SELECT 1, $1, $2 "
                        f"WHERE NOT EXISTS (SELECT 1 FROM {HEAD}) "
                        f"AND NOT EXISTS (SELECT 1 FROM {ENTRIES}) "
                        f"AND NOT EXISTS (SELECT 1 FROM {CHECKPOINTS})",
                        Head().id,
                        Head().hash,
                    )
            except BaseException:
                await pool.close()
                raise
        self._pool = pool

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    def _ready(self) -> asyncpg.Pool:
        if self._pool is None:
            raise LedgerUnavailable(f"the ledger {self.where} is not open")
        return self._pool

    async def append(self, batch: Sequence[Pending]) -> Commit:
        async with self._ready().acquire() as conn, conn.transaction():
            row = await conn.fetchrow(f"SELECT last_id, last_hash FROM {HEAD} FOR UPDATE")
            if row is None:
                raise TreeMissing("the ledger head is missing")
            head = Head(row["last_id"], row["last_hash"])
            signed = await conn.fetchval(f"SELECT COALESCE(MAX(size), 0) FROM {CHECKPOINTS}")
            if signed != head.id:
                raise TreeMissing(
                    f"the head is at entry {head.id}, the newest checkpoint at {signed}"
                )
            wanted = merkle.frontier_nodes(head.id)
            found = await _nodes(conn, wanted)
            if len(found) != len(wanted):
                raise TreeMissing(f"the tree of {head.id} entries is incomplete")
            used = {key: await _used(conn, *key) for key in budget_keys(batch)}
            latest = None
            if any(p.entry.outcome is Outcome.POLICY_CHANGE for p in batch):
                latest = await conn.fetchval(LATEST_POLICY_CHANGE)
            commit = seal(batch, head, used, [found[n] for n in wanted], self.signer, latest)
            entries, budgets = [e for e in commit.entries if e.id], commit.budgets
            if not entries:  # nothing new to write
                note = await conn.fetchval(
                    f"SELECT note FROM {CHECKPOINTS} ORDER BY size DESC LIMIT 1"
                )
                return replace(commit, size=head.id, checkpoint=note or "")
            marks = ", ".join(f"${i}" for i in range(1, len(NAMES) + 1))
            await conn.executemany(
                f"INSERT INTO {ENTRIES} ({', '.join(NAMES)}) VALUES ({marks})",
                [to_row(e) for e in entries],
            )
            await conn.execute(
                f"UPDATE {HEAD} SET last_id = $1, last_hash = $2", entries[-1].id, entries[-1].hash
            )
            await conn.executemany(
                f"INSERT INTO {BUDGETS} (agreement, day, cells) VALUES ($1, $2, $3) "
                "ON CONFLICT (agreement, day) DO UPDATE SET cells = excluded.cells",
                [(agreement, day, cells) for (agreement, day), cells in budgets.items()],
            )
            await conn.executemany(
                f"INSERT INTO {TREE} (level, idx, hash) VALUES ($1, $2, $3)",
                [(level, idx, h.hex()) for (level, idx), h in commit.nodes.items()],
            )
            await conn.execute(
                f"INSERT INTO {CHECKPOINTS} (size, root, note) VALUES ($1, $2, $3)",
                commit.size,
                commit.root.hex(),
                commit.checkpoint,
            )
        return commit

    async def checkpoint(self) -> str | None:
        async with self._ready().acquire() as conn:
            note = await conn.fetchval(f"SELECT note FROM {CHECKPOINTS} ORDER BY size DESC LIMIT 1")
            return None if note is None else str(note)

    async def nodes(self, wanted: Sequence[merkle.Node]) -> dict[merkle.Node, bytes]:
        async with self._ready().acquire() as conn:
            return await _nodes(conn, wanted)

    async def entries(self, query: AuditQuery) -> list[Entry]:
        sql, params = query.sql(lambda n: f"${n}")
        async with self._ready().acquire() as conn:
            return [from_row(tuple(r)) for r in await conn.fetch(sql, *params)]

    async def verify(self) -> Verification:
        async with (
            self._ready().acquire() as conn,
            conn.transaction(isolation="repeatable_read", readonly=True),  # one snapshot
        ):
            row = await conn.fetchrow(f"SELECT last_id, last_hash FROM {HEAD}")
            stored = Stored(Head(row["last_id"], row["last_hash"]) if row else None)
            for r in await conn.fetch(f"SELECT size, root, note FROM {CHECKPOINTS}"):
                stored.checkpoints[int(r["size"])] = (bytes.fromhex(r["root"]), str(r["note"]))
            for r in await conn.fetch(f"SELECT agreement, day, cells FROM {BUDGETS}"):
                stored.budgets[(r["agreement"], r["day"])] = int(r["cells"])
            walk = Walk(stored, self.verifier)
            query = f"SELECT {', '.join(NAMES)} FROM {ENTRIES} ORDER BY id"
            async for record in conn.cursor(query, prefetch=1000):
                if not walk.step(next(read_rows([tuple(record)]))):
                    break
            return walk.finish()

    async def reserve_privacy(self, draw: Draw) -> Granted:
        async with self._ready().acquire() as conn:
            return await privacy.reserve_postgres(conn, draw)

    async def budget_used(self, agreement: str, day: str) -> int:
        async with self._ready().acquire() as conn:
            return await _used(conn, agreement, day)


async def _nodes(conn: Any, wanted: Sequence[merkle.Node]) -> dict[merkle.Node, bytes]:
    if not wanted:
        return {}
    rows = await conn.fetch(
        f"SELECT t.level, t.idx, t.hash FROM {TREE} t "
        "JOIN unnest($1::integer[], $2::bigint[]) AS w(level, idx) "
        "ON t.level = w.level AND t.idx = w.idx",
        [level for level, _ in wanted],
        [idx for _, idx in wanted],
    )
    return {(int(r["level"]), int(r["idx"])): bytes.fromhex(r["hash"]) for r in rows}


async def _used(conn: Any, agreement: str, day: str) -> int:
    cells = await conn.fetchval(
        f"SELECT cells FROM {BUDGETS} WHERE agreement = $1 AND day = $2", agreement, day
    )
    return int(cells or 0)


def _describe(dsn: str) -> str:
    """host/database of a DSN, without user or password (for messages and the CLI)."""
    from urllib.parse import urlsplit

    parts = urlsplit(dsn)
    host = parts.hostname or "localhost"
    port = f":{parts.port}" if parts.port else ""
    return f"postgresql://{host}{port}{parts.path}"
