"""`gql-trust demo-data --spark`: the claimant microdata as month-partitioned Parquet
that DuckDB reads back as `uc_claimants`, and settings that point `dwp` at Spark."""

from __future__ import annotations

import tomllib
from pathlib import Path

import duckdb

from gql_trust.demo.store import CLAIMANT_COLUMNS
from tests.test_cli import invoke, one_error_line


def test_claimants_as_parquet_equal_the_duckdb_table(
    spark_trust_dir: Path, duckdb_trust_dir: Path
) -> None:
    files = spark_trust_dir / "dwp" / "claimants" / "**" / "*.parquet"
    con = duckdb.connect()
    literal = "'" + str(files).replace("'", "''") + "'"
    con.execute(f"CREATE VIEW parquet AS FROM read_parquet({literal}, hive_partitioning = true)")
    con.execute(f"ATTACH '{duckdb_trust_dir / 'dwp' / 'claimants.duckdb'}' AS db (READ_ONLY)")
    described = dict(
        con.execute("SELECT column_name, column_type FROM (DESCRIBE parquet)").fetchall()
    )
    assert described == dict(CLAIMANT_COLUMNS)
    columns = ", ".join(name for name, _ in CLAIMANT_COLUMNS)
    (only_parquet, only_db, total) = con.execute(
        f"SELECT (SELECT count(*) FROM (SELECT {columns} FROM parquet EXCEPT ALL "
        f"SELECT {columns} FROM db.uc_claimants)), (SELECT count(*) FROM (SELECT {columns} "
        f"FROM db.uc_claimants EXCEPT ALL SELECT {columns} FROM parquet)), "
        "(SELECT count(*) FROM parquet)"
    ).fetchone()  # type: ignore[misc]
    assert (only_parquet, only_db) == (0, 0) and total > 10_000
    assert not (spark_trust_dir / "dwp" / "claimants.duckdb").exists()
    months = sorted(p.name for p in (spark_trust_dir / "dwp" / "claimants").iterdir())
    assert months[0].startswith("month=") and len(months) >= 24


def test_settings_point_dwp_at_spark(spark_trust_dir: Path) -> None:
    with (spark_trust_dir / "gql-trust.toml").open("rb") as handle:
        dwp = tomllib.load(handle)["sources"]["dwp"]
    assert dwp["kind"] == "spark" and dwp["remote"].startswith("sc://127.0.0.1:")
    assert dwp["relations"] == {"uc_claimants": {"parquet": "dwp/claimants"}}


def test_bad_spark_options_are_clear_errors(tmp_path: Path) -> None:
    line = one_error_line(invoke("demo-data", "--data-dir", tmp_path, "--spark", "localhost:15002"))
    assert "sc://HOST:PORT" in line
    both = invoke(
        "demo-data", "--data-dir", tmp_path, "--spark", "sc://h:1", "--postgres", "postgresql://x"
    )
    assert "not both" in one_error_line(both)
    assert not (tmp_path / "gql-trust.toml").exists()
