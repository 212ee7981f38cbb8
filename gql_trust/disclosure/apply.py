"""Apply each measure's disclosure method to source rows, for callers who are not owners."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..contracts.model import Contract
from .methods import METHODS, Cell
from .sparse import Withheld


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

    def record(self, contract: Contract, methods: dict[str, str], flags: list[Flags]) -> None:
        """Count the cells actually released (``flags`` of the rows in the response)."""
        for name, method in methods.items():
            self.methods[f"{contract.name}.{name}"] = method
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
) -> dict[str, str]:
    """The method (by name) to apply per selected measure the caller may not see exactly."""
    return {
        m: contract.measure(m).disclosure
        for m in measures
        if m not in exact and METHODS[contract.measure(m).disclosure].controls
    }


def apply_disclosure(
    contract: Contract,
    columns: tuple[str, ...],
    rows: list[tuple[Any, ...]],
    methods: dict[str, str],
    cell_key_column: str,
    cell_id: CellId | None = None,
    secret: bytes = b"",
) -> tuple[list[tuple[Any, ...]], list[Flags]]:
    """The rows as the caller may see them, and per row whether it was suppressed or
    perturbed (counted only for the rows that end up in the response).

    Each measure is published by its method, leaders before the measures that follow
    them (a mean after its count); a follower is null wherever its leader is."""
    if not methods:
        return rows, [(False, False, False)] * len(rows)
    position = {name: i for i, name in enumerate(columns)}
    key_at = position.get(cell_key_column)
    measures = [contract.measure(name) for name in methods if name in position]
    measures.sort(key=lambda m: m.suppressed_with is not None)
    plan = [(position[m.name], m, METHODS[methods[m.name]]) for m in measures]
    followers = [
        (position[m.name], position[m.suppressed_with])
        for m in contract.measures
        if m.suppressed_with and m.name in position and m.suppressed_with in position
    ]
    current = Cell(position, key_at, cell_id, secret)
    controlled, flags = [], []
    for row in rows:
        values = list(row)
        cell = current.at(row, values)
        suppressed = perturbed = False
        for at, measure, method in plan:
            if values[at] is None:
                continue
            values[at], hidden, moved = method.publish(values[at], measure, cell)
            suppressed, perturbed = suppressed or hidden, perturbed or moved
        for at, leader in followers:
            if values[leader] is None and values[at] is not None:
                values[at] = None
                suppressed = True
        flags.append((suppressed, perturbed, False))
        controlled.append(tuple(values))
    return controlled, flags
