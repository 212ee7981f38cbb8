"""Means whose publication cannot undo their count's protection (e.g. mean monthly pay).

An exact mean of a total and of its parts gives the parts' exact ratio, and with
the 10-5 rounded counts one candidate pair fits: the exact counts. So a controlled
mean is built only from protected inputs:

- the total (pay) is perturbed with noise keyed by the standard cell, as
  statistics offices do for magnitude tables: ``total + eta * mean``, one typical
  contributor's worth scaled by ``eta``, with ``|eta|`` in [0.5, 1.5] and its sign
  and size read from a keyed hash of the cell, so the same cell always gets the
  same noise and a single contributor's amount is hidden in a difference of totals;
- it is divided by the count **as the caller gets it** (10-5 rounded), never the
  exact count, so the mean tells nothing about the count that the count does not;
- it is rounded to whole units.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from ..contracts.model import Aggregation, Contract, Measure
from .methods import Cell, Method, register

NOISE_MIN = 0.5  # |eta| is at least this many typical contributors
NOISE_SPAN = 1.0  # ... and at most NOISE_MIN + NOISE_SPAN


def cell_noise(key: bytes, cell: bytes) -> float:
    """eta for a cell: +-[NOISE_MIN, NOISE_MIN + NOISE_SPAN], fixed by the key and cell."""
    digest = hmac.new(key, cell, hashlib.sha256).digest()
    u = int.from_bytes(digest[:8], "big") / 2**64
    sign = 1.0 if digest[8] & 1 else -1.0
    return sign * (NOISE_MIN + NOISE_SPAN * u)


def perturbed_mean(
    mean: float | None, count: int | None, published_count: int | None, noise: float
) -> float | None:
    """The published mean of a cell whose exact mean and count are given."""
    if mean is None or not count or not published_count:
        return None
    # A parallel SUM of doubles can differ in its last bits from one run to the next; the
    # mean is cut to a millionth first so that the same cell always rounds the same way.
    mean = round(mean, 6)
    total = mean * count + noise * mean
    return float(round(total / published_count))


class PerturbedMean(Method):
    """A ratio over a protected count: keyed noise on the total, over the published count."""

    name = "perturbed_mean"
    summary = "for non-owners: total moved by keyed noise, over the published count"
    needs_secret = True

    def check(self, contract: Contract, measure: Measure) -> str | None:
        count = next((m for m in contract.measures if m.name == measure.suppressed_with), None)
        if (
            measure.aggregation is not Aggregation.RATIO
            or count is None
            or count.aggregation is not Aggregation.SUM
            or count.column != measure.denominator
        ):
            return (
                "perturbed_mean is for a ratio whose suppressed_with names the measure summing "
                "its denominator (e.g. meanMonthlyPay: numerator total_pay, denominator "
                "employees, suppressed_with: employees)"
            )
        return None

    def publish(self, value: Any, measure: Measure, cell: Cell) -> tuple[Any, bool, bool]:
        count = measure.suppressed_with or ""
        noise = cell_noise(cell.secret, cell.identity())
        published = perturbed_mean(value, cell.exact(count), cell.published(count), noise)
        return published, published is None, published is not None  # null with its count


register(PerturbedMean())
