"""Attack 6: least-squares reconstruction from every permitted standard cell nearby.

Around a neighbourhood (the local authorities of one region, or the regions of one
country, for one period), ask every table over a subset of the dimensions, for the
areas (area selected) and for their parent area at the next geography up. Each
returned cell is a linear equation in the finest cells; an absent cell is an
equation "= 0" (today's server drops empty groups); a null is no equation. Solve
with non-negative least squares (scipy ``lsq_linear``), round, and score the
neighbourhood's small cells.
"""

from __future__ import annotations

from itertools import combinations, product
from typing import Any

import numpy as np
from scipy.optimize import lsq_linear
from scipy.sparse import csr_matrix

from .common import Context, Key
from .scoring import SMALL, Score, score
from .views import PARENT_LEVEL


def neighbourhoods(ctx: Context) -> list[list[str]]:
    """Groups of areas at the view's level that share a parent, largest first."""
    view, geo = ctx.view, ctx.geo
    if len(view.areas) == 1:
        return [view.areas]
    above = PARENT_LEVEL[view.geography]
    groups = [geo.children(view.geography, p) for p in geo.levels[above]]
    groups = [[a for a in g if a in view.areas] for g in groups]
    return sorted((g for g in groups if len(g) > 1), key=len, reverse=True)


def run(ctx: Context) -> list[Score]:
    view = ctx.view
    sent, refused = ctx.queries()
    truth: list[int] = []
    guesses: list[float | None] = []
    published: list[float | None] = []
    picks = [
        (group, period)
        for group in neighbourhoods(ctx)[: ctx.budget.tables]
        for period in view.periods[-1:]
    ]
    for group, period in picks:
        solved, own = reconstruct(ctx, group, period)
        for key, value in solved.items():
            if ctx.truth.get(key, 0) in SMALL:
                truth.append(ctx.truth[key])
                guesses.append(value)
                published.append(own.get(key))
    after = ctx.queries()
    return [
        score(
            "least squares",
            view.name,
            truth,
            guesses,
            published,
            queries=after[0] - sent,
            refused=after[1] - refused,
        )
    ]


def reconstruct(
    ctx: Context, group: list[str], period: str
) -> tuple[dict[Key, float | None], dict[Key, float | None]]:
    """The rounded solution per finest cell, and each finest cell's own published value."""
    view = ctx.view
    dims = list(view.dims)
    cells: list[Key] = [(period, a, *c) for a in group for c in product(*map(view.domain, dims))]
    rows: list[list[int]] = []
    values: list[float] = []
    own: dict[Key, float | None] = {}
    for size in range(len(dims) + 1):
        for chosen in combinations(dims, size):
            for level, areas in _levels(ctx, group):
                where: dict[str, Any] = {"period": {"eq": period}, "areaCode": {"in": areas}}
                answer = ctx.ask(where, select=["area", *chosen], geography=level)
                if answer.rows is None:
                    continue
                shown = {
                    tuple(r[d] for d in ("area", *chosen)): r[view.measure] for r in answer.rows
                }
                groups = _groups(ctx, cells, level, chosen)
                for combo in product(areas, *map(view.domain, chosen)):
                    value = shown.get(combo, 0)  # absent: an empty group
                    if value is None or combo not in groups:
                        continue
                    rows.append(groups[combo])
                    values.append(float(value))
                    if level == view.geography and size == len(dims):
                        own[(period, *combo)] = float(value)
    if not rows:
        return {k: None for k in cells}, own
    data = [1.0 for r in rows for _ in r]
    indices = [i for r in rows for i in r]
    pointers = np.cumsum([0, *map(len, rows)])
    matrix = csr_matrix((data, indices, pointers), shape=(len(rows), len(cells)))
    solution = lsq_linear(matrix, np.array(values), bounds=(0, np.inf), lsmr_tol="auto")
    return {k: float(round(x)) for k, x in zip(cells, solution.x, strict=True)}, own


def _levels(ctx: Context, group: list[str]) -> list[tuple[str, list[str]]]:
    view = ctx.view
    levels = [(view.geography, group)]
    above = PARENT_LEVEL.get(view.geography)
    if above is not None:
        parents = sorted({ctx.geo.parent(view.geography, a) for a in group})
        levels.append((above, parents))
    return levels


def _groups(
    ctx: Context, cells: list[Key], level: str, chosen: tuple[str, ...]
) -> dict[tuple[Any, ...], list[int]]:
    """The finest cells (by index) inside each cell of a table over ``chosen`` at ``level``."""
    view = ctx.view
    at = [view.key_dims.index(d) for d in chosen]
    parent = {a: ctx.geo.parent(view.geography, a) for a in {k[1] for k in cells}}
    groups: dict[tuple[Any, ...], list[int]] = {}
    for i, key in enumerate(cells):
        area = key[1] if level == view.geography else parent[key[1]]
        groups.setdefault((area, *(key[j] for j in at)), []).append(i)
    return groups
