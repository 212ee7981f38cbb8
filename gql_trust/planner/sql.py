"""Compile a logical ``CellQuery`` shape into one SQL statement with sqlglot.

Every grouping, filter, roll-up and aggregation happens in the source: the
statement returns exactly one row per result cell. Literal values never enter
the SQL text: they are bound parameters (``$1``, ``$2``...) in ``params()`` order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

from sqlglot import exp

from ..contracts.model import Aggregation, Conformed, Contract
from ..reference import Level, Reference
from .query import And, CellQuery, Cond, Filter, Not, Or, walk

CELL_KEY = "cell_key"  # extra output column: sum of contributing record keys mod 2^32
_MOD_2_32 = exp.Literal.number(2**32)


@dataclass(frozen=True)
class Compiled:
    sql: str
    columns: tuple[str, ...]  # dimensions, then measures, then CELL_KEY when present
    dialect: str


def compile_query(
    contract: Contract,
    query: CellQuery,
    *,
    table: exp.Table,
    dialect: str,
    reference: Reference,
    parameters: str = "numbered",
) -> Compiled:
    """``query`` should be a shape (``CellQuery.shape()``); values are bound later, as
    ``$1, $2...`` (``parameters="numbered"``) or named ``:p1, :p2...`` (``"named"``, for
    engines that bind by name, such as Spark), in ``params()`` order."""
    builder = _Builder(contract, query, table, reference, parameters)
    statement = builder.statement()
    columns = query.dimensions + query.measures + ((CELL_KEY,) if builder.cell_key else ())
    return Compiled(statement.sql(dialect=dialect), columns, dialect)


class _Builder:
    def __init__(
        self,
        contract: Contract,
        query: CellQuery,
        table: exp.Table,
        reference: Reference,
        parameters: str = "numbered",
    ) -> None:
        self.contract, self.query, self.reference = contract, query, reference
        self.named = parameters == "named"
        self.table = table.as_("t") if not table.alias else table
        self.next_param = 1
        area = contract.conformed(Conformed.AREA)
        self.area_name = area.name if area else None
        uses_area = self.area_name in query.dimensions or any(
            c.field == self.area_name for c in walk(query.where)
        )
        self.rolled = uses_area and query.geography is not Level.LOCAL_AUTHORITY
        self.microdata = contract.grain == "microdata"
        self.cell_key = (
            self.microdata and bool(contract.cell_key) and bool(query.measures) and query.cell_key
        )
        # Rows are unique per (unit, these dimensions): grouped by all of them, every
        # unit appears at most once per cell, so counting rows counts distinct units.
        # A filter that pins a dimension to one value does the same as grouping by it.
        fixed = set(query.dimensions) | _pinned(query.where)
        self.units_unique = bool(contract.unique_per) and all(
            d in fixed for d in contract.unique_per
        )

    def param(self) -> exp.Expression:
        """The next bound value's placeholder (values bind in the order params() lists)."""
        self.next_param += 1
        if self.named:
            return exp.Placeholder(this=f"p{self.next_param - 1}")
        return exp.Parameter(this=exp.Literal.number(self.next_param - 1))

    # --- expressions -------------------------------------------------------------

    def dimension(self, name: str) -> exp.Expression:
        if self.rolled and name == self.area_name:
            return exp.column("rolled", "g")
        return exp.column(self.contract.dimension(name).column, "t")

    def condition(self, node: Filter) -> exp.Expression:
        if isinstance(node, Cond):
            return self.comparison(node)
        if isinstance(node, Not):
            return exp.not_(exp.paren(self.condition(node.item)))
        parts = [exp.paren(self.condition(i)) for i in node.items]
        if not parts:  # empty and -> true, empty or -> false
            return exp.false() if isinstance(node, Or) else exp.true()
        combined = exp.or_(*parts) if isinstance(node, Or) else exp.and_(*parts)
        return cast(exp.Expression, combined)

    def comparison(self, cond: Cond) -> exp.Expression:
        column = self.dimension(cond.field)
        count = cond.values if isinstance(cond.values, int) else len(cond.values)
        if cond.op in ("in", "notIn"):
            if count == 0:
                return exp.false() if cond.op == "in" else exp.true()
            test = column.isin(*[self.param() for _ in range(count)])
            return test if cond.op == "in" else exp.not_(test)
        return _COMPARE[cond.op](column, self.param())

    def measure(self, name: str) -> exp.Expression:
        measure = self.contract.measure(name)
        if measure.aggregation is Aggregation.COUNT_DISTINCT:
            return exp.cast(exp.Count(this=exp.Star()), "BIGINT")  # units deduplicated below
        if measure.aggregation is Aggregation.SUM:
            total = exp.Sum(this=_column(measure.column))
            return exp.cast(total, "BIGINT" if measure.type == "Int" else "DOUBLE")
        numerator = exp.cast(exp.Sum(this=_column(measure.numerator)), "DOUBLE")
        denominator = exp.cast(exp.Sum(this=_column(measure.denominator)), "DOUBLE")
        return exp.Div(
            this=numerator, expression=exp.func("NULLIF", denominator, exp.Literal.number(0))
        )

    # --- statement ---------------------------------------------------------------

    def statement(self) -> exp.Select:
        q = self.query
        dims = {name: f"d{i}" for i, name in enumerate(q.dimensions)}
        meas = {name: f"m{i}" for i, name in enumerate(q.measures)}
        source = exp.select().from_(self.table)
        if self.rolled:
            area = exp.column(self.contract.dimension(self.area_name).column, "t")  # type: ignore[arg-type]
            on = exp.EQ(this=area, expression=exp.column("code", "g"))
            source = source.join(self.rollup_values(), on=on, join_type="inner")
        if q.where is not None:
            source = source.where(self.condition(q.where))

        if self.microdata:
            grouped = self.microdata_cells(source, dims, meas)
        else:
            grouped = source.select(
                *[self.dimension(n).as_(a) for n, a in dims.items()],
                *[self.measure(n).as_(a) for n, a in meas.items()],
            )
            for name in q.dimensions:
                grouped = grouped.group_by(self.dimension(name))

        aliases = {**dims, **meas}
        order = [
            exp.Ordered(this=exp.column(aliases[k.field]), desc=k.descending, nulls_first=False)
            for k in q.order
        ]
        if q.partition is not None and q.limit is not None:
            return self.per_partition_page(grouped, dims, meas, order)
        statement = grouped.order_by(*order) if order else grouped
        if q.limit is not None:
            statement = statement.limit(self.param())
        if q.offset:
            statement = statement.offset(self.param())
        return statement

    def microdata_cells(
        self, source: exp.Select, dims: dict[str, str], meas: dict[str, str]
    ) -> exp.Select:
        """Count distinct units: deduplicate (cell, unit) in the source, then count.

        The same pass sums each unit's record key once, for cell-key perturbation.
        """
        contract = self.contract
        if self.units_unique:
            cells = source.select(
                *[self.dimension(n).as_(a) for n, a in dims.items()],
                *[self.measure(n).as_(a) for n, a in meas.items()],
            )
            if self.cell_key:
                key = exp.Mod(this=exp.Sum(this=_column(contract.cell_key)), expression=_MOD_2_32)
                cells = cells.select(exp.cast(exp.paren(key), "BIGINT").as_("ck"))
            for name in dims:
                cells = cells.group_by(self.dimension(name))
            return cells
        units = source.select(*[self.dimension(n).as_(a) for n, a in dims.items()]).distinct()
        if meas:
            units = units.select(_column(contract.entity).as_("u"))
            if self.cell_key:
                units = units.select(_column(contract.cell_key).as_("k"))
        outer = exp.select(*[exp.column(a) for a in dims.values()]).from_(units.subquery("units"))
        outer = outer.select(*[self.measure(n).as_(a) for n, a in meas.items()])
        if self.cell_key:
            key = exp.Mod(this=exp.Sum(this=exp.column("k")), expression=_MOD_2_32)
            outer = outer.select(exp.cast(exp.paren(key), "BIGINT").as_("ck"))
        for alias in dims.values():
            outer = outer.group_by(exp.column(alias))
        return outer

    def per_partition_page(
        self,
        grouped: exp.Select,
        dims: dict[str, str],
        meas: dict[str, str],
        order: list[exp.Ordered],
    ) -> exp.Select:
        """limit/offset per partition value (one batched query for many parents)."""
        part = exp.column(dims[self.query.partition])  # type: ignore[index]
        window = exp.Window(
            this=exp.RowNumber(), partition_by=[part], order=exp.Order(expressions=order)
        )
        ranked = exp.select("*", window.as_("rn")).from_(grouped.subquery("cells"))
        columns = [*dims.values(), *meas.values(), *(["ck"] if self.cell_key else [])]
        limit = self.param()
        upper: exp.Expression = limit
        lower: exp.Expression = exp.Literal.number(0)
        if self.query.offset:
            lower = self.param()
            upper = exp.Add(this=limit, expression=lower)
        rn = exp.column("rn")
        return (
            exp.select(*columns)
            .from_(ranked.subquery("ranked"))
            .where(exp.and_(exp.GT(this=rn, expression=lower), exp.LTE(this=rn, expression=upper)))
            .order_by(part, rn)
        )

    def rollup_values(self) -> exp.Expression:
        """The area hierarchy, inlined: (local authority, code at the geography)."""
        rows = self.reference.rollup(self.query.geography)
        return exp.values(
            [exp.tuple_(exp.Literal.string(la), exp.Literal.string(up)) for la, up in rows],
            alias="g",
            columns=["code", "rolled"],
        )


