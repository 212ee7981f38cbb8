"""Attack 3: subtract the visible sibling cells from a marginal cell of the lattice.

For each dimension d of the target cell t, the standard cell with d = all categories
(for the area, the parent area at the next geography level up) minus the sibling
cells (d selected, the rest pinned to t). Every cell asked is a standard cell. The
estimates of the dimensions, and the target's own published value, are averaged
with inverse-variance weights (each published cell adds about the same noise, so
an estimate from k siblings weighs 1 / (k + 1)). A null sibling or marginal carries no
information; an absent sibling is a zero (today's server drops empty groups).
"""

from __future__ import annotations

from .common import Context, Key, each_target
from .scoring import Score
from .views import PARENT_LEVEL


def run(ctx: Context) -> list[Score]:
    return each_target(ctx, "marginal subtraction", attack_target)


def attack_target(ctx: Context, target: Key) -> int | None:
    view = ctx.view
    estimates: list[tuple[float, float]] = []  # (estimate, weight)
    own: float | None = None
    for dim in view.key_dims:
        if not view.additive(dim):
            continue
        value = target[view.key_dims.index(dim)]
        base = view.pin(target, drop=(dim,))
        if dim == "area":
            parent_level = PARENT_LEVEL.get(view.geography)
            if parent_level is None:
                continue
            parent = ctx.geo.parent(view.geography, value)
            marginal = ctx.total({**base, "areaCode": {"eq": parent}}, geography=parent_level)
            siblings_where = {
                **base,
                "areaCode": {"in": ctx.geo.children(view.geography, parent)},
            }
        else:
            marginal = ctx.total(base)
            siblings_where = base
        if marginal is None:
            continue
        siblings = ctx.ask(siblings_where, select=[dim])
        if siblings.rows is None:
            continue
        others = [r[view.measure] for r in siblings.rows if r[dim] != value]
        if any(v is None for v in others):
            continue
        mine = [r[view.measure] for r in siblings.rows if r[dim] == value]
        if own is None and mine and mine[0] is not None:
            own = float(mine[0])
        estimates.append((marginal - sum(others), 1 / (len(others) + 1)))
    if own is not None:
        estimates.append((own, 1.0))
    if not estimates:
        return None
    mean = sum(e * w for e, w in estimates) / sum(w for _, w in estimates)
    return max(0, round(mean))
