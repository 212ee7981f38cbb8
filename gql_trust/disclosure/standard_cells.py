"""Standard cells: the only cells released to a caller who gets disclosure-controlled values.

A standard cell takes, for each dimension, one category or all of them. Filters on
the dimensions a query groups by only choose which standard cells come back; a
filter on any other dimension must pin it to one value, or the cell it aggregates
would be a custom set (``areaCode: {in: S + [target]}``), a new cell with its own
noise, and averaging many such sets recovers a small count.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from dataclasses import dataclass
from typing import Any

from ..planner.query import And, Cond, Filter, Or

RULE = "standard-cells-only"


@dataclass(frozen=True)
class CustomCell:
    """Why a filter would release a cell that is not standard."""

    dimension: str
    how: str  # what the filter does, for the reason


def custom_cell(where: Filter | None, grouped: Collection[str]) -> CustomCell | None:
    """The first filter that would aggregate a custom set of an ungrouped dimension."""
    for node, under in _conditions(where):
        if node.field in grouped:
            continue
        if under:
            return CustomCell(node.field, f"combines it with {under}")
        if not _pins(node):
            return CustomCell(node.field, _describe(node))
    return None


def pinned_values(where: Filter | None) -> dict[str, Any]:
    """Dimension -> the one value top-level conditions pin it to (``eq``, ``in`` one).
    Pins that disagree select nothing and name no category: the dimension is left out."""
    pins: dict[str, set[Any]] = {}
    for node, under in _conditions(where):
        if not under and _pins(node):
            pins.setdefault(node.field, set()).add(node.values[0])  # type: ignore[index]
    return {name: next(iter(values)) for name, values in pins.items() if len(values) == 1}


def _conditions(node: Filter | None) -> Iterator[tuple[Cond, str]]:
    """Every condition, with "or"/"not" when it sits under one (top-level ANDs are plain)."""
    if node is None:
        return
    if isinstance(node, Cond):
        yield node, ""
    elif isinstance(node, And):
        for item in node.items:
            yield from _conditions(item)
    else:
        word = "or" if isinstance(node, Or) else "not"
        items = node.items if isinstance(node, Or) else (node.item,)
        for item in items:
            for cond, under in _conditions(item):
                yield cond, under or word


def _pins(cond: Cond) -> bool:
    values = cond.values
    if isinstance(values, int):  # a shape: only the count is known
        return cond.op == "eq" or (cond.op == "in" and values == 1)
    return cond.op == "eq" or (cond.op == "in" and len(set(values)) == 1)


def _describe(cond: Cond) -> str:
    if cond.op == "in":
        return "lists several values with `in`"
    return f"uses `{cond.op}`"


def reason(dataset: str, custom: CustomCell, filter_name: str) -> str:
    """The refusal, naming the dimension and the fix."""
    return (
        f"{dataset} gives you disclosure-controlled cells, so each must be a standard cell: "
        f"one category of each dimension, or all of them. The filter on {filter_name} "
        f"{custom.how} while the query does not select {custom.dimension}. Select "
        f"{custom.dimension}, or filter it with eq (rule {RULE})"
    )
