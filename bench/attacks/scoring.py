"""Scores: small cells recovered exactly and within +-1, next to the baselines."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

SMALL = range(1, 10)  # a small cell: true count 1-9


@dataclass
class Score:
    attack: str
    view: str
    targets: int = 0
    exact: int = 0
    within1: int = 0
    base_exact: int = 0  # the best constant guess, chosen with hindsight on the true values
    base_within1: int = 0
    published_exact: int = 0  # guessing each target's own published value (when released)
    published_within1: int = 0
    queries: int = 0
    refused: int = 0
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def rate(self, hits: int) -> float:
        return hits / self.targets if self.targets else 0.0

    @property
    def baseline_exact(self) -> int:
        """The stronger of the two baselines: what one could know without the attack."""
        return max(self.base_exact, self.published_exact)

    @property
    def baseline_within1(self) -> int:
        return max(self.base_within1, self.published_within1)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def best_constant(truth: Sequence[int]) -> tuple[int, int]:
    """(exact, within +-1) hits of the best single guess for all of ``truth``."""
    if not truth:
        return 0, 0
    counts = Counter(truth)
    exact = max(counts.values())
    within = max(
        counts[c - 1] + counts[c] + counts[c + 1] for c in range(min(truth), max(truth) + 1)
    )
    return exact, within


def hits(truth: Sequence[int], guess: Sequence[float | None]) -> tuple[int, int]:
    """(exact, within +-1) hits; a missing guess (refused, null) is a miss."""
    exact = within = 0
    for t, g in zip(truth, guess, strict=True):
        if g is None:
            continue
        exact += int(g) == t
        within += abs(int(g) - t) <= 1
    return exact, within


def score(
    attack: str,
    view: str,
    truth: Sequence[int],
    guess: Sequence[float | None],
    published: Sequence[float | None] | None = None,
    *,
    queries: int = 0,
    refused: int = 0,
    note: str = "",
) -> Score:
    result = Score(attack, view, len(truth), queries=queries, refused=refused, note=note)
    result.exact, result.within1 = hits(truth, guess)
    result.base_exact, result.base_within1 = best_constant(truth)
    if published is not None:
        result.published_exact, result.published_within1 = hits(truth, published)
    return result


def estimate(values: Sequence[float]) -> int | None:
    """The attacker's guess from noisy estimates of one count: the rounded mean, >= 0."""
    if not values:
        return None
    return max(0, round(sum(values) / len(values)))
