"""DuckDB: a read-only database file, or Parquet/CSV files read in place.

DuckDB is synchronous, so queries run on a small thread pool, each thread with
its own cursor (DuckDB connections are not safe to share across threads).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
from sqlglot import exp

from ..config import SourceConfig, relations_from
from ..errors import SourceTimeout, SourceUnavailable
from .base import Source
from .registry import register

_READERS = {"parquet": "read_parquet", "csv": "read_csv"}


@register
class DuckDBSource(Source):
    kind = "duckdb"
    dialect = "duckdb"

    @classmethod
    def settings(
        cls, name: str, body: dict[str, Any], resolve: Callable[[str], Path], table: str
    ) -> SourceConfig:
        database = body.get("database")
        return SourceConfig(
            name=name,
            kind=cls.kind,
            database=resolve(database) if database else None,
            relations=relations_from(body, resolve, table),
            statement_timeout_s=float(body.get("statement_timeout_s", 30.0)),
        )

    def __init__(self, config: SourceConfig, threads: int = 4) -> None:
        super().__init__(config)
        self._connection: duckdb.DuckDBPyConnection | None = None
        self._local = threading.local()
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix=f"duckdb-{self.name}")
        self._lock = threading.Lock()

    async def start(self) -> None:
        # An unavailable source is reported by fetch/ping; the rest of the trust keeps serving.
        with contextlib.suppress(SourceUnavailable):
            await asyncio.get_running_loop().run_in_executor(self._pool, self._connect)

    def _connect(self) -> duckdb.DuckDBPyConnection:
        with self._lock:
            if self._connection is not None:
                return self._connection
            try:
                if self.config.database is not None:
                    if not self.config.database.is_file():
                        raise SourceUnavailable(f"source '{self.name}' is unavailable")
                    connection = duckdb.connect(str(self.config.database), read_only=True)
                else:
                    connection = duckdb.connect(":memory:")
                for relation in self.config.relations:
                    # The path is a literal in the view, rendered by sqlglot (quoted, escaped).
                    reader = exp.func(_READERS[relation.format], exp.Literal.string(relation.path))
                    view = exp.select("*").from_(reader)
                    name = exp.to_identifier(relation.name, quoted=True).sql("duckdb")
                    connection.execute(f"CREATE OR REPLACE VIEW {name} AS {view.sql('duckdb')}")
            except duckdb.Error as exc:
                raise SourceUnavailable(f"source '{self.name}' is unavailable") from exc
            self._connection = connection
            return connection

    def _cursor(self) -> duckdb.DuckDBPyConnection:
        cursor = getattr(self._local, "cursor", None)
        if cursor is None:
            cursor = self._connect().cursor()
            self._local.cursor = cursor
        return cursor

    def _run(
        self, sql: str, params: Sequence[Any], running: list[duckdb.DuckDBPyConnection]
    ) -> list[tuple[Any, ...]]:
        try:
            cursor = self._cursor()
            running.append(cursor)  # lets the event loop interrupt it on timeout
            return cursor.execute(sql, list(params)).fetchall()
        except duckdb.InterruptException as exc:
            raise SourceTimeout(f"source '{self.name}' timed out") from exc
        except duckdb.Error as exc:
            raise SourceUnavailable(f"source '{self.name}' failed to answer") from exc

    async def fetch(
        self, sql: str, params: Sequence[Any], timeout: float | None = None
    ) -> list[tuple[Any, ...]]:
        running: list[duckdb.DuckDBPyConnection] = []
        work = asyncio.get_running_loop().run_in_executor(
            self._pool, self._run, sql, params, running
        )
        limit = min(self.config.statement_timeout_s, timeout or float("inf"))
        try:
            rows = await asyncio.wait_for(asyncio.shield(work), limit)
        except (TimeoutError, asyncio.CancelledError) as exc:
            for cursor in running:
                cursor.interrupt()  # really stop the work in DuckDB, not just stop waiting
            with contextlib.suppress(Exception):
                await work
            if isinstance(exc, asyncio.CancelledError):
                raise
            raise SourceTimeout(f"source '{self.name}' timed out after {limit:g} s") from exc
        return self._count(rows)

    async def last_modified(self, relation: str) -> datetime | None:
        """The newest modification time of the files behind the relation."""
        paths: list[Path] = []
        for rel in self.config.relations:
            if rel.name == relation:
                pattern = Path(rel.path)
                paths.extend(pattern.parent.glob(pattern.name))
        if not paths and self.config.database is not None:
            paths.append(self.config.database)
        times = [p.stat().st_mtime for p in paths if p.exists()]
        return datetime.fromtimestamp(max(times), tz=UTC) if times else None

    async def ping(self) -> None:
        """Touch every relation: files read in place may be gone or unreadable while the
        connection itself is fine. Not through fetch: stats count callers' queries."""
        loop = asyncio.get_running_loop()
        checks = ["SELECT 1"]
        for relation in self.config.relations:
            name = exp.to_identifier(relation.name, quoted=True).sql("duckdb")
            checks.append(f"SELECT 1 FROM {name} LIMIT 1")
        if self.config.database is not None and not self.config.database.is_file():
            raise SourceUnavailable(f"source '{self.name}' is unavailable")
        for sql in checks:
            await loop.run_in_executor(self._pool, self._run, sql, (), [])

    async def close(self) -> None:
        self._pool.shutdown(wait=True)
        if self._connection is not None:
            self._connection.close()
            self._connection = None
