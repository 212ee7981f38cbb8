"""An independent oracle: SQL written by hand against the same files and tables."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import asyncpg
import duckdb


class Oracle:
    def __init__(self, directory: Path, pg_dsn: str | None) -> None:
        self.directory = directory
        self.pg_dsn = pg_dsn
        with (directory / "reference" / "areas.csv").open(newline="") as handle:
            self.areas = {row["code"]: row for row in csv.DictReader(handle)}

    def rollup(self, level: str) -> dict[str, str]:
        """Local authority -> its code at ``level`` (REGION: its parent, which is a
        country for Welsh and Scottish authorities)."""
        mapping = {}
        for code, row in self.areas.items():
            if row["level"] != "LOCAL_AUTHORITY":
                continue
            up = code
            while self.areas[up]["level"] != level and self.areas[up]["parent_code"]:
                up = self.areas[up]["parent_code"]
                if level == "REGION" and self.areas[up]["level"] == "COUNTRY":
                    break
            mapping[code] = up
        return mapping

    def files(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        """``payroll``, ``vacancies`` and ``geo(la, up)`` are available by those names."""
        con = duckdb.connect()
        payroll = self.directory / "hmrc" / "paye_rti" / "*.parquet"
        con.execute(f"CREATE VIEW payroll AS SELECT * FROM read_parquet('{payroll}')")
        vacancies = self.directory / "ons" / "vacancies.csv"
        con.execute(f"CREATE VIEW vacancies AS SELECT * FROM read_csv('{vacancies}', header=true)")
        return con.execute(sql, list(params)).fetchall()

    async def claimants(self, sql: str, level: str, *params: Any) -> list[tuple[Any, ...]]:
        """``claimants`` is the microdata and ``geo(la, up)`` the roll-up at ``level``;
        PostgreSQL placeholders ($1...) in both cases, $1/$2 reserved for the roll-up."""
        mapping = self.rollup(level)
        las, ups = list(mapping), [mapping[k] for k in mapping]
        if self.pg_dsn:
            conn = await asyncpg.connect(self.pg_dsn)
            try:
                full = (
                    "WITH claimants AS (SELECT * FROM dwp.uc_claimants), "
                    "geo AS (SELECT * FROM unnest($1::text[], $2::text[]) AS g(la, up)) " + sql
                )
                return [tuple(r) for r in await conn.fetch(full, las, ups, *params)]
            finally:
                await conn.close()
        con = duckdb.connect(str(self.directory / "dwp" / "claimants.duckdb"), read_only=True)
        full = (
            "WITH claimants AS (SELECT * FROM uc_claimants), "
            "geo AS (SELECT unnest($1::VARCHAR[]) AS la, unnest($2::VARCHAR[]) AS up) " + sql
        )
        return con.execute(full, [las, ups, *params]).fetchall()
