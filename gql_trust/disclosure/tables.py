"""Complete tables: every standard cell of a query, not only the non-empty ones.

A source's GROUP BY returns only the groups that have rows, so a controlled answer
built from it tells a true zero (absent) from a small count (present, perhaps
published as 0). For a caller who gets controlled values the server instead
releases every combination of the grouped dimensions' categories within the
filters (categories from the contract's ``values``, the reference data and the
periods the dataset covers), true zeros published as their method publishes them.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable, Sequence
from datetime import date
from typing import Any

from ..contracts.model import Aggregation, Conformed, Contract, Dimension
from ..errors import InvalidQuery
from ..planner.query import And, Cond, Filter, Not, walk
from ..reference import Level, Reference

Row = tuple[Any, ...]


def months(first: date, last: date) -> tuple[date, ...]:
    """Every month from ``first`` to ``last``, as the first day of the month."""
    index = first.year * 12 + first.month - 1
    end = last.year * 12 + last.month - 1
    return tuple(date(i // 12, i % 12 + 1, 1) for i in range(index, end + 1))


def categories(
    dimension: Dimension, reference: Reference, geography: Level, periods: Sequence[date]
) -> tuple[Any, ...]:
    """Every category a dimension can take in a table at ``geography``, in order."""
    if dimension.conformed is Conformed.PERIOD:
        return tuple(periods)
    if dimension.conformed is Conformed.AREA:
        return tuple(sorted(reference.codes_at(geography)))
    if dimension.conformed is Conformed.SECTOR:
        return tuple(sorted(reference.sectors))
    if dimension.type == "Boolean":
        return (False, True)
    return dimension.values


def split_where(
    where: Filter | None, contract: Contract, dimensions: tuple[str, ...]
) -> tuple[Filter | None, Filter | None]:
    """(filter for the source, filter applied here) for a controlled table.

    The source keeps what narrows areas, periods and pinned dimensions; conditions on
    the other grouped dimensions are applied to the completed table, so that the
    sparsity rule sees an area's whole table, not the cells a caller chose to show.
    """
    outer = {d.name for d in contract.dimensions if d.conformed in _OUTER} | (
        {d.name for d in contract.dimensions} - set(dimensions)
    )
    items = conjuncts(where)
    pushed: list[Filter] = []
    kept: list[Filter] = []
    for item in items:
        fields = {c.field for c in walk(item)}
        (pushed if fields <= outer else kept).append(item)
    return _all(pushed), _all(kept)


_OUTER = (Conformed.AREA, Conformed.PERIOD)


def conjuncts(where: Filter | None) -> list[Filter]:
    """The items of a filter's top-level AND, nested ANDs flattened (a pin written inside
    `and: [...]`, or beside the caller's row scope, is still a pin)."""
    if where is None:
        return []
    if isinstance(where, And):
        return [item for inner in where.items for item in conjuncts(inner)]
    return [where]


def _all(items: list[Filter]) -> Filter | None:
    if not items:
        return None
    return items[0] if len(items) == 1 else And(tuple(items))


def matches(node: Filter | None, cell: dict[str, Any]) -> bool:
    """Whether a cell's dimension values satisfy a filter (the source's semantics)."""
    if node is None:
        return True
    if isinstance(node, Cond):
        if node.field not in cell:
            return True  # an ungrouped dimension: pinned, so the source applied it
        return _TESTS[node.op](cell[node.field], node.values)
    if isinstance(node, Not):
        return not matches(node.item, cell)
    if isinstance(node, And):
        return all(matches(item, cell) for item in node.items)
    return any(matches(item, cell) for item in node.items)


_TESTS: dict[str, Callable[[Any, Any], bool]] = {
    "eq": lambda v, xs: v == xs[0],
    "ne": lambda v, xs: v != xs[0],
    "in": lambda v, xs: v in xs,
    "notIn": lambda v, xs: v not in xs,
    "gt": lambda v, xs: v > xs[0],
    "gte": lambda v, xs: v >= xs[0],
    "lt": lambda v, xs: v < xs[0],
    "lte": lambda v, xs: v <= xs[0],
}


def lattice(
    axes: Sequence[tuple[str, tuple[Any, ...]]], where: Filter | None, most: int
) -> list[Row]:
    """Every combination of the axes' categories that satisfies ``where``.

    Single-dimension conditions at the top level narrow each axis first, so a filter
    on the period or the area keeps the product small; ``most`` bounds what is left.
    """
    single = [c for c in conjuncts(where) if isinstance(c, Cond)]
    narrowed = [
        (name, tuple(v for v in values if _axis_ok(single, name, v))) for name, values in axes
    ]
    size = math.prod(len(values) for _, values in narrowed)
    if size > most:
        raise InvalidQuery(
            f"this table has {size:,} standard cells, more than the {most:,} a "
            "disclosure-controlled table may have; filter a selected dimension (the period "
            "or the area, say) to fewer values, or select fewer dimensions"
        )
    names = [name for name, _ in narrowed]
    product: Iterable[Row] = itertools.product(*(values for _, values in narrowed))
    return [cell for cell in product if matches(where, dict(zip(names, cell, strict=True)))]


def _axis_ok(conditions: list[Cond], name: str, value: Any) -> bool:
    return all(c.field != name or matches(c, {name: value}) for c in conditions)


def as_zero(contract: Contract, rows: list[Row], dims: int, measures: tuple[str, ...]) -> list[Row]:
    """A count or sum over no rows is 0, not null: an aggregate without GROUP BY over an
    empty selection comes back as NULL, and a controlled release must publish it like
    any other true zero."""
    sums = [
        dims + i
        for i, m in enumerate(measures)
        if contract.measure(m).aggregation is not Aggregation.RATIO
    ]
    if not any(row[i] is None for row in rows for i in sums):
        return rows
    return [tuple(0 if v is None and i in sums else v for i, v in enumerate(r)) for r in rows]


def zero_measures(contract: Contract, measures: tuple[str, ...]) -> tuple[Any, ...]:
    """A cell with no rows: counts and sums are 0, a ratio has no value."""
    return tuple(
        None if contract.measure(m).aggregation is Aggregation.RATIO else 0 for m in measures
    )


def complete(rows: list[Row], width: int, cells: list[Row], empty: tuple[Any, ...]) -> list[Row]:
    """The source's rows (keyed by their first ``width`` values) for every lattice cell,
    ``cell + empty`` where the source had none; source rows outside the lattice (a value
    the reference data does not know) are kept too."""
    found: dict[Row, Row] = {row[:width]: row for row in rows}
    table = [found.pop(cell) if cell in found else (*cell, *empty) for cell in cells]
    table.extend(found.values())
    return table
