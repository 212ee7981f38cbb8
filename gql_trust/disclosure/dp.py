"""Counts of microdata under zero-concentrated differential privacy (zCDP).

Under an agreement with a privacy-loss budget (`privacy:` in agreements.yaml) a count
of distinct people is released with discrete Gaussian noise drawn by OpenDP. A person
is in at most one cell per period (the contract's `unique_per: [period]`), so a table
covering P periods changes by at most 1 in each of P cells when one person is added
or removed: L2 sensitivity sqrt(P). A release that spends rho adds noise of scale
sqrt(P / (2 rho)); OpenDP's privacy map says what it costs, and that is what the
ledger charges.

Noise is drawn for a whole table at once (its scale depends on the table, and its
values on what the agreement has been given before), so ``privatise`` runs before the
method publishes: it draws candidate values, and the ledger, in one transaction,
keeps the values of cells the agreement already holds, stores the new ones and
charges their cost, or refuses the lot. ``publish`` only passes on values that went
through it, so a count that skipped it can never leave exact.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import opendp.prelude as dp
from opendp.accuracy import discrete_gaussian_scale_to_accuracy

from ..contracts.model import Aggregation, Conformed, Contract, Measure
from .methods import Cell, Method, register

dp.enable_features("contrib")  # OpenDP's samplers are fine; the flag is its policy

NAME = "zcdp"
CONFIDENCE = 0.95


class Noisy(int):
    """A count that has been through ``privatise`` (noised, or a value held before)."""


@dataclass(frozen=True)
class Draw:
    """What one release asks of the ledger: candidate values for its cells."""

    agreement: str
    day: str  # UTC "YYYY-MM-DD": the budget's period
    limit: float  # the agreement's rho a day
    scale: float  # of the noise in ``values``
    values: dict[str, int]  # cell key -> candidate noisy value
    periods: dict[str, Any]  # cell key -> its period (None: the table spans every period)
    span: int  # periods a cell of "all periods" covers

    def cost(self, keys: Sequence[str]) -> float:
        """The rho of releasing ``keys`` (new cells) at this scale."""
        if not keys:
            return 0.0
        if any(self.periods[k] is None for k in keys):
            covered = self.span
        else:
            covered = len({self.periods[k] for k in keys})
        return rho_of(self.scale, covered)


@dataclass(frozen=True)
class Granted:
    """The ledger's answer: every cell's value and scale, and the rho accounting."""

    values: dict[str, tuple[int, float]]  # cell key -> (value, scale it was drawn at)
    spent: float  # charged by this release
    used: float  # by the agreement today, this release included
    limit: float
    exceeded: bool = False
    wanted: float = 0.0  # what a refused release would have cost


@dataclass
class PrivacyReport:
    """`extensions.privacy` for one request."""

    agreement: str
    limit: float
    spent: float = 0.0
    used: float = 0.0
    scales: dict[str, float] = field(default_factory=dict)  # "dataset.measure" -> widest

    def add(self, granted: Granted, measures: Sequence[str]) -> None:
        """Count one release; accuracy is that of its noisiest cell."""
        self.spent += granted.spent
        self.used = max(self.used, granted.used)
        widest = max((scale for _, scale in granted.values.values()), default=0.0)
        for m in measures:
            self.scales[m] = max(self.scales.get(m, 0.0), widest)

    def as_dict(self) -> dict[str, Any]:
        return {
            "agreement": self.agreement,
            "rhoSpent": round(self.spent, 9),
            "rhoRemaining": round(max(self.limit - self.used, 0.0), 9),
            "accuracy": {
                m: {"confidence": CONFIDENCE, "halfWidth": half_width(scale)}
                for m, scale in self.scales.items()
            },
        }


def scale_for(rho: float, periods: int) -> float:
    """The discrete Gaussian's scale that releases a table over ``periods`` for ``rho``."""
    return math.sqrt(periods / (2 * rho))


