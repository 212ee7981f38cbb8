"""The 10-5 rule for counts from aggregate sources (e.g. HMRC PAYE RTI cells)."""

from __future__ import annotations

from typing import Any

from ..contracts.model import Contract, Measure
from .methods import Cell, Method, register

THRESHOLD = 10
ROUNDING = 5


def ten_five(value: int | None) -> int | None:
    """Under 10 is suppressed (None); anything else is rounded to the nearest 5
    (halves round up, so 12 -> 10 and 13 -> 15)."""
    if value is None or value < THRESHOLD:
        return None
    return ROUNDING * ((value + ROUNDING // 2) // ROUNDING)


class TenFive(Method):
    """Counts from aggregate sources: suppressed under 10, else rounded to 5."""

    name = "ten_five"
    summary = "10-5 rule for non-owners (under 10 suppressed, else rounded to 5)"

    def check(self, contract: Contract, measure: Measure) -> str | None:
        if measure.type != "Int":
            return "ten_five applies to counts: the measure's type must be Int"
        return None

    def publish(self, value: Any, measure: Measure, cell: Cell) -> tuple[Any, bool, bool]:
        published = ten_five(value)
        return published, published is None, False


register(TenFive())
