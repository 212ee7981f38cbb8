"""GraphQL `where` inputs -> validated logical filters, with errors that say how to fix them."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from ..contracts.model import Conformed, Contract, Dimension
from ..errors import InvalidQuery
from ..planner import And, Cond, Filter, Not, Or
from ..reference import Level, Reference

_PERIOD = re.compile(r"([0-9]{4})-([0-9]{2})")  # ASCII digits, matched in full
_OPS = {
    "eq": "eq",
    "ne": "ne",
    "in_": "in",
    "not_in": "notIn",
    "gt": "gt",
    "gte": "gte",
    "lt": "lt",
    "lte": "lte",
}


def parse_period(value: str) -> date:
    match = _PERIOD.fullmatch(value)
    if not match or int(match.group(1)) < 1 or not 1 <= int(match.group(2)) <= 12:
        raise InvalidQuery(
            f'\'{value}\' is not a period: write a month as "YYYY-MM", e.g. "2025-01"'
        )
    return date(int(match.group(1)), int(match.group(2)), 1)


def format_period(value: date) -> str:
    return f"{value.year:04d}-{value.month:02d}"


class FilterBuilder:
    """Turns one dataset's `where` input into a ``Filter`` over its dimensions."""

    def __init__(
        self,
        contract: Contract,
        reference: Reference,
        geography: Level,
        max_values: int = 10_000,
        names: dict[str, Dimension] | None = None,
    ) -> None:
        """``names`` maps the input's filter keys to dimensions when they are not the
        contract's own (the stitched view filters every part by `period`/`areaCode`)."""
        self.contract, self.reference, self.geography = contract, reference, geography
        self.max_values = max_values
        self.by_filter_name = names or {d.filter_name: d for d in contract.dimensions}

    def build(self, where: Any, depth: int = 0) -> Filter | None:
        if where is None:
            return None
        if depth > 32:
            raise InvalidQuery("`where` is nested too deeply (at most 32 levels of and/or/not)")
        parts: list[Filter] = []
        for filter_name, dimension in self.by_filter_name.items():
            conditions = getattr(where, filter_name, None)
            if conditions is not None:
                parts.extend(self.conditions(dimension, conditions))
        for key, combine in (("and_", And), ("or_", Or)):
            items = getattr(where, key, None)
            if items is not None:
                built = [self.build(item, depth + 1) for item in items]
                parts.append(combine(tuple(b if b is not None else And(()) for b in built)))
        negated = getattr(where, "not_", None)
        if negated is not None:
            inner = self.build(negated, depth + 1)
            parts.append(Not(inner if inner is not None else And(())))
        if not parts:
            return None
        return parts[0] if len(parts) == 1 else And(tuple(parts))

    def conditions(self, dimension: Dimension, conditions: Any) -> list[Cond]:
        result = []
        for attr, op in _OPS.items():
            value = getattr(conditions, attr, None)
            if value is None:
                continue
            values = tuple(value) if isinstance(value, list) else (value,)
            if len(values) > self.max_values:
                raise InvalidQuery(
                    f"{dimension.filter_name}.{op} lists {len(values):,} values; at most "
                    f"{self.max_values:,} are allowed"
                )
            result.append(Cond(dimension.name, op, tuple(self.value(dimension, v) for v in values)))
        return result

    def value(self, dimension: Dimension, value: Any) -> Any:
        if dimension.conformed is Conformed.PERIOD:
            return parse_period(value)
        if dimension.conformed is Conformed.AREA:
            if value not in self.reference.codes_at(self.geography):
                raise InvalidQuery(
                    f"unknown area code '{value}' at {self.geography.value} geography; "
                    f"list valid codes with `areas(level: {self.geography.value}) {{ code name }}`"
                )
            return value
        if dimension.conformed is Conformed.SECTOR:
            if value not in self.reference.sectors:
                raise InvalidQuery(
                    f"unknown sector code '{value}'; use a SIC 2007 section code from `sectors`"
                )
            return value
        if dimension.values and value not in dimension.values:
            raise InvalidQuery(
                f"{self.contract.name}.{dimension.name} has no value '{value}'; "
                f"use one of {list(dimension.values)}"
            )
        return value
