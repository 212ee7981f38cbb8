"""Per-dataset GraphQL types generated from a contract: the cell, its `where` and `orderBy`."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from functools import cached_property, lru_cache
from typing import Any

import strawberry

from ..contracts.model import Conformed, Contract
from .common import BooleanFilter, SortDirection, StringFilter
from .filters import format_period

_SCALARS: dict[str, Any] = {"String": str, "Boolean": bool, "Int": int, "Float": float}


@dataclass(frozen=True)
class DatasetTypes:
    contract: Contract
    cell: Any
    where: Any
    order_by: Any

    @cached_property
    def field_names(self) -> frozenset[str]:
        return frozenset(self.contract.field_names)


def dataset_types(contract: Contract, area_type: Any, sector_type: Any) -> DatasetTypes:
    return DatasetTypes(
        contract,
        _cell_type(contract, area_type, sector_type),
        _where_type(contract),
        _order_type(contract),
    )


def _cell_type(contract: Contract, area_type: Any, sector_type: Any) -> Any:
    annotations: dict[str, Any] = {}
    namespace: dict[str, Any] = {}
    for d in contract.dimensions:
        kind: Any = _SCALARS[d.type]
        if d.conformed is Conformed.AREA:
            kind = area_type
        elif d.conformed is Conformed.SECTOR:
            kind = sector_type
        annotations[d.name] = kind | None
        namespace[d.name] = strawberry.field(default=None, description=d.description or None)
    for m in contract.measures:
        annotations[m.name] = _SCALARS[m.type] | None
        namespace[m.name] = strawberry.field(default=None, description=m.description or None)
    cls = type(contract.type_name, (), {"__annotations__": annotations, **namespace})
    return strawberry.type(
        cls,
        description=f"One cell of {contract.title} ({contract.owner}): the dimensions you "
        "select are the dimensions grouped by.",
    )


def _where_type(contract: Contract) -> Any:
    cls: Any = type(f"{contract.type_name[:-4]}Where", (), {})
    annotations: dict[str, Any] = {}
    for d in contract.dimensions:
        annotations[d.filter_name] = (BooleanFilter if d.type == "Boolean" else StringFilter) | None
        setattr(cls, d.filter_name, strawberry.field(default=None, description=d.description))
    annotations["and_"] = list[cls] | None
    annotations["or_"] = list[cls] | None
    annotations["not_"] = cls | None
    cls.and_ = strawberry.field(name="and", default=None, description="All of these hold.")
    cls.or_ = strawberry.field(name="or", default=None, description="Any of these holds.")
    cls.not_ = strawberry.field(name="not", default=None, description="This does not hold.")
    cls.__annotations__ = annotations
    return strawberry.input(
        cls,
        description=f"Filters on {contract.name}. Conditions in one object are combined "
        "with AND; use and/or/not lists for other combinations.",
    )


def _order_type(contract: Contract) -> Any:
    names = contract.field_names
    cls = type(
        f"{contract.type_name[:-4]}OrderBy",
        (),
        {
            "__annotations__": {n: SortDirection | None for n in names},
            **{n: strawberry.field(default=None) for n in names},
        },
    )
    return strawberry.input(
        cls, description="One sort key: name exactly one selected field per list item."
    )


Convert = Callable[[Any], Any]


@dataclass(frozen=True, eq=False)
class CellLayout:
    """How one query shape's rows read as cells: for each field the cell type has, the
    row position it comes from and the conversion it needs (conformed columns become a
    period string, or the shared Area/Sector object). Built once per shape."""

    readers: dict[str, tuple[int, Convert | None]]
    build: Callable[[tuple[Any, ...]], Any]  # row -> cell object


class Cells:
    """A dataset field's result, kept as the source's rows. Iterating gives cell objects
    (normal execution); the compiled list path reads the rows straight into response
    dicts instead (fast/lists.py), so a large result never builds its cells."""

    __slots__ = ("layout", "rows")

    def __init__(self, rows: list[tuple[Any, ...]], layout: CellLayout) -> None:
        self.rows, self.layout = rows, layout

    def __iter__(self) -> Iterator[Any]:
        return map(self.layout.build, self.rows)

    def __len__(self) -> int:
        return len(self.rows)


def cell_layout(types: DatasetTypes, columns: tuple[str, ...], model: Any) -> CellLayout:
    """The layout of rows whose columns are ``columns``; the cell key, for disclosure
    control only, is not a field."""
    conformed = model.conformed_fields[types.contract.name]
    converters = {
        Conformed.PERIOD: _period,
        Conformed.AREA: model.area,
        Conformed.SECTOR: model.sector,
    }
    readers: dict[str, tuple[int, Convert | None]] = {
        name: (position, converters.get(conformed[name]) if name in conformed else None)
        for position, name in enumerate(columns)
        if name in types.field_names
    }
    plan = [(position, name, convert) for name, (position, convert) in readers.items()]
    defaults = dict.fromkeys(types.field_names)
    cls = types.cell

    def build(row: tuple[Any, ...]) -> Any:
        cell = cls.__new__(cls)  # cells are plain data: fill the attributes directly
        values = cell.__dict__
        values.update(defaults)
        for position, name, convert in plan:
            value = row[position]
            values[name] = convert(value) if convert is not None and value is not None else value
        return cell

    return CellLayout(readers, build)


@lru_cache(maxsize=4_096)
def _period(value: Any) -> str:
    return format_period(value) if isinstance(value, date) else str(value)[:7]
