"""Writes the DWP claimant table to a DuckDB database file, to PostgreSQL, or to Parquet
files (hive-partitioned by month) for a Spark cluster to read in place."""

from __future__ import annotations

import asyncio
import concurrent.futures
import io
import shutil
from collections.abc import Coroutine, Iterable
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import duckdb
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.dataset as pads

T = TypeVar("T")

CLAIMANTS_TABLE = "uc_claimants"
POSTGRES_SCHEMA = "dwp"
CLAIMANT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("claimant_id", "BIGINT"),
    ("month", "DATE"),
    ("area_code", "VARCHAR"),
    ("age_band", "VARCHAR"),
    ("sex", "VARCHAR"),
    ("conditionality", "VARCHAR"),
    ("disability", "BOOLEAN"),
    ("record_key", "BIGINT"),
)


def _create_sql(qualified_name: str, *, text_type: str) -> str:
    columns = ", ".join(
        f"{name} {text_type if sql_type == 'VARCHAR' else sql_type} NOT NULL"
        for name, sql_type in CLAIMANT_COLUMNS
    )
    return f"CREATE TABLE {qualified_name} ({columns})"


def write_duckdb(batches: Iterable[pa.Table], path: Path) -> None:
    """Build the database beside its final name, then move it into place, so a reader
    never sees a half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    building = path.with_name(path.name + ".building")
    for leftover in (building, Path(f"{building}.wal"), Path(f"{path}.wal")):
        leftover.unlink(missing_ok=True)
    connection = duckdb.connect(str(building))
    try:
        connection.execute(_create_sql(CLAIMANTS_TABLE, text_type="VARCHAR"))
        for batch in batches:
            connection.register("claimant_rows", batch)
            connection.execute(f"INSERT INTO {CLAIMANTS_TABLE} SELECT * FROM claimant_rows")
            connection.unregister("claimant_rows")
        connection.execute("CHECKPOINT")
    finally:
        connection.close()
    building.replace(path)


def write_parquet(batches: Iterable[pa.Table], directory: Path) -> None:
    """``directory/month=YYYY-MM-01/part-N.parquet``: Spark and DuckDB both read the month
    back from the folder name as a DATE. Built beside its final name, then moved into
    place, so a reader never sees half the months."""
    building = directory.with_name(directory.name + ".building")
    shutil.rmtree(building, ignore_errors=True)
    building.mkdir(parents=True)
    for index, batch in enumerate(batches):
        pads.write_dataset(
            batch,
            building,
            format="parquet",
            partitioning=pads.partitioning(pa.schema([("month", pa.date32())]), flavor="hive"),
            basename_template=f"part-{index}-{{i}}.parquet",
            existing_data_behavior="overwrite_or_ignore",
            use_threads=False,  # rows in a deterministic order
        )
    shutil.rmtree(directory, ignore_errors=True)
    building.replace(directory)


def load_postgres(batches: Iterable[pa.Table], dsn: str) -> None:
    """Replace ``dwp.uc_claimants`` in one transaction, then refresh planner statistics."""
    _run(_load_postgres(batches, dsn))


async def _load_postgres(batches: Iterable[pa.Table], dsn: str) -> None:
    qualified = f"{POSTGRES_SCHEMA}.{CLAIMANTS_TABLE}"
    connection = await asyncpg.connect(dsn)
    try:
        async with connection.transaction():
            await connection.execute(f"CREATE SCHEMA IF NOT EXISTS {POSTGRES_SCHEMA}")
            await connection.execute(f"DROP TABLE IF EXISTS {qualified}")
            await connection.execute(_create_sql(qualified, text_type="TEXT"))
            for batch in batches:
                await connection.copy_to_table(
                    CLAIMANTS_TABLE,
                    schema_name=POSTGRES_SCHEMA,
                    source=_csv_rows(batch),
                    columns=[name for name, _ in CLAIMANT_COLUMNS],
                    format="csv",
                )
            await connection.execute(
                f"ALTER TABLE {qualified} ADD PRIMARY KEY (claimant_id, month)"
            )
        await connection.execute(f"ANALYZE {qualified}")
    finally:
        await connection.close()


def _csv_rows(batch: pa.Table) -> io.BytesIO:
    buffer = io.BytesIO()
    pacsv.write_csv(batch, buffer, pacsv.WriteOptions(include_header=False))
    buffer.seek(0)
    return buffer


def _run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion, also when called from inside a running event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()
