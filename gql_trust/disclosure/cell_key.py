"""Cell-key perturbation of counts from microdata (e.g. DWP claimants).

Each claimant carries a fixed random ``record_key`` in 0..2^32-1. A cell's key
is the sum of its distinct contributors' keys modulo 2^32, computed in the
source. The p-table below maps (count, cell key) to the published count: the
noise has zero mean for every count, is at most ``MAX_NOISE`` in size, 0 stays
0, and 1 and 2 are never published. Because the key depends only on who is in
the cell, the same cell gets the same value in every query, so averaging
repeated queries learns nothing, and two cells that differ by one person
differ by noise that does not cancel.
"""

from __future__ import annotations

from fractions import Fraction as F

KEY_SPACE = 2**32
MAX_NOISE = 3

# count -> ((published count, probability), ...); counts from LARGE up use the last row.
P_TABLE: dict[int, tuple[tuple[int, F], ...]] = {
    0: ((0, F(1)),),
    1: ((0, F(2, 3)), (3, F(1, 3))),
    2: ((0, F(1, 3)), (3, F(2, 3))),
    3: ((0, F(1, 6)), (3, F(1, 2)), (4, F(1, 6)), (5, F(1, 6))),
    4: ((3, F(1, 4)), (4, F(1, 2)), (5, F(1, 4))),
}
LARGE = 5
LARGE_NOISE: tuple[tuple[int, F], ...] = (
    (-2, F(1, 10)),
    (-1, F(2, 10)),
    (0, F(4, 10)),
    (1, F(2, 10)),
    (2, F(1, 10)),
)


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
