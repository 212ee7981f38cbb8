"""The six workloads, each with its baselines.

For every workload: the GraphQL query sent to gql-trust; the same aggregation as
hand-written SQL for the source's own driver (baseline a, the physical limit);
for claimants that is ``COUNT(*)``, since the table's primary key (claimant_id,
month) makes each claimant one row per month, so within any cell that includes the
month, rows are distinct claimants (the runner checks it against ``COUNT(DISTINCT)``);
the batch-copy aggregation over whole relations copied into the process (baseline
b); and, for W1, W2 and W4, the equivalent PostGraphile + pg-aggregates query
(baseline c). Each also says how to turn each answer into a set of comparable
cells, so the runner can check that everyone computed the same thing.

Only the documented physical layout of the demo trust is used here (DESIGN.md,
"Demo data trust"): the benchmark reads the sources as an oracle would.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

Cells = set[tuple[Any, ...]]

W1_AREA = "E08000025"  # Birmingham
W4_MONTHS = 22  # 91 local authorities x 22 months x 5 age bands = 10,010 cells at any scale


@dataclass(frozen=True)
class SourceQuery:
    """One statement for a source's own driver: asyncpg (``postgres``) or duckdb."""

    source: str
    sql: str
    params: tuple[Any, ...] = ()


@dataclass(frozen=True)
class Workload:
    key: str
    title: str
    principal: str  # key into runner.PRINCIPALS
    graphql: str
    cells: Callable[[dict[str, Any]], Cells]  # GraphQL `data` -> cells
    raw: tuple[SourceQuery, ...]
    raw_cells: Callable[[list[list[tuple[Any, ...]]]], Cells]
    relations: tuple[str, ...]  # what batch copy moves
    batch: Callable[[dict[str, pa.Table]], Cells]
    # The same cells as COUNT(DISTINCT claimant_id), the statement shape PostGraphile sends:
    # measured for the PostgreSQL workloads PostGraphile also serves.
    raw_distinct: tuple[SourceQuery, ...] = ()
    postgraphile: str | None = None
    postgraphile_cells: Callable[[dict[str, Any]], Cells] | None = None
    compare: bool = True  # the server's answer must equal the raw answer


@dataclass(frozen=True)
class Layout:
    """Where the demo trust's sources are, and the facts the queries need."""

    data_dir: Path
    months: tuple[date, ...]
    region_of: dict[str, str]  # local authority -> its REGION-level area

    @property
    def parquet(self) -> str:
        return str(self.data_dir / "hmrc" / "paye_rti" / "*.parquet")

    @property
    def vacancies_csv(self) -> str:
        return str(self.data_dir / "ons" / "vacancies.csv")

    @classmethod
    def read(cls, data_dir: Path, months: tuple[date, ...]) -> Layout:
        with (data_dir / "reference" / "areas.csv").open(encoding="utf-8") as handle:
            areas = list(csv.DictReader(handle))
        region_of = {a["code"]: a["parent_code"] for a in areas if a["level"] == "LOCAL_AUTHORITY"}
        return cls(data_dir, months, region_of)


def ym(value: Any) -> str:
    """A month (date, or 'YYYY-MM-DD' text) as the API's 'YYYY-MM'."""
    return value.strftime("%Y-%m") if isinstance(value, date) else str(value)[:7]


