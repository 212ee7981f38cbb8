"""Attack 1: average the differences of many custom sets that differ by the target.

For a target cell t and one dimension d, each pair asks the total over
``d in S + [t_d]`` and over ``d in S`` (the other dimensions pinned to t's values, d
not selected), for many random sets S of other categories. Each set is a different
cell with its own noise (cell key) or rounding (10-5), so the mean difference
converges on t. When d has few categories, each pair also ORs in a random
"padding" rectangle disjoint from t (another category of a second dimension), so
that there are as many different sets as pairs wanted.
"""

from __future__ import annotations

from typing import Any

from .common import Context, Key, filter_name
from .scoring import Score, estimate, score

MANY = 12  # a dimension with at least this many categories needs no padding


def dimensions(ctx: Context) -> list[str]:
    view = ctx.view
    return [
        d for d in ("area", *view.dims, "period")
        if len(view.domain(d)) > 1 and view.additive(d) and d != "disability"
    ]  # fmt: skip


def run(ctx: Context) -> list[Score]:
    return [attack_dimension(ctx, d) for d in dimensions(ctx)]


def attack_dimension(ctx: Context, dim: str) -> Score:
    sent, refused = ctx.queries()
    targets = ctx.small_targets()
    guesses = [attack_target(ctx, t, dim) for t in targets]
    after = ctx.queries()
    return score(
        f"averaging ({dim})",
        ctx.view.name,
        [ctx.truth[t] for t in targets],
        guesses,
        queries=after[0] - sent,
        refused=after[1] - refused,
    )


def attack_target(ctx: Context, target: Key, dim: str) -> int | None:
    view, rng = ctx.view, ctx.rng
    at = view.key_dims.index(dim)
    others = [v for v in view.domain(dim) if v != target[at]]
    base = view.pin(target, drop=(dim,))
    pairs = []
    for _ in range(ctx.budget.pairs):
        subset = rng.sample(others, rng.randint(1, min(len(others), 40)))
        padding = None if len(others) >= MANY else pad(ctx, target, dim)
        pairs += [
            where(base, dim, [*subset, target[at]], padding),
            where(base, dim, subset, padding),
        ]
    first = ctx.totals(pairs[:2])
    if first == [None, None]:
        return None  # refused (or suppressed) outright: no point in asking again
    values = first + ctx.totals(pairs[2:])
    differences = [
        a - b
        for a, b in zip(values[::2], values[1::2], strict=True)
        if a is not None and b is not None
    ]
    return estimate(differences)


def where(
    base: dict[str, Any], dim: str, values: list[Any], padding: dict[str, Any] | None
) -> dict[str, Any]:
    core = {**base, filter_name(dim): {"in": values}}
    return core if padding is None else {"or": [core, padding]}


def pad(ctx: Context, target: Key, dim: str) -> dict[str, Any]:
    """A random rectangle in the target's period that excludes it: another category of
    one dimension p != dim, and a random subset of a further dimension."""
    view, rng = ctx.view, ctx.rng
    choices = [d for d in ("area", *view.dims) if d != dim and len(view.domain(d)) > 1]
    p = rng.choice(choices)
    p_value = rng.choice([v for v in view.domain(p) if v != target[view.key_dims.index(p)]])
    rest = [d for d in choices if d != p]
    padding = {**view.pin(target, drop=(p, *rest)), filter_name(p): {"eq": p_value}}
    if rest:
        q = rng.choice(rest)
        domain = view.domain(q)
        subset = rng.sample(domain, rng.randint(1, len(domain)))
        # Boolean filters have no `in`: one value, or (both) no filter at all.
        if q == "disability":
            padding.update({} if len(subset) > 1 else {q: {"eq": subset[0]}})
        else:
            padding[filter_name(q)] = {"in": subset}
        for d in rest:
            if d != q and not (d == "disability" and q == d):
                padding[filter_name(d)] = {"eq": target[view.key_dims.index(d)]}
    return padding
