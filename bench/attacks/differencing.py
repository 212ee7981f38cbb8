"""Attack 2: a total minus the same total with ``ne`` / ``notIn`` the target.

For each dimension d of the target cell t: the cell with d unpinned (all
categories) minus the cell with ``d: {ne: t_d}``, and again with
``d: {notIn: [t_d]}``. Each dimension gives a different pair of cells, so the
estimates are averaged over the dimensions.
"""

from __future__ import annotations

from .common import Context, Key, each_target, filter_name
from .scoring import Score, estimate


def run(ctx: Context) -> list[Score]:
    return each_target(ctx, "differencing (ne/notIn)", attack_target)


def attack_target(ctx: Context, target: Key) -> int | None:
    view = ctx.view
    pairs: list[dict[str, object]] = []
    for dim in view.key_dims:
        if len(view.domain(dim)) < 2 or not view.additive(dim):
            continue
        value = target[view.key_dims.index(dim)]
        base = view.pin(target, drop=(dim,))
        operators = [{"ne": value}] if dim == "disability" else [{"ne": value}, {"notIn": [value]}]
        for operator in operators:
            pairs += [base, {**base, filter_name(dim): operator}]
    values = ctx.totals(pairs)
    return estimate(
        [
            a - b
            for a, b in zip(values[::2], values[1::2], strict=True)
            if a is not None and b is not None
        ]
    )