def _column(name: str | None) -> exp.Column:
    """A column of the source relation (``t``); the contract loader guarantees the name."""
    if name is None:
        raise ValueError("the contract names no column here")
    return exp.column(name, "t")


def _pinned(where: Filter | None) -> set[str]:
    """Dimensions an AND of conditions fixes to a single value (``eq``, or ``in`` one)."""
    if isinstance(where, And):
        return set().union(*(_pinned(item) for item in where.items))
    if isinstance(where, Cond) and isinstance(where.values, int):
        single = where.op == "eq" or (where.op == "in" and where.values == 1)
        return {where.field} if single else set()
    return set()


_COMPARE: dict[str, Callable[[exp.Expression, exp.Expression], exp.Expression]] = {
    "eq": lambda c, p: exp.EQ(this=c, expression=p),
    "ne": lambda c, p: exp.NEQ(this=c, expression=p),
    "gt": lambda c, p: exp.GT(this=c, expression=p),
    "gte": lambda c, p: exp.GTE(this=c, expression=p),
    "lt": lambda c, p: exp.LT(this=c, expression=p),
    "lte": lambda c, p: exp.LTE(this=c, expression=p),
}


def compile_coverage(contract: Contract, *, table: exp.Table, dialect: str) -> str:
    """First and last period and how many periods a dataset covers, read from its source."""
    period = contract.conformed(Conformed.PERIOD)
    column = exp.column(period.column, "t")  # type: ignore[union-attr]
    statement = exp.select(
        exp.Min(this=column),
        exp.Max(this=column),
        exp.cast(exp.Count(this=exp.Distinct(expressions=[column])), "BIGINT"),
    ).from_(table.as_("t"))
    return statement.sql(dialect=dialect)
