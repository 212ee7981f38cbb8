"""Planner fixtures, in the style of sqlglot's optimizer tests: a logical query shape ->
the SQL each dialect is sent (DuckDB, PostgreSQL, Spark), and, run on DuckDB over the
demo data, the same rows as a reference query written by hand without the planner.

The expected SQL is compiled against a small reference geography (three local
authorities) so the inlined roll-up stays readable; `UPDATE_PLANNER_FIXTURES=1` rewrites
fixtures.yaml from the planner after a deliberate change (review the diff).
"""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pytest
import yaml
from sqlglot import exp

from gql_trust.config import bundled_dir
from gql_trust.contracts import load_contracts
from gql_trust.planner import And, CellQuery, Cond, Filter, Not, Or, OrderKey, compile_query
from gql_trust.reference import AreaRecord, Level, Reference, SectorRecord, load_reference

FIXTURES = Path(__file__).with_name("fixtures.yaml")
CASES: list[dict[str, Any]] = yaml.safe_load(FIXTURES.read_text("utf-8"))
CONTRACTS = {c.name: c for c in load_contracts(bundled_dir("schema"))}
RELATIONS = {
    "claimants": "uc_claimants",
    "payrolledEmployees": "paye_rti",
    "vacancies": "vacancies",
}
DIALECTS = {"duckdb": "duckdb", "postgres": "postgres", "spark": "spark"}

SMALL = Reference(
    areas={
        "E92000001": AreaRecord("E92000001", "England", Level.COUNTRY, None),
        "E12000005": AreaRecord("E12000005", "West Midlands", Level.REGION, "E92000001"),
        "E12000007": AreaRecord("E12000007", "London", Level.REGION, "E92000001"),
        "E08000025": AreaRecord("E08000025", "Birmingham", Level.LOCAL_AUTHORITY, "E12000005"),
        "E08000026": AreaRecord("E08000026", "Coventry", Level.LOCAL_AUTHORITY, "E12000005"),
        "E09000001": AreaRecord("E09000001", "City of London", Level.LOCAL_AUTHORITY, "E12000007"),
    },
    sectors={"A": SectorRecord("A", "Agriculture")},
)


def value(raw: Any) -> Any:
    """A fixture value: "YYYY-MM" periods become the dates the planner binds."""
    if isinstance(raw, str) and len(raw) == 7 and raw[4] == "-" and raw[:4].isdigit():
        return date(int(raw[:4]), int(raw[5:]), 1)
    return raw


def build(node: Any) -> Filter | None:
    """[field, op, value...] conditions; {and|or: [...]}, {not: ...} combinations."""
    if node is None:
        return None
    if isinstance(node, list):
        field, op, *values = node
        return Cond(field, op, tuple(value(v) for v in values))
    (kind, inner), *_ = node.items()
    if kind == "not":
        return Not(build(inner))  # type: ignore[arg-type]
    items = tuple(build(i) for i in inner)
    return (And if kind == "and" else Or)(items)  # type: ignore[arg-type]


def query(case: dict[str, Any]) -> CellQuery:
    return CellQuery(
        case["dataset"],
        tuple(case.get("dimensions", ())),
        tuple(case.get("measures", ())),
        build(case.get("where")),
        Level(case.get("geography", "LOCAL_AUTHORITY")),
        order=tuple(OrderKey(f, d == "DESC") for f, d in case.get("order", ())),
        limit=case.get("limit"),
        offset=case.get("offset", 0),
        partition=case.get("partition"),
        cell_key=case.get("cell_key", False),
    )


def compiled(case: dict[str, Any], dialect: str, reference: Reference) -> str:
    contract = CONTRACTS[case["dataset"]]
    return compile_query(
        contract,
        query(case).shape(),
        table=exp.table_(RELATIONS[case["dataset"]], quoted=True),
        dialect=DIALECTS[dialect],
        reference=reference,
        parameters="named" if dialect == "spark" else "numbered",  # Spark binds by name
    ).sql


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
@pytest.mark.parametrize("dialect", list(DIALECTS))
def test_the_sql_each_dialect_is_sent(case: dict[str, Any], dialect: str) -> None:
    got = compiled(case, dialect, SMALL)
    if os.environ.get("UPDATE_PLANNER_FIXTURES"):
        case.setdefault("sql", {})[dialect] = got
        FIXTURES.write_text(yaml.safe_dump(CASES, sort_keys=False, width=100), "utf-8")
    assert got == case["sql"][dialect]


@pytest.fixture(scope="module")
def demo(duckdb_trust_dir: Path) -> tuple[duckdb.DuckDBPyConnection, Reference]:
    con = duckdb.connect(str(duckdb_trust_dir / "dwp" / "claimants.duckdb"), read_only=True)
    parquet = duckdb_trust_dir / "hmrc" / "paye_rti" / "*.parquet"
    con.execute(f"CREATE TEMP VIEW paye_rti AS SELECT * FROM read_parquet('{parquet}')")
    csv = duckdb_trust_dir / "ons" / "vacancies.csv"
    con.execute(f"CREATE TEMP VIEW vacancies AS SELECT * FROM read_csv('{csv}', header = true)")
    con.execute(
        "CREATE TEMP VIEW areas AS SELECT * FROM read_csv("
        f"'{duckdb_trust_dir / 'reference' / 'areas.csv'}', header = true, all_varchar = true)"
    )
    reference = load_reference(
        duckdb_trust_dir / "reference" / "areas.csv", duckdb_trust_dir / "reference" / "sectors.csv"
    )
    return con, reference


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_the_duckdb_sql_returns_the_reference_rows(
    case: dict[str, Any], demo: tuple[duckdb.DuckDBPyConnection, Reference]
) -> None:
    con, reference = demo
    sql = compiled(case, "duckdb", reference)
    rows = con.execute(sql, query(case).params()).fetchall()
    expected = con.execute(case["reference"]).fetchall()
    width = len(case.get("dimensions", ())) + len(case.get("measures", ()))
    got = [tuple(_round(v) for v in r[:width]) for r in rows]
    want = [tuple(_round(v) for v in r) for r in expected]
    ordered = bool(case.get("order")) or case.get("limit") is not None
    assert (got if ordered else sorted(got, key=repr)) == (
        want if ordered else sorted(want, key=repr)
    )
    assert got, "a fixture should return rows on the demo data"
    if case.get("cell_key"):  # the key is the sum of the distinct contributors' record keys
        keys = con.execute(case["reference_keys"]).fetchall()
        assert sorted((*r[:width], r[-1]) for r in rows) == sorted(tuple(k) for k in keys)


def _round(v: Any) -> Any:
    return round(v, 6) if isinstance(v, float) else v
