"""The DWP claimants on a real Spark Connect server, and an oracle that reads the same
Parquet files directly with DuckDB."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

from tests.conftest import SCALE, SEED, TrustUnderTest, _running
from tests.oracle import Oracle
from tests.spark.server import SparkConnectServer


@pytest.fixture(scope="session")
def spark_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SparkConnectServer]:
    server = SparkConnectServer(tmp_path_factory.mktemp("spark"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def spark_trust_dir(
    duckdb_trust_dir: Path,
    spark_server: SparkConnectServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Path:
    """The same seed and scale as the DuckDB trust, and its keys (so the same disclosure
    key): the same claimants, as Parquet read by Spark."""
    from gql_trust.demo import generate

    directory = tmp_path_factory.mktemp("trust-spark")
    shutil.copytree(duckdb_trust_dir / "keys", directory / "keys")
    generate(directory, scale=SCALE, seed=SEED, spark_remote=spark_server.remote)
    return directory


@pytest.fixture(scope="session")
async def spark_trust(spark_trust_dir: Path) -> AsyncIterator[TrustUnderTest]:
    async for running in _running("spark", spark_trust_dir, None):
        yield running


class ParquetOracle(Oracle):
    """Claimant counts by hand-written SQL over the Parquet files, read by DuckDB."""

    async def claimants(self, sql: str, level: str, *params: Any) -> list[tuple[Any, ...]]:
        mapping = self.rollup(level)
        files = self.directory / "dwp" / "claimants" / "**" / "*.parquet"
        literal = "'" + str(files).replace("'", "''") + "'"
        full = (
            f"WITH claimants AS (SELECT * FROM read_parquet({literal}, hive_partitioning = true)), "
            "geo AS (SELECT unnest($1::VARCHAR[]) AS la, unnest($2::VARCHAR[]) AS up) " + sql
        )
        return (
            duckdb.connect()
            .execute(full, [list(mapping), list(mapping.values()), *params])
            .fetchall()
        )


@pytest.fixture
def oracle(spark_trust: TrustUnderTest) -> ParquetOracle:
    return ParquetOracle(spark_trust.directory, None)
