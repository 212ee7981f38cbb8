"""The oracle for callers who get disclosure-controlled values, from docs/disclosure.md
("Methods" and "Rules for controlled callers"), not from the server's code.

A query is first judged against "standard cells only": a filter on a dimension the query
does not select may only pin it (`eq`, or `in` with one value) at the top level of
`where`, directly or inside `and`. A permitted query is answered as a complete table:
the lattice of the selected dimensions' categories, filtered by the `where` (evaluated
in DuckDB on the lattice, the pins being the cells' own definition), joined with the
exact cells the SQL oracle computes on the sources, then published by each method
(the published functions ``perturb``, ``ten_five``, ``perturbed_mean``, ``cell_noise``),
with sparse areas withheld, sorted on the published values and paged.
"""

from __future__ import annotations

import functools
import itertools
import tomllib
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Any

import duckdb

from gql_trust.disclosure import perturb, ten_five
from gql_trust.disclosure.perturbed_mean import cell_noise, perturbed_mean

from .model import CLAIMANTS, PAYROLL, Caller, Dim, QuerySpec, load_domain, ym
from .sql_oracle import DEFAULT_LIMIT, PropertyOracle, grouped_sql, sql_condition, sql_value

SMALL = 3  # the sparse rule: "published under 3"
SEPARATOR = "\x1f"  # between the parts of a standard cell's identity
_MONTHS: dict[tuple[Any, ...], list[date]] = {}


class Refused(Exception):
    """The query is not made of standard cells: the dimensions whose filters break it."""

    def __init__(self, dims: set[str]) -> None:
        super().__init__(", ".join(sorted(dims)))
        self.dims = dims


@dataclass(frozen=True)
class Decision:
    pins: dict[str, frozenset[Any]]  # unselected dimension -> its pinned values
    rest: dict[str, Any]  # the `where` without the pins: conditions on selected dimensions


def decide(spec: QuerySpec, caller: Caller) -> Decision:
    """Standard cells only, or ``Refused`` naming every dimension filtered otherwise."""
    selected = {d.name for d in spec.dims}
    pins: dict[str, set[Any]] = defaultdict(set)
    bad: set[str] = set()

    def unselected(node: dict[str, Any]) -> Iterator[str]:
        """Every unselected dimension filtered anywhere in ``node``."""
        for dim in spec.dataset.dims:
            if dim.filter in node and dim.name not in selected:
                yield dim.name
        for item in [*node.get("and", []), *node.get("or", [])]:
            yield from unselected(item)
        if "not" in node:
            yield from unselected(node["not"])

    def top(node: dict[str, Any]) -> dict[str, Any]:
        """``node`` (of the top-level conjunction) with its pins taken out."""
        out: dict[str, Any] = {}
        for dim in spec.dataset.dims:
            ops = node.get(dim.filter)
            if ops is None:
                continue
            if dim.name in selected:
                out[dim.filter] = ops
                continue
            for op, value in ops.items():
                if op == "eq":
                    pins[dim.name].add(value)
                elif op == "in" and len(set(value)) == 1:
                    pins[dim.name].add(value[0])
                else:
                    bad.add(dim.name)
        if "and" in node:
            out["and"] = [top(item) for item in node["and"]]
        for key in ("or", "not"):
            if key in node:
                bad.update(unselected({key: node[key]}))
                out[key] = node[key]
        return out

    rest = top(spec.where or {})
    if bad:
        raise Refused(bad)
    for name, value in caller.scope:  # the row scope is a pin like any other
        if name not in selected:
            pins[name].add(value)
    return Decision({k: frozenset(v) for k, v in pins.items()}, rest)


def pins_where(pins: dict[str, frozenset[Any]], spec: QuerySpec) -> dict[str, Any]:
    return {
        "and": [
            {spec.dataset.dim(name).filter: {"eq": value}}
            for name, values in pins.items()
            for value in sorted(values)
        ]
    }


@dataclass
class Cell:
    """One row of a controlled answer: its dimensions, exact and published values."""

    dims: dict[str, Any]  # grouped dimension -> value ("YYYY-MM" periods)
    exact: dict[str, Any]  # claimants, ck | employees, mean (absent: a true zero)
    published: dict[str, Any] = field(default_factory=dict)  # every measure
    withheld: bool = False
    area: str | None = None  # the area of its sparse-rule group (grouped or pinned)


@dataclass(frozen=True)
class ControlledAnswer:
    cells: list[Cell]  # the page, in order
    rows: list[tuple[Any, ...]]  # as QuerySpec.row gives a response cell
    disclosure: dict[str, int]
    withheld_areas: set[str | None]
    total: int  # rows of the whole table (before paging)