def _sql_str(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _region_values(layout: Layout) -> str:
    rows = ", ".join(
        f"({_sql_str(la)}, {_sql_str(r)})" for la, r in sorted(layout.region_of.items())
    )
    return f"(VALUES {rows}) AS g(code, region)"


def _pg_keys(data: dict[str, Any]) -> list[dict[str, Any]]:
    return data["allUcClaimants"]["groupedAggregates"]


# --- batch copy: whole relations in the process, aggregated with pyarrow -----------------


def _count_distinct(table: pa.Table, keys: list[str]) -> pa.Table:
    return table.group_by(keys).aggregate([("claimant_id", "count_distinct")])


def _rows(table: pa.Table, *columns: str) -> list[tuple[Any, ...]]:
    return list(zip(*(table.column(c).to_pylist() for c in columns), strict=True))


def build(layout: Layout) -> list[Workload]:
    last = layout.months[-1]
    w4_from = layout.months[-W4_MONTHS]
    pg_table = "dwp.uc_claimants"
    parquet = _sql_str(layout.parquet)
    vacancies_csv = _sql_str(layout.vacancies_csv)

    # W1 ------------------------------------------------------------------------------
    def w1_batch(copies: dict[str, pa.Table]) -> Cells:
        t = copies["claimants"]
        t = t.filter(pc.and_(pc.equal(t["area_code"], W1_AREA), pc.equal(t["month"], last)))
        t = _count_distinct(t, ["age_band", "sex"])
        return set(_rows(t, "age_band", "sex", "claimant_id_count_distinct"))

    w1 = Workload(
        key="W1",
        title="light: one area, one period, 10 cells",
        principal="dwp",
        graphql=(
            f'{{ claimants(where: {{areaCode: {{eq: "{W1_AREA}"}}, period: {{eq: "{ym(last)}"}}}}) '
            "{ ageBand sex claimants } }"
        ),
        cells=lambda d: {(c["ageBand"], c["sex"], c["claimants"]) for c in d["claimants"]},
        raw=(
            SourceQuery(
                "postgres",
                f"SELECT age_band, sex, COUNT(*) FROM {pg_table} "
                "WHERE area_code = $1 AND month = $2 GROUP BY 1, 2 ORDER BY 1, 2",
                (W1_AREA, last),
            ),
        ),
        raw_distinct=(
            SourceQuery(
                "postgres",
                f"SELECT age_band, sex, COUNT(DISTINCT claimant_id) FROM {pg_table} "
                "WHERE area_code = $1 AND month = $2 GROUP BY 1, 2 ORDER BY 1, 2",
                (W1_AREA, last),
            ),
        ),
        raw_cells=lambda rs: {tuple(r) for r in rs[0]},
        relations=("claimants",),
        batch=w1_batch,
        postgraphile=(
            f'{{ allUcClaimants(filter: {{areaCode: {{equalTo: "{W1_AREA}"}}, '
            f'month: {{equalTo: "{last.isoformat()}"}}}}) '
            "{ groupedAggregates(groupBy: [AGE_BAND, SEX]) "
            "{ keys distinctCount { claimantId } } } }"
        ),
        postgraphile_cells=lambda d: {
            (*g["keys"], int(g["distinctCount"]["claimantId"])) for g in _pg_keys(d)
        },
    )

    # W2 ------------------------------------------------------------------------------
    def w2_batch(copies: dict[str, pa.Table]) -> Cells:
        t = _count_distinct(copies["claimants"], ["area_code", "month"])
        return {
            (a, ym(m), n)
            for a, m, n in _rows(t, "area_code", "month", "claimant_id_count_distinct")
        }

    w2 = Workload(
        key="W2",
        title="heavy: all claimant microdata (PostgreSQL) by area and period",
        principal="dwp",
        graphql="{ claimants(limit: 100000) { period area { code } claimants } }",
        cells=lambda d: {(c["area"]["code"], c["period"], c["claimants"]) for c in d["claimants"]},
        raw=(
            SourceQuery(
                "postgres",
                f"SELECT area_code, month, COUNT(*) FROM {pg_table} GROUP BY 1, 2 ORDER BY 1, 2",
            ),
        ),
        raw_distinct=(
            SourceQuery(
                "postgres",
                f"SELECT area_code, month, COUNT(DISTINCT claimant_id) FROM {pg_table} "
                "GROUP BY 1, 2 ORDER BY 1, 2",
            ),
        ),
        raw_cells=lambda rs: {(a, ym(m), n) for a, m, n in rs[0]},
        relations=("claimants",),
        batch=w2_batch,
        postgraphile=(
            "{ allUcClaimants { groupedAggregates(groupBy: [AREA_CODE, MONTH]) "
            "{ keys distinctCount { claimantId } } } }"
        ),
        postgraphile_cells=lambda d: {
            (g["keys"][0], ym(g["keys"][1]), int(g["distinctCount"]["claimantId"]))
            for g in _pg_keys(d)
        },
    )

    # W3 ------------------------------------------------------------------------------
    def w3_batch(copies: dict[str, pa.Table]) -> Cells:
        t = copies["paye_rti"].group_by(["sic_section", "month"])
        t = t.aggregate([("employees", "sum"), ("total_pay", "sum")])
        return {
            (s, ym(m), int(e), round(p / e, 4) if e else None)
            for s, m, e, p in _rows(t, "sic_section", "month", "employees_sum", "total_pay_sum")
        }

    w3 = Workload(
        key="W3",
        title="HMRC Parquet (DuckDB) by sector and period",
        principal="hmrc",
        graphql=(
            "{ payrolledEmployees(limit: 100000) "
            "{ period sector { code } employees meanMonthlyPay } }"
        ),
        cells=lambda d: {
            (
                c["sector"]["code"],
                c["period"],
                c["employees"],
                None if c["meanMonthlyPay"] is None else round(c["meanMonthlyPay"], 4),
            )
            for c in d["payrolledEmployees"]
        },
        raw=(
            SourceQuery(
                "duckdb",
                "SELECT sic_section, month, SUM(employees), "
                "SUM(total_pay) / NULLIF(SUM(employees), 0) "
                f"FROM read_parquet({parquet}) GROUP BY 1, 2 ORDER BY 1, 2",
            ),
        ),
        raw_cells=lambda rs: {
            (s, ym(m), int(e), None if p is None else round(p, 4)) for s, m, e, p in rs[0]
        },
        relations=("paye_rti",),
        batch=w3_batch,
    )

    # W4 ------------------------------------------------------------------------------
    def w4_batch(copies: dict[str, pa.Table]) -> Cells:
        t = copies["claimants"]
        t = _count_distinct(
            t.filter(pc.greater_equal(t["month"], w4_from)), ["area_code", "month", "age_band"]
        )
        return {
            (a, ym(m), b, n)
            for a, m, b, n in _rows(
                t, "area_code", "month", "age_band", "claimant_id_count_distinct"
            )
        }

    w4 = Workload(
        key="W4",
        title="large result: ~10,000 cells (area x period x age band)",
        principal="dwp",
        graphql=(
            f'{{ claimants(where: {{period: {{gte: "{ym(w4_from)}"}}}}, limit: 100000) '
            "{ period area { code } ageBand claimants } }"
        ),
        cells=lambda d: {
            (c["area"]["code"], c["period"], c["ageBand"], c["claimants"]) for c in d["claimants"]
        },
        raw=(
            SourceQuery(
                "postgres",
                f"SELECT area_code, month, age_band, COUNT(*) FROM {pg_table} "
                "WHERE month >= $1 GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
                (w4_from,),
            ),
        ),
        raw_distinct=(
            SourceQuery(
                "postgres",
                f"SELECT area_code, month, age_band, COUNT(DISTINCT claimant_id) FROM {pg_table} "
                "WHERE month >= $1 GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
                (w4_from,),
            ),
        ),
        raw_cells=lambda rs: {(a, ym(m), b, n) for a, m, b, n in rs[0]},
        relations=("claimants",),
        batch=w4_batch,
        postgraphile=(
            "{ allUcClaimants(filter: "
            f'{{month: {{greaterThanOrEqualTo: "{w4_from.isoformat()}"}}}}) '
            "{ groupedAggregates(groupBy: [AREA_CODE, MONTH, AGE_BAND]) "
            "{ keys distinctCount { claimantId } } } }"
        ),
        postgraphile_cells=lambda d: {
            (g["keys"][0], ym(g["keys"][1]), g["keys"][2], int(g["distinctCount"]["claimantId"]))
            for g in _pg_keys(d)
        },
    )

    # W5 ------------------------------------------------------------------------------
    def w5_cells(d: dict[str, Any]) -> Cells:
        out: Cells = set()
        for area in d["areas"]:
            out |= {("c", area["code"], c["period"], c["claimants"]) for c in area["claimants"]}
            out |= {("v", area["code"], c["period"], c["vacancies"]) for c in area["vacancies"]}
        return out

    def w5_batch(copies: dict[str, pa.Table]) -> Cells:
        c = _count_distinct(copies["claimants"], ["area_code", "month"])
        v = copies["vacancies"].group_by(["area_code", "month"]).aggregate([("vacancies", "sum")])
        return {
            ("c", a, ym(m), n)
            for a, m, n in _rows(c, "area_code", "month", "claimant_id_count_distinct")
        } | {("v", a, ym(m), int(n)) for a, m, n in _rows(v, "area_code", "month", "vacancies_sum")}

    w5 = Workload(
        key="W5",
        title="nested: areas(level: LOCAL_AUTHORITY) { claimants vacancies }",
        principal="dwp",
        graphql=(
            "{ areas(level: LOCAL_AUTHORITY) { code claimants { period claimants } "
            "vacancies { period vacancies } } }"
        ),
        cells=w5_cells,
        raw=(
            SourceQuery(
                "postgres",
                f"SELECT area_code, month, COUNT(*) FROM {pg_table} GROUP BY 1, 2 ORDER BY 1, 2",
            ),
            SourceQuery(
                "duckdb",
                "SELECT area_code, month, SUM(vacancies) "
                f"FROM read_csv({vacancies_csv}) GROUP BY 1, 2 ORDER BY 1, 2",
            ),
        ),
        raw_cells=lambda rs: (
            {("c", a, ym(m), n) for a, m, n in rs[0]}
            | {("v", a, ym(m), int(n)) for a, m, n in rs[1]}
        ),
        relations=("claimants", "vacancies"),
        batch=w5_batch,
    )

    # W6 ------------------------------------------------------------------------------
    regions = _region_values(layout)

    def w6_batch(copies: dict[str, pa.Table]) -> Cells:
        mapping = pa.table(
            {"area_code": list(layout.region_of), "region": list(layout.region_of.values())}
        )
        c = copies["claimants"].join(mapping, "area_code")
        c = _count_distinct(c, ["region", "month"])
        v = copies["vacancies"].join(mapping, "area_code")
        v = v.group_by(["region", "month"]).aggregate([("vacancies", "sum")])
        e = copies["paye_rti"].join(mapping, "area_code")
        e = e.group_by(["region", "month"]).aggregate([("employees", "sum")])
        return (
            {
                ("c", r, ym(m), n)
                for r, m, n in _rows(c, "region", "month", "claimant_id_count_distinct")
            }
            | {("v", r, ym(m), int(n)) for r, m, n in _rows(v, "region", "month", "vacancies_sum")}
            | {
                ("e", r, ym(m), _ten_five(int(n)))
                for r, m, n in _rows(e, "region", "month", "employees_sum")
            }
        )

    def w6_cells(d: dict[str, Any]) -> Cells:
        out: Cells = set()
        for c in d["labourMarket"]:
            key = (c["area"]["code"], c["period"])
            out.add(("c", *key, c["claimants"]))
            out.add(("v", *key, c["vacancies"]))
            out.add(("e", *key, c["employees"]))
        return out

    w6 = Workload(
        key="W6",
        title="stitched labourMarket (3 sources) by region and period",
        principal="dwp",
        graphql=(
            "{ labourMarket(geography: REGION, limit: 100000) { period area { code } "
            "claimants employees vacancies claimantsPerThousandEmployees vacanciesPerClaimant } }"
        ),
        cells=w6_cells,
        raw=(
            SourceQuery(
                "postgres",
                f"SELECT g.region, t.month, COUNT(*) FROM {pg_table} AS t "
                f"JOIN {regions} ON t.area_code = g.code GROUP BY 1, 2 ORDER BY 1, 2",
            ),
            SourceQuery(
                "duckdb",
                f"SELECT g.region, t.month, SUM(t.employees) FROM read_parquet({parquet}) AS t "
                f"JOIN {regions} ON t.area_code = g.code GROUP BY 1, 2 ORDER BY 1, 2",
            ),
            SourceQuery(
                "duckdb",
                f"SELECT g.region, t.month, SUM(t.vacancies) FROM read_csv({vacancies_csv}) AS t "
                f"JOIN {regions} ON t.area_code = g.code GROUP BY 1, 2 ORDER BY 1, 2",
            ),
        ),
        raw_cells=lambda rs: (
            {("c", r, ym(m), n) for r, m, n in rs[0]}
            | {("e", r, ym(m), _ten_five(int(n))) for r, m, n in rs[1]}
            | {("v", r, ym(m), int(n)) for r, m, n in rs[2]}
        ),
        relations=("claimants", "paye_rti", "vacancies"),
        batch=w6_batch,
    )
    return [w1, w2, w3, w4, w5, w6]


def _ten_five(value: int) -> int | None:
    """The 10-5 rule a non-owner sees (DESIGN.md): under 10 -> null, else nearest 5."""
    if value < 10:
        return None
    return 5 * ((value + 2) // 5)  # halves round up
