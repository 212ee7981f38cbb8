"""The oracle: the sources read directly (never the server), as DESIGN.md lays them out."""

from __future__ import annotations

import asyncio
from typing import Any

import duckdb
import pyarrow as pa

from gql_trust.config import Settings

from .views import Geography, View, contract_dims

RELATIONS = {"claimants": ("dwp", "uc_claimants"), "payrolledEmployees": ("hmrc", "paye_rti")}


class Oracle:
    """True cell values of each view, from an in-memory DuckDB over the sources."""

    def __init__(self, settings: Settings, geo: Geography) -> None:
        self.settings, self.geo = settings, geo
        self.con = duckdb.connect()
        for dataset, (source, relation) in RELATIONS.items():
            self._attach(dataset, source, relation)
        las = list(geo.up["LOCAL_AUTHORITY"])
        self.con.register(
            "geo",
            pa.table({"la": las, **{lv: [m[la] for la in las] for lv, m in geo.up.items()}}),
        )
        self._cache: dict[str, dict[tuple[Any, ...], int]] = {}

    def _attach(self, dataset: str, source: str, relation: str) -> None:
        config = self.settings.sources[source]
        if config.kind == "postgres":
            assert config.dsn is not None
            table = asyncio.run(_postgres_table(config.dsn, config.schema or "public", relation))
            self.con.register(f"{dataset}_arrow", table)
            self.con.execute(f'CREATE VIEW "{dataset}" AS SELECT * FROM "{dataset}_arrow"')
        elif config.database is not None:
            self.con.execute(f"ATTACH '{config.database}' AS src_{source} (READ_ONLY)")
            self.con.execute(f'CREATE VIEW "{dataset}" AS SELECT * FROM src_{source}.{relation}')
        else:
            files = {r.name: r for r in config.relations}[relation]
            reader = "read_parquet" if files.format == "parquet" else "read_csv"
            self.con.execute(f"CREATE VIEW \"{dataset}\" AS SELECT * FROM {reader}('{files.path}')")

    def periods(self) -> list[str]:
        rows = self.con.execute(
            "SELECT DISTINCT strftime(month, '%Y-%m') FROM claimants ORDER BY 1"
        ).fetchall()
        return [r[0] for r in rows]

    def cells(self, view: View) -> dict[tuple[Any, ...], int]:
        """(period, area at the view's level, *dims) -> the true value, for non-empty cells."""
        if view.name not in self._cache:
            self._cache[view.name] = {
                k: v for k, v in self._grouped(view, view.measure).items() if k[1] in view.areas
            }
        return self._cache[view.name]

    def total_pay(self, view: View) -> dict[tuple[Any, ...], float]:
        return self._grouped(view, "total_pay")

    def _grouped(self, view: View, measure: str) -> dict[tuple[Any, ...], Any]:
        columns = {
            n: d.get("column", n) for n, d in contract_dims(self.settings, view.dataset).items()
        }
        dims = [f'd."{columns[d]}"' for d in view.dims]
        if measure == "claimants":
            value = "count(DISTINCT d.claimant_id)"
        elif measure == "employees":
            value = "sum(d.employees)"
        else:
            value = f"sum(d.{measure})"
        sql = (
            f"SELECT strftime(d.month, '%Y-%m'), geo.{view.geography}, {', '.join(dims)}, {value} "
            f'FROM "{view.dataset}" d JOIN geo ON d.area_code = geo.la GROUP BY ALL'
        )
        return {tuple(row[:-1]): row[-1] for row in self.con.execute(sql).fetchall()}


async def _postgres_table(dsn: str, schema: str, relation: str) -> pa.Table:
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        records = await conn.fetch(f'SELECT * FROM "{schema}"."{relation}"')
    finally:
        await conn.close()
    names = list(records[0].keys()) if records else []
    return pa.table({n: [r[n] for r in records] for n in names})
