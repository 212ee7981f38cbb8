"""The oracle: a drawn query translated to SQL by hand and run on the sources directly.

Claimants are read from the DWP table (DuckDB file or PostgreSQL), payroll from the
Parquet files and vacancies from the CSV file, all with DuckDB or asyncpg and none
of the server's code. The geography roll-up comes from ``reference/areas.csv``
(``model.load_domain``). What controlled callers get is ``controlled_oracle``'s.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import duckdb

from .model import CLAIMANTS, PAYROLL, VACANCIES, Dim, QuerySpec, load_domain, ym

DEFAULT_LIMIT = 1000
KEY_SPACE = 2**32
_COMPARE = {"eq": "=", "ne": "<>", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}


def sql_value(dim: Dim, value: Any) -> str:
    if dim.kind == "boolean":
        assert isinstance(value, bool)
        return "TRUE" if value else "FALSE"
    assert isinstance(value, str)
    if dim.kind == "period":
        year, month = value.split("-")
        return f"DATE '{int(year):04d}-{int(month):02d}-01'"
    return "'" + value.replace("'", "''") + "'"


def sql_condition(
    node: dict[str, Any], spec: QuerySpec, column_of_dim: Callable[[Dim], str] | None = None
) -> str:
    """A `where` object as a SQL predicate: conditions in one object are ANDed, an empty
    `and` is true, an empty `or` false, an empty `in` false, an empty `notIn` true.
    Dimensions are read from the source's columns unless ``column_of_dim`` says where."""
    parts: list[str] = []
    for dim in spec.dataset.dims:
        for op, value in node.get(dim.filter, {}).items():
            if column_of_dim is None:
                column = dimension_sql(dim, spec.geography)
            else:
                column = column_of_dim(dim)
            if op in ("in", "notIn"):
                if not value:
                    parts.append("FALSE" if op == "in" else "TRUE")
                    continue
                listed = ", ".join(sql_value(dim, v) for v in value)
                parts.append(f"{column} {'IN' if op == 'in' else 'NOT IN'} ({listed})")
            else:
                parts.append(f"{column} {_COMPARE[op]} {sql_value(dim, value)}")
    if "and" in node:
        items = [f"({sql_condition(item, spec, column_of_dim)})" for item in node["and"]]
        parts.append(" AND ".join(items) if items else "TRUE")
    if "or" in node:
        items = [f"({sql_condition(item, spec, column_of_dim)})" for item in node["or"]]
        parts.append(" OR ".join(items) if items else "FALSE")
    if "not" in node:
        parts.append(f"NOT ({sql_condition(node['not'], spec, column_of_dim)})")
    return " AND ".join(f"({p})" for p in parts) if parts else "TRUE"


def dimension_sql(dim: Dim, geography: str) -> str:
    if dim.kind == "area" and geography != "LOCAL_AUTHORITY":
        return "g.up"
    return f"t.{dim.column}"


def _with_geo(spec: QuerySpec, rollup: dict[str, str]) -> tuple[str, str]:
    if spec.geography == "LOCAL_AUTHORITY":
        return "", ""
    values = ", ".join(f"('{la}', '{up}')" for la, up in sorted(rollup.items()))
    return f"WITH geo(la, up) AS (VALUES {values}) ", "JOIN geo g ON t.area_code = g.la"


def grouped_sql(spec: QuerySpec, table: str, rollup: dict[str, str]) -> str:
    """One row per result cell: grouped dimensions as d0..dn (contract order), then every
    measure of the dataset, exact, as m_<name> (and the claimants' cell key as ck)."""
    with_geo, join = _with_geo(spec, rollup)
    where = sql_condition(spec.where or {}, spec)
    exprs = [dimension_sql(d, spec.geography) for d in spec.dims]
    aliases = [f"d{i}" for i in range(len(exprs))]
    select_dims = "".join(f"{e} AS {a}, " for e, a in zip(exprs, aliases, strict=True))
    group_dims = "".join(f"{e}, " for e in exprs)
    by_dims = f"GROUP BY {', '.join(aliases)}" if aliases else ""
    if spec.dataset is CLAIMANTS:
        # each distinct claimant once per cell, with its record key (fixed per claimant)
        per_claimant = (
            f"SELECT {select_dims}t.claimant_id AS cid, min(t.record_key) AS k "
            f"FROM {table} t {join} WHERE {where} GROUP BY {group_dims}t.claimant_id"
        )
        return (
            f"{with_geo}SELECT {''.join(a + ', ' for a in aliases)}"
            f"count(*) AS m_claimants, sum(k) % {KEY_SPACE} AS ck "
            f"FROM ({per_claimant}) per {by_dims}"
        )
    if spec.dataset is PAYROLL:
        by_exprs = f"GROUP BY {', '.join(exprs)}" if exprs else ""
        sums = (
            f"SELECT {select_dims}sum(t.employees) AS e, sum(t.total_pay) AS p "
            f"FROM {table} t {join} WHERE {where} {by_exprs}"
        )
        return (
            f"{with_geo}SELECT {''.join(a + ', ' for a in aliases)}e AS m_employees, "
            f"CAST(p AS DOUBLE) / NULLIF(e, 0) AS m_meanmonthlypay FROM ({sums}) s"
        )
    assert spec.dataset is VACANCIES
    by_exprs = f"GROUP BY {', '.join(exprs)}" if exprs else ""
    return (
        f"{with_geo}SELECT {select_dims}sum(t.vacancies) AS m_vacancies "
        f"FROM {table} t {join} WHERE {where} {by_exprs}"
    )


