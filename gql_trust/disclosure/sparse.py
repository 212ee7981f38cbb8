"""Sparse tables are not released area by area.

As the ONS's Census 2021 custom-dataset tool does, a controlled table is checked for
each area (and period) it covers: where most of the area's non-zero cells are small,
its cells are withheld (returned with null values) and the rest of the table is
served. The rule sees the area's whole table at the query's shape (its grouped
dimensions and pinned values), never only the cells a caller filtered for, so
choosing which cells to show cannot dilute a sparse area.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

RULE = "sparse-area"
SMALL_UNDER = 3  # a cell under this true count is small
MOST = 0.5  # withheld when more than this share of the non-zero cells is small


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
    """The group keys (values at ``group`` positions) whose cells are mostly small."""
    nonzero: dict[tuple[Any, ...], int] = {}
    small: dict[tuple[Any, ...], int] = {}
    for row in rows:
        count = row[count_at] or 0
        if count <= 0:
            continue
        key = tuple(row[i] for i in group)
        nonzero[key] = nonzero.get(key, 0) + 1
        if count < small_under:
            small[key] = small.get(key, 0) + 1
    return {key for key, n in nonzero.items() if small.get(key, 0) > MOST * n}


def reason(dataset: str) -> str:
    return (
        f"{dataset}: in some areas most of this table's cells are small counts, so those "
        f"areas are withheld (rule {RULE}: more than half of an area's non-zero cells under "
        f"{SMALL_UNDER}); ask for a coarser geography or fewer dimensions"
    )