def normal(value: Any) -> Any:
    return ym(value) if isinstance(value, date) else value


class ControlledOracle:
    def __init__(self, directory: Path, pg_dsn: str | None) -> None:
        self.exact = PropertyOracle(directory, pg_dsn)
        self.directory = directory
        self.domain = load_domain(directory)
        self.key = _secret(directory)

    async def months(self, spec: QuerySpec) -> list[date]:
        """Every month from the dataset's first period to its last, read from the source."""
        cache = (self.directory, self.exact.pg_dsn, spec.dataset.name)
        if cache not in _MONTHS:
            table = self.exact.table(spec)
            sql = f"SELECT min(month) AS a, max(month) AS b FROM {table}"
            row = (await self.exact.fetch(spec, sql))[0]
            out = [row["a"]]
            while out[-1] < row["b"]:
                m = out[-1]
                out.append(date(m.year + m.month // 12, m.month % 12 + 1, 1))
            _MONTHS[cache] = out
        return _MONTHS[cache]

    async def categories(self, dim: Dim, spec: QuerySpec, caller: Caller) -> list[Any]:
        if dim.kind == "period":
            return [ym(m) for m in await self.months(spec)]
        if dim.kind == "area":
            scoped = [v for name, v in caller.scope if name == "area"]
            return scoped or list(self.domain.codes_at(spec.geography))
        if dim.kind == "sector":
            return list(self.domain.sectors)
        if dim.kind == "boolean":
            return [False, True]
        return list(dim.values)

    async def lattice(
        self, spec: QuerySpec, caller: Caller, decision: Decision
    ) -> list[dict[str, Any]]:
        """The table's rows: every combination of the selected dimensions' categories that
        satisfies the `where` (pins aside), in no particular order."""
        if not spec.dims:
            return [{}]  # one cell, whatever the filters (they decide its value)
        lists = [await self.categories(d, spec, caller) for d in spec.dims]
        source = " CROSS JOIN ".join(
            f"(SELECT unnest([{', '.join(sql_value(d, v) for v in values)}]) AS {d.column})"
            for d, values in zip(spec.dims, lists, strict=True)
        )
        condition = sql_condition(decision.rest, spec, lambda d: f"l.{d.column}")
        columns = ", ".join(f"l.{d.column}" for d in spec.dims)
        sql = f"SELECT {columns} FROM (SELECT * FROM {source}) l WHERE {condition}"
        con = duckdb.connect()
        try:
            result = con.execute(sql).fetchall()
        finally:
            con.close()
        return [{d.name: normal(v) for d, v in zip(spec.dims, r, strict=True)} for r in result]

    async def cells(
        self, spec: QuerySpec, where: dict[str, Any] | None
    ) -> dict[tuple[Any, ...], dict[str, Any]]:
        """Exact non-empty cells under ``where``, keyed by their grouped dimensions."""
        probe = replace(spec, where=where)
        sql = grouped_sql(probe, self.exact.table(spec), self.domain.rollup[spec.geography])
        out = {}
        for row in await self.exact.fetch(spec, sql):
            key = tuple(normal(row[f"d{i}"]) for i in range(len(spec.dims)))
            out[key] = row
        return out

    def identity(self, spec: QuerySpec, cell: dict[str, Any], decision: Decision) -> bytes:
        """The standard cell's identity, as docs/disclosure.md spells it."""
        parts = [spec.dataset.name]
        for dim in spec.dataset.dims:
            if dim.name in cell:
                value = cell[dim.name]
            elif len(decision.pins.get(dim.name, ())) == 1:
                (value,) = decision.pins[dim.name]
            else:
                value = "*"
            if isinstance(value, bool):
                value = "true" if value else "false"
            parts.append(f"{dim.name}={value}")
        return SEPARATOR.join(parts).encode()

    async def answer(self, spec: QuerySpec, caller: Caller) -> ControlledAnswer:
        """The documented answer to a permitted query (``decide`` must not refuse it)."""
        decision = decide(spec, caller)
        lattice = await self.lattice(spec, caller, decision)
        pinned = pins_where(decision.pins, spec)
        full = {"and": [pinned, decision.rest]}
        values = await self.cells(spec, full)
        names = [d.name for d in spec.dims]
        sparse = (
            await self.sparse_groups(spec, caller, pinned) if spec.dataset is CLAIMANTS else set()
        )
        table: list[Cell] = []
        for dims in lattice:
            key = tuple(dims[n] for n in names)
            row = values.get(key)
            cell = Cell(dims, self.exact_values(spec, row))
            cell.published = self.publish(spec, cell, decision)
            group = self.group_of(spec, dims)
            if spec.measures and group in sparse:
                cell.withheld = True
                cell.published = {m: None for m in spec.dataset.measures}
            area = dims.get("area")
            if area is None and len(decision.pins.get("area", ())) == 1:
                (area,) = decision.pins["area"]
            cell.area = area
            table.append(cell)
        table.sort(key=functools.cmp_to_key(self.compare(spec)))
        start = spec.offset or 0
        page = table[start : start + (DEFAULT_LIMIT if spec.limit is None else spec.limit)]
        disclosure = {"suppressed": 0, "perturbed": 0, "withheld": 0}
        areas: set[str | None] = set()
        for cell in page:
            if not spec.measures:
                continue
            if cell.withheld:
                disclosure["withheld"] += 1
                areas.add(cell.area)
            elif any(cell.published[m] is None for m in spec.measures):
                disclosure["suppressed"] += 1  # only under 10-5 (a mean follows its count)
            elif "claimants" in spec.measures or "meanMonthlyPay" in spec.measures:
                disclosure["perturbed"] += 1
        rows = [
            (*(c.dims[n] for n in names), *(c.published[m] for m in spec.measures)) for c in page
        ]
        return ControlledAnswer(page, rows, disclosure, areas, len(table))

    @staticmethod
    def exact_values(spec: QuerySpec, row: dict[str, Any] | None) -> dict[str, Any]:
        if spec.dataset is CLAIMANTS:
            return {"claimants": row["m_claimants"] if row else 0, "ck": row["ck"] if row else 0}
        assert spec.dataset is PAYROLL
        return {
            "employees": (row["m_employees"] or 0) if row else 0,
            "mean": row["m_meanmonthlypay"] if row else None,
        }

    def publish(self, spec: QuerySpec, cell: Cell, decision: Decision) -> dict[str, Any]:
        if spec.dataset is CLAIMANTS:
            return {"claimants": perturb(cell.exact["claimants"], cell.exact["ck"] or 0)}
        count = cell.exact["employees"]
        employees = ten_five(count)
        noise = cell_noise(self.key, self.identity(spec, cell.dims, decision))
        mean = perturbed_mean(cell.exact["mean"], count, employees, noise)
        return {"employees": employees, "meanMonthlyPay": mean}

    @staticmethod
    def group_of(spec: QuerySpec, dims: dict[str, Any]) -> tuple[Any, ...]:
        """The sparse rule's group: the grouped area and period (or the whole table)."""
        return tuple(dims[n] for n in ("area", "period") if n in dims)

    async def sparse_groups(
        self, spec: QuerySpec, caller: Caller, pinned: dict[str, Any]
    ) -> set[tuple[Any, ...]]:
        """Groups where more than half of the cells are published under 3, over every
        category of the other grouped dimensions whatever the filters on them (so: the
        exact cells under the pins alone, absent cells being true zeros), read from the
        published values only."""
        exact = await self.cells(spec, pinned)
        names = [d.name for d in spec.dims]
        lists = [await self.categories(d, spec, caller) for d in spec.dims]
        cells: dict[tuple[Any, ...], int] = defaultdict(int)
        small: dict[tuple[Any, ...], int] = defaultdict(int)
        for key in itertools.product(*lists):
            row = exact.get(tuple(normal(v) for v in key))
            published = perturb(row["m_claimants"], row["ck"] or 0) if row else 0
            group = self.group_of(spec, dict(zip(names, key, strict=True)))
            cells[group] += 1
            small[group] += published < SMALL
        return {g for g in cells if 2 * small[g] > cells[g]}

    @staticmethod
    def compare(spec: QuerySpec) -> Any:
        """The caller's keys, then the grouped dimensions ascending; nulls last."""
        keys = list(spec.order)
        keys += [(d.name, False) for d in spec.dims if all(d.name != f for f, _ in keys)]

        def value(cell: Cell, name: str) -> Any:
            return cell.dims[name] if name in cell.dims else cell.published[name]

        def compare(a: Cell, b: Cell) -> int:
            for name, desc in keys:
                x, y = value(a, name), value(b, name)
                if x == y:
                    continue
                if x is None or y is None:
                    return 1 if x is None else -1
                result = -1 if x < y else 1
                return -result if desc else result
            return 0

        return compare


@functools.cache
def _secret(directory: Path) -> bytes:
    """The trust's disclosure secret: `[disclosure] key_file` of its gql-trust.toml."""
    with (directory / "gql-trust.toml").open("rb") as handle:
        config = tomllib.load(handle)
    key_file: str = config["disclosure"]["key_file"]
    return (directory / key_file).read_bytes()
