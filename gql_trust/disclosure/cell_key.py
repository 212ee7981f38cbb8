"""Cell-key perturbation of counts from microdata (e.g. DWP claimants).

Each claimant carries a fixed random ``record_key`` in 0..2^32-1. A cell's key
is the sum of its distinct contributors' keys modulo 2^32, computed in the
source. The p-table below maps (count, cell key) to the published count: the
noise has zero mean for every count, is at most ``MAX_NOISE`` (5) in size, 0
stays 0, and 1 and 2 are never published. Because the key depends only on who is in
the cell, the same cell gets the same value in every query, so averaging
repeated queries learns nothing, and two cells that differ by one person
differ by noise that does not cancel.
"""

from __future__ import annotations

from fractions import Fraction as F
from typing import Any

from ..contracts.model import Contract, Measure
from .methods import Cell, Method, register

KEY_SPACE = 2**32
MAX_NOISE = 5


def _uniform(low: int, high: int, zero: F = F(0)) -> tuple[tuple[int, F], ...]:
    """``zero`` on 0, the rest spread evenly over ``low``..``high``."""
    share = (1 - zero) / (high - low + 1)
    return (((0, zero),) if zero else ()) + tuple((v, share) for v in range(low, high + 1))


# count -> ((published count, probability), ...); counts from LARGE up use LARGE_NOISE.
# Wide noise on purpose: a difference of a margin and its visible parts sums the noise
# of several cells, and with +-2 it still pinned a small part to +-1; from 6 up the noise
# is 2 to 5 either way, never 0 or 1, which measured best against least squares over a
# table and its margins (docs/disclosure.md). Small counts share the outcomes 0 and
# 3..5, so none of them is told from another or from 0; every row has mean ``count``
# and never publishes 1 or 2.
P_TABLE: dict[int, tuple[tuple[int, F], ...]] = {
    0: ((0, F(1)),),
    1: _uniform(3, 5, zero=F(3, 4)),
    2: _uniform(3, 6, zero=F(5, 9)),
    3: _uniform(3, 8, zero=F(5, 11)),
    4: _uniform(3, 9, zero=F(1, 3)),
    5: _uniform(3, 10, zero=F(3, 13)),
    6: tuple((v, F(1, 4)) for v in (3, 4, 8, 9)),
    7: tuple((v, F(1, 6)) for v in (3, 4, 5, 9, 10, 11)),
}
LARGE = 8
LARGE_NOISE: tuple[tuple[int, F], ...] = tuple((n, F(1, 8)) for n in (-5, -4, -3, -2, 2, 3, 4, 5))


def _cumulative(row: tuple[tuple[int, F], ...]) -> tuple[tuple[int, int], ...]:
    """(outcome, upper bound in key space), so a lookup needs integers only."""
    bounds, total = [], F(0)
    for outcome, probability in row:
        total += probability
        bounds.append((outcome, int(total * KEY_SPACE)))
    assert total == 1
    return tuple(bounds)


_SMALL = {count: _cumulative(row) for count, row in P_TABLE.items()}
_LARGE = _cumulative(LARGE_NOISE)


def perturb(count: int, cell_key: int) -> int:
    """The published value of a cell with ``count`` distinct contributors."""
    position = cell_key % KEY_SPACE
    if count < LARGE:
        return _pick(_SMALL[max(count, 0)], position)
    return count + _pick(_LARGE, position)


def _pick(bounds: tuple[tuple[int, int], ...], position: int) -> int:
    for outcome, upper in bounds:
        if position < upper:
            return outcome
    return bounds[-1][0]


class CellKey(Method):
    """Counts of microdata: perturbed by the p-table, read with the cell's key."""

    name = "cell_key"
    summary = "cell-key perturbation for non-owners"
    needs_cell_key = True
    sparse = True

    def check(self, contract: Contract, measure: Measure) -> str | None:
        if not contract.cell_key:
            return f"measure '{measure.name}' uses cell_key disclosure: name the cell_key column"
        return None

    def publish(self, value: Any, measure: Measure, cell: Cell) -> tuple[Any, bool, bool]:
        return perturb(value, cell.cell_key), False, True


register(CellKey())