@lru_cache(maxsize=256)
def _measurement(scale: float) -> Any:
    return dp.m.make_gaussian(
        dp.vector_domain(dp.atom_domain(T="i64")), dp.l2_distance(T="f64"), scale=scale
    )


def rho_of(scale: float, periods: int) -> float:
    """OpenDP's zCDP privacy map at L2 sensitivity sqrt(periods)."""
    return float(_measurement(scale).map(math.sqrt(periods)))


def noise(counts: list[int], scale: float) -> list[int]:
    """``counts`` plus OpenDP's discrete Gaussian noise of ``scale``."""
    if not counts:
        return []
    return [int(v) for v in _measurement(scale)(counts)]


@lru_cache(maxsize=256)
def half_width(scale: float, confidence: float = CONFIDENCE) -> float:
    """An integer h with P(|noise| <= h) >= ``confidence``: OpenDP's accuracy bound."""
    if scale == 0:
        return 0.0
    return float(discrete_gaussian_scale_to_accuracy(scale, 1 - confidence))


def today() -> str:
    return datetime.now(UTC).date().isoformat()


def cell_key(identity: bytes, measure: str) -> str:
    return f"{identity.decode()}\x1f#{measure}"


Reserve = Callable[[Draw], Any]  # an awaitable Granted: the ledger's reservation


async def privatise(
    *,
    rows: list[tuple[Any, ...]],
    columns: tuple[str, ...],
    measures: Sequence[str],
    identity: Callable[[tuple[Any, ...]], bytes],
    period_of: Callable[[tuple[Any, ...]], Any],
    span: int,
    agreement: str,
    limit: float,
    rho: float,
    reserve: Reserve,
) -> tuple[list[tuple[Any, ...]], Granted]:
    """The rows with each of ``measures`` replaced by its released value (``Noisy``), and
    the ledger's accounting. Raises nothing itself: a refused ``Granted`` has ``exceeded``."""
    at = [columns.index(m) for m in measures]
    keys = [[cell_key(identity(row), m) for m in measures] for row in rows]
    periods = [period_of(row) for row in rows]
    covered = span if any(p is None for p in periods) else max(len(set(periods)), 1)
    scale = scale_for(rho, covered)
    values: dict[str, int] = {}
    period_by: dict[str, Any] = {}
    for i, position in enumerate(at):
        counts = [int(row[position] or 0) for row in rows]
        for row_keys, period, value in zip(keys, periods, noise(counts, scale), strict=True):
            values[row_keys[i]] = value
            period_by[row_keys[i]] = period
    granted: Granted = await reserve(
        Draw(agreement, today(), limit, scale, values, period_by, span)
    )
    if granted.exceeded:
        return [], granted
    out = []
    for row, row_keys in zip(rows, keys, strict=True):
        cells = list(row)
        for position, key in zip(at, row_keys, strict=True):
            cells[position] = Noisy(granted.values[key][0])
        out.append(tuple(cells))
    return out, granted


class ZCDP(Method):
    """Counts of microdata under zCDP, for callers under an agreement with a privacy budget."""

    name = NAME
    summary = "zCDP discrete Gaussian noise under an agreement's privacy-loss budget"

    def check(self, contract: Contract, measure: Measure) -> str | None:
        period = contract.conformed(Conformed.PERIOD)
        if contract.grain != "microdata" or measure.aggregation is not Aggregation.COUNT_DISTINCT:
            return f"{NAME} applies to counts of distinct people in microdata"
        if period is None or tuple(contract.unique_per) != (period.name,):
            return f"{NAME} needs `unique_per: [period]`: it sets the sensitivity"
        return None

    def publish(self, value: Any, measure: Measure, cell: Cell) -> tuple[Any, bool, bool]:
        if not isinstance(value, Noisy):  # fail closed: never an exact count
            raise RuntimeError(f"{measure.name}: a zCDP count reached publish without noise")
        return int(value), False, True


register(ZCDP())
