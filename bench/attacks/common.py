"""What every attack shares: its context, target choice and reading one value back."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .client import Answer, Client
from .oracle import Oracle
from .scoring import SMALL, Score, score
from .views import FILTER_NAMES, Geography, View

Key = tuple[Any, ...]


@dataclass(frozen=True)
class Budget:
    """How much work each attack may do (``--quick`` bounds it for CI)."""

    targets: int  # small cells attacked per view
    pairs: int  # custom-set pairs averaged per target
    tables: int  # detailed tables (zero-vs-absent, ratio) or neighbourhoods (least squares)


QUICK = Budget(targets=9, pairs=8, tables=1)
FULL = Budget(targets=27, pairs=30, tables=3)


@dataclass
class Context:
    view: View
    client: Client
    oracle: Oracle
    geo: Geography
    budget: Budget
    rng: random.Random
    learned: dict[str, Any]  # what the attacker has learned of the server, across principals

    @property
    def truth(self) -> dict[Key, int]:
        return self.oracle.cells(self.view)

    def small_targets(self, n: int | None = None) -> list[Key]:
        """Small cells (true 1-9) of the view, the same for every attack: drawn in turn
        from each true value 1..9 (while any are left), so that no constant guess
        fits most of them by luck of the draw."""
        pick = random.Random(f"targets:{self.view.name}")
        pools = {v: sorted(k for k, t in self.truth.items() if t == v) for v in SMALL}
        for pool in pools.values():
            pick.shuffle(pool)
        chosen: list[Key] = []
        wanted = n or self.budget.targets
        while len(chosen) < wanted and any(pools.values()):
            for value in SMALL:
                if pools[value] and len(chosen) < wanted:
                    chosen.append(pools[value].pop())
        return chosen

    def ask(
        self,
        where: dict[str, Any],
        select: list[str] | None = None,
        geography: str | None = None,
        measures: list[str] | None = None,
    ) -> Answer:
        return self.client.cells(
            self.view.dataset,
            select or [],
            measures or [self.view.measure],
            where,
            geography or self.view.geography,
        )

    def total(self, where: dict[str, Any], geography: str | None = None) -> float | None:
        """One cell's value; ``None`` when refused or null. No row at all is a zero
        (today's server drops empty groups)."""
        return _value(self.ask(where, geography=geography), self.view.measure)

    def totals(
        self, wheres: list[dict[str, Any]], geography: str | None = None
    ) -> list[float | None]:
        """``total`` of each ``where``, sent in batches."""
        answers = self.client.totals(
            self.view.dataset, self.view.measure, wheres, geography or self.view.geography
        )
        return [_value(a, self.view.measure) for a in answers]

    def queries(self) -> tuple[int, int]:
        return self.client.sent, self.client.refused


def _value(answer: Answer, measure: str) -> float | None:
    if answer.rows is None:
        return None
    if not answer.rows:
        return 0.0
    value = answer.rows[0].get(measure)
    return None if value is None else float(value)


def filter_name(dim: str) -> str:
    return FILTER_NAMES.get(dim, dim)


def row_key(view: View, row: dict[str, Any], dims: list[str], fixed: dict[str, Any]) -> Key:
    """The full view key of a returned row, the unselected dimensions taken from ``fixed``."""
    return tuple(row[d] if d in dims else fixed[d] for d in view.key_dims)


def each_target(
    ctx: Context, attack: str, guess: Callable[[Context, Key], int | None]
) -> list[Score]:
    """Run ``guess`` on every small target of the view and score it, with the queries
    it sent and how many of them were refused."""
    sent, refused = ctx.queries()
    targets = ctx.small_targets()
    guesses = [guess(ctx, t) for t in targets]
    after = ctx.queries()
    truth = [ctx.truth[t] for t in targets]
    return [
        score(
            attack,
            ctx.view.name,
            truth,
            guesses,
            queries=after[0] - sent,
            refused=after[1] - refused,
        )
    ]