def sort_keys(spec: QuerySpec) -> list[tuple[str, bool]]:
    """The caller's keys, then every grouped dimension ascending (contract order)."""
    keys = list(spec.order)
    keys += [(d.name, False) for d in spec.dims if all(d.name != f for f, _ in keys)]
    return keys


def column_of(spec: QuerySpec, field: str) -> str:
    for i, d in enumerate(spec.dims):
        if d.name == field:
            return f"d{i}"
    return f"m_{field.lower()}"


def ordered_sql(spec: QuerySpec, grouped: str) -> str:
    order = ", ".join(
        f"{column_of(spec, f)} {'DESC' if desc else 'ASC'} NULLS LAST"
        for f, desc in sort_keys(spec)
    )
    limit = DEFAULT_LIMIT if spec.limit is None else spec.limit
    return (
        f"SELECT * FROM ({grouped}) cells {'ORDER BY ' + order if order else ''} "
        f"LIMIT {limit} OFFSET {spec.offset or 0}"
    )


@dataclass(frozen=True)
class Answer:
    cells: list[tuple[Any, ...]]


class PropertyOracle:
    def __init__(self, directory: Path, pg_dsn: str | None) -> None:
        self.directory, self.pg_dsn = directory, pg_dsn
        self.domain = load_domain(directory)

    def table(self, spec: QuerySpec) -> str:
        if spec.dataset is CLAIMANTS:
            return "dwp.uc_claimants" if self.pg_dsn else "uc_claimants"
        return "payroll" if spec.dataset is PAYROLL else "vacancies"

    async def fetch(self, spec: QuerySpec, sql: str) -> list[dict[str, Any]]:
        if spec.dataset is CLAIMANTS and self.pg_dsn:
            conn = await asyncpg.connect(self.pg_dsn)
            try:
                records = await conn.fetch(sql)
            finally:
                await conn.close()
            rows = [dict(r) for r in records]
        else:
            con = _duckdb(self.directory, claimants=spec.dataset is CLAIMANTS)
            cursor = con.cursor()
            try:
                result = cursor.execute(sql)
                names = [c[0] for c in result.description]
                rows = [dict(zip(names, r, strict=True)) for r in result.fetchall()]
            finally:
                cursor.close()
        for row in rows:
            for name, value in row.items():
                if isinstance(value, Decimal):
                    row[name] = int(value)
        return rows

    async def answer(self, spec: QuerySpec) -> Answer:
        """What the server should return an owner (or anyone, for open data): rows of
        (grouped dimensions, selected measures), exact."""
        grouped = grouped_sql(spec, self.table(spec), self.domain.rollup[spec.geography])
        rows = await self.fetch(spec, ordered_sql(spec, grouped))
        return Answer([self.as_cell(spec, r) for r in rows])

    @staticmethod
    def as_cell(spec: QuerySpec, row: dict[str, Any]) -> tuple[Any, ...]:
        dims = [row[f"d{i}"] for i in range(len(spec.dims))]
        dims = [ym(v) if isinstance(v, date) else v for v in dims]
        return (*dims, *(row[column_of(spec, m)] for m in spec.measures))


@functools.cache
def _duckdb(directory: Path, *, claimants: bool) -> duckdb.DuckDBPyConnection:
    """The DWP database file (read-only) for claimants; otherwise an in-memory database
    holding a copy of the HMRC Parquet files (``payroll``) and the ONS CSV (``vacancies``),
    read once (the server reads them in place on every query)."""
    if claimants:
        return duckdb.connect(str(directory / "dwp" / "claimants.duckdb"), read_only=True)
    con = duckdb.connect()
    parquet = directory / "hmrc" / "paye_rti" / "*.parquet"
    con.execute(f"CREATE TABLE payroll AS SELECT * FROM read_parquet('{parquet}')")
    csv = directory / "ons" / "vacancies.csv"
    con.execute(f"CREATE TABLE vacancies AS SELECT * FROM read_csv('{csv}', header = true)")
    return con
