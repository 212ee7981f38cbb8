"""Baselines (a) raw SQL with the source's own driver and (b) batch copy.

(a) sends the hand-written aggregation straight to the source: asyncpg for
PostgreSQL, duckdb for the Parquet and CSV files read in place. A workload with
several sources runs its statements concurrently, as the server does.

(b) moves whole relations into the process, the way a batch copy (ETL) would:
``COPY ... TO STDOUT`` through asyncpg for PostgreSQL, a full ``SELECT *`` through
duckdb for files; the aggregation then runs in the process (pyarrow).
"""

from __future__ import annotations

import asyncio
import io
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import asyncpg
import duckdb
import pyarrow as pa
import pyarrow.csv as pacsv

from .workloads import Layout, SourceQuery


class RawSources:
    """The sources as a hand-written client sees them: an asyncpg pool, duckdb cursors."""

    def __init__(self, dsn: str, concurrency: int = 16) -> None:
        self.dsn = dsn
        self.concurrency = concurrency
        self.pool: asyncpg.Pool | None = None
        self._duck = duckdb.connect(":memory:")
        self._local = threading.local()
        self._threads = ThreadPoolExecutor(concurrency, thread_name_prefix="raw-duckdb")

    async def __aenter__(self) -> RawSources:
        self.pool = await asyncpg.create_pool(
            self.dsn,
            min_size=1,
            max_size=self.concurrency,
            server_settings={"application_name": "gql-trust-bench-raw"},
            reset=_nothing_to_reset,  # as the server does: no reset round trip per query
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.pool is not None:
            await self.pool.close()
        self._threads.shutdown(wait=True)
        self._duck.close()

    def _cursor(self) -> duckdb.DuckDBPyConnection:
        cursor = getattr(self._local, "cursor", None)
        if cursor is None:
            cursor = self._local.cursor = self._duck.cursor()
        return cursor

    def _duck_fetch(self, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        return self._cursor().execute(sql, list(params)).fetchall()

    async def fetch(self, query: SourceQuery) -> list[tuple[Any, ...]]:
        if query.source == "postgres":
            assert self.pool is not None
            return [tuple(r) for r in await self.pool.fetch(query.sql, *query.params)]
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._threads, self._duck_fetch, query.sql, query.params)

    async def run(self, queries: tuple[SourceQuery, ...]) -> list[list[tuple[Any, ...]]]:
        return list(await asyncio.gather(*(self.fetch(q) for q in queries)))

    async def months(self) -> tuple[Any, ...]:
        assert self.pool is not None
        rows = await self.pool.fetch("SELECT DISTINCT month FROM dwp.uc_claimants ORDER BY 1")
        return tuple(r[0] for r in rows)


CLAIMANT_SCHEMA = pa.schema(
    [
        ("claimant_id", pa.int64()),
        ("month", pa.date32()),
        ("area_code", pa.string()),
        ("age_band", pa.string()),
        ("sex", pa.string()),
        ("conditionality", pa.string()),
        ("disability", pa.bool_()),
        ("record_key", pa.int64()),
    ]
)


async def copy_relation(name: str, dsn: str, layout: Layout) -> tuple[pa.Table, float, int]:
    """One whole relation into the process: (table, seconds, bytes moved)."""
    started = time.perf_counter()
    if name == "claimants":
        connection = await asyncpg.connect(dsn)
        try:
            buffer = io.BytesIO()
            await connection.copy_from_query(
                "SELECT * FROM dwp.uc_claimants", output=buffer, format="csv"
            )
        finally:
            await connection.close()
        size = buffer.tell()
        buffer.seek(0)
        table = pacsv.read_csv(
            buffer,
            read_options=pacsv.ReadOptions(column_names=CLAIMANT_SCHEMA.names),
            convert_options=pacsv.ConvertOptions(
                column_types=CLAIMANT_SCHEMA,
                true_values=["t"],
                false_values=["f"],
            ),
        )
    else:
        reader = (
            f"read_parquet('{layout.parquet}')"
            if name == "paye_rti"
            else f"read_csv('{layout.vacancies_csv}')"
        )

        def fetch() -> pa.Table:
            with duckdb.connect(":memory:") as connection:
                return connection.sql(f"SELECT * FROM {reader}").to_arrow_table()

        table = await asyncio.get_running_loop().run_in_executor(None, fetch)
        size = table.nbytes
    if "month" in table.column_names and table.schema.field("month").type != pa.date32():
        table = table.set_column(
            table.column_names.index("month"), "month", table["month"].cast(pa.date32())
        )
    return table, time.perf_counter() - started, size


async def _nothing_to_reset(connection: asyncpg.Connection) -> None:
    """Only reads: the session needs no reset when a connection returns to the pool."""
