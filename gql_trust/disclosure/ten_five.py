"""The 10-5 rule for counts from aggregate sources (e.g. HMRC PAYE RTI cells)."""

from __future__ import annotations

THRESHOLD = 10
ROUNDING = 5


def ten_five(value: int | None) -> int | None:
    """Under 10 is suppressed (None); anything else is rounded to the nearest 5
    (halves round up, so 12 -> 10 and 13 -> 15)."""
    if value is None or value < THRESHOLD:
        return None
    return ROUNDING * ((value + ROUNDING // 2) // ROUNDING)
