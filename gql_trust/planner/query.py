"""The logical query for one dataset: what to group by, aggregate, filter and order.

It is independent of GraphQL and of SQL. ``shape()`` drops the literal values
(keeping how many there are), so compiled SQL can be cached per shape while the
values travel separately as bound parameters.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

from ..reference import Level


@dataclass(frozen=True)
class Cond:
    """``field <op> values``: ``field`` is a dimension name; ``values`` has one item
    except for ``in``/``notIn``. In a shape, ``values`` is replaced by its length."""

    field: str
    op: str
    values: tuple[Any, ...] | int


@dataclass(frozen=True)
class And:
    items: tuple[Filter, ...]


@dataclass(frozen=True)
class Or:
    items: tuple[Filter, ...]


@dataclass(frozen=True)
class Not:
    item: Filter


Filter = Cond | And | Or | Not


@dataclass(frozen=True)
class OrderKey:
    field: str  # a selected dimension or measure
    descending: bool = False


@dataclass(frozen=True)
class CellQuery:
    dataset: str
    dimensions: tuple[str, ...]  # grouped by, in the dataset's contract order
    measures: tuple[str, ...]
    where: Filter | None = None
    geography: Level = Level.LOCAL_AUTHORITY
    order: tuple[OrderKey, ...] = ()  # complete: every selected dimension appears
    limit: int | None = None
    offset: int = 0
    partition: str | None = None  # limit/offset apply per value of this dimension
    cell_key: bool = True  # microdata: also compute each cell's key (for perturbation)

    def shape(self) -> CellQuery:
        """This query without its literal values: the key for the SQL cache."""
        return replace(
            self,
            where=_shape(self.where) if self.where else None,
            limit=None if self.limit is None else -1,
            offset=0 if self.offset == 0 else -1,
        )

    def params(self) -> list[Any]:
        """The literal values, in the order ``compile_query`` binds them."""
        values = [v for cond in walk(self.where) for v in cond.values]  # type: ignore[union-attr]
        if self.limit is not None:
            values.append(self.limit)
        if self.offset:
            values.append(self.offset)
        return values


def walk(node: Filter | None) -> Iterator[Cond]:
    """Conditions in a fixed depth-first order (the parameter order)."""
    if node is None:
        return
    if isinstance(node, Cond):
        yield node
    elif isinstance(node, Not):
        yield from walk(node.item)
    else:
        for item in node.items:
            yield from walk(item)


def _shape(node: Filter) -> Filter:
    if isinstance(node, Cond):
        return replace(node, values=len(node.values))  # type: ignore[arg-type]
    if isinstance(node, Not):
        return Not(_shape(node.item))
    return type(node)(tuple(_shape(i) for i in node.items))
