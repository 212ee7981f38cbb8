"""Apply each measure's disclosure method to source rows, for callers who are not owners."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..contracts.model import Contract, Disclosure
from .cell_key import perturb
from .perturbed_mean import cell_noise, perturbed_mean
from .sparse import Withheld
from .ten_five import ten_five


@dataclass
class DisclosureTally:
    """Counts for `extensions.disclosure`: cells with a suppressed, perturbed or withheld
    value, and the areas withheld as sparse."""

    suppressed: int = 0
    perturbed: int = 0
    withheld: int = 0
    withheld_areas: dict[str, Withheld] = field(default_factory=dict)
    methods: dict[str, str] = field(default_factory=dict)  # "dataset.measure" -> method

    def as_dict(self) -> dict[str, Any]:
        counts: dict[str, Any] = {
            "suppressed": self.suppressed,
            "perturbed": self.perturbed,
            "withheld": self.withheld,
        }
        if self.withheld_areas:
            counts["withheldAreas"] = [w.as_dict() for w in self.withheld_areas.values()]
        return counts

    def record(
        self, contract: Contract, methods: dict[str, Disclosure], flags: list[Flags]
    ) -> None:
        """Count the cells actually released (``flags`` of the rows in the response)."""
        for name, method in methods.items():
            self.methods[f"{contract.name}.{name}"] = method.value
        for suppressed, perturbed, withheld in flags:
            self.withheld += withheld
            self.suppressed += suppressed and not withheld
            self.perturbed += perturbed and not withheld

    def record_withheld(self, dataset: str, areas: list[Withheld]) -> None:
        for area in areas:
            self.withheld_areas.setdefault(f"{dataset}:{area.code}", area)


Flags = tuple[bool, bool, bool]  # (suppressed, perturbed, withheld) for one row
CellId = Callable[[tuple[Any, ...]], bytes]  # a row -> its standard cell's identity


def controlled_measures(
    contract: Contract, measures: tuple[str, ...], exact: set[str]
) -> dict[str, Disclosure]:
    """The method to apply per selected measure the caller may not see exactly."""
    return {
        m: contract.measure(m).disclosure
        for m in measures
        if m not in exact and contract.measure(m).disclosure is not Disclosure.NONE
    }


def apply_disclosure(
    contract: Contract,
    columns: tuple[str, ...],
    rows: list[tuple[Any, ...]],
    methods: dict[str, Disclosure],
    cell_key_column: str,
    cell_id: CellId | None = None,
    secret: bytes = b"",
) -> tuple[list[tuple[Any, ...]], list[Flags]]:
    """The rows as the caller may see them, and per row whether it was suppressed or
    perturbed (counted only for the rows that end up in the response)."""
    if not methods:
        return rows, [(False, False, False)] * len(rows)
    position = {name: i for i, name in enumerate(columns)}
    key_at = position.get(cell_key_column)
    followers = [
        (position[m.name], position[m.suppressed_with])
        for m in contract.measures
        if m.suppressed_with and m.name in position and m.suppressed_with in position
    ]
    # A measure that follows another (mean pay follows employees) is only ever nulled with it.
    following = {m.name for m in contract.measures if m.suppressed_with}
    plan = [
        (position[name], method)
        for name, method in methods.items()
        if name in position and name not in following
    ]
    means = [
        (position[name], position[contract.measure(name).suppressed_with or ""])
        for name, method in methods.items()
        if method is Disclosure.PERTURBED_MEAN and name in position
    ]
    if means and cell_id is None:
        raise ValueError("perturbed means need the cell's identity")
    controlled, flags = [], []
    for row in rows:
        values = list(row)
        suppressed = perturbed = False
        for at, method in plan:
            if values[at] is None:
                continue
            if method is Disclosure.TEN_FIVE:
                values[at] = ten_five(values[at])
                suppressed = suppressed or values[at] is None
            elif method is Disclosure.CELL_KEY and key_at is not None:
                values[at] = perturb(values[at], values[key_at] or 0)
                perturbed = True
        for at, count_at in means:
            if values[at] is not None and values[count_at] is not None:
                noise = cell_noise(secret, cell_id(row))  # type: ignore[misc]
                values[at] = perturbed_mean(values[at], row[count_at], values[count_at], noise)
                perturbed = True
        for at, leader in followers:
            if values[leader] is None and values[at] is not None:
                values[at] = None
                suppressed = True
        flags.append((suppressed, perturbed, False))
        controlled.append(tuple(values))
    return controlled, flags
