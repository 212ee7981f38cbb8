"""Per-dataset GraphQL types generated from a contract: the cell, its `where` and `orderBy`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
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

    @property
    def field_names(self) -> tuple[str, ...]:
        return self.contract.field_names


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
        kind = {Conformed.AREA: area_type, Conformed.SECTOR: sector_type}.get(
            d.conformed,  # type: ignore[arg-type]
            _SCALARS[d.type],
        )
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


def to_cell(types: DatasetTypes, columns: tuple[str, ...], row: tuple[Any, ...], model: Any) -> Any:
    """A source row (dimensions then measures, by ``columns``) -> a cell object."""
    values: dict[str, Any] = {}
    contract = types.contract
    fields = model.conformed_fields[contract.name]
    for name, value in zip(columns, row, strict=False):
        if name not in types.field_names:
            continue  # e.g. the cell key, used by disclosure control only
        if value is not None and name in fields:
            kind = fields[name]
            if kind is Conformed.PERIOD:
                value = format_period(value) if isinstance(value, date) else str(value)[:7]
            elif kind is Conformed.AREA:
                value = model.area(value)
            elif kind is Conformed.SECTOR:
                value = model.sector(value)
        values[name] = value
    return types.cell(**values)
