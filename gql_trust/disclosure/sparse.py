"""Sparse tables are not released area by area.

As the ONS's Census 2021 custom-dataset tool does, a controlled table is checked for
each area (and period) it covers: where most of the area's cells are small, its cells
are withheld (returned with null values) and the rest of the table is served. The
rule sees the area's whole table at the query's shape (its grouped dimensions and
pinned values), never only the cells a caller filtered for, so choosing which cells
to show cannot dilute a sparse area.

It reads the **published** values, never the true counts: a rule on true counts is
itself a release, and told a true zero from a small count (a table of two cells
holding one person was withheld while an empty one was served). Read from what the
caller would have been given, withholding tells nothing those values would not.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

RULE = "sparse-area"
SMALL_UNDER = 3  # a cell published under this is small (cell keys publish 0, never 1 or 2)
MOST = 0.5  # withheld when more than this share of the cells is small


@dataclass(frozen=True)
class Withheld:
    code: str | None  # the area (None: the whole table, no area selected or pinned)

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "rule": RULE}


def sparse_groups(
    rows: Sequence[tuple[Any, ...]],
    group: Sequence[int],
    count_at: int,
    small_under: int = SMALL_UNDER,
) -> set[tuple[Any, ...]]:
    """The group keys (values at ``group`` positions) whose published counts are mostly
    small."""
    cells: dict[tuple[Any, ...], int] = {}
    small: dict[tuple[Any, ...], int] = {}
    for row in rows:
        key = tuple(row[i] for i in group)
        cells[key] = cells.get(key, 0) + 1
        if (row[count_at] or 0) < small_under:
            small[key] = small.get(key, 0) + 1
    return {key for key, n in cells.items() if small.get(key, 0) > MOST * n}


def reason(dataset: str) -> str:
    return (
        f"{dataset}: in some areas most of this table's cells are small counts, so those "
        f"areas are withheld (rule {RULE}: more than half of an area's cells published under "
        f"{SMALL_UNDER}); ask for a coarser geography or fewer dimensions"
    )
