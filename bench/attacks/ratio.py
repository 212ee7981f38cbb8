"""Attack 4: exact counts from the means of a total and of its parts.

With the mean of a parent cell and of its two parts (F and M), total pay balances:
m_P (n_F + n_M) = m_F n_F + m_M n_M. Among the +-2 candidates around each part's
rounded count, the pair that balances best gives the counts. Two queries per period
fetch every finest cell and every parent. Scored on every published part count,
against the baseline of the published (rounded) value itself.
"""

from __future__ import annotations

from itertools import product
from typing import Any

from .common import Context
from .scoring import Score, score

CLEAR = 0.1  # the best pair must balance ten times better than the next
SPREAD = 2  # 10-5 rounds to the nearest 5: the true count is within +-2 of what is published


def run(ctx: Context) -> list[Score]:
    view = ctx.view
    if view.mean is None or "sex" not in view.dims:
        return []
    sent, refused = ctx.queries()
    truth, guesses, published = [], [], []
    parents = [d for d in ("area", *view.dims) if d != "sex"]
    measures = [view.measure, view.mean]
    for period in view.periods[-ctx.budget.tables :]:
        where = {"period": {"eq": period}}
        parts = ctx.ask(where, select=[*parents, "sex"], measures=measures)
        totals = ctx.ask(where, select=parents, measures=measures)
        if parts.rows is None or totals.rows is None:
            continue
        split: dict[tuple[Any, ...], dict[str, dict[str, Any]]] = {}
        for row in parts.rows:
            split.setdefault(tuple(row[d] for d in parents), {})[row["sex"]] = row
        for row in totals.rows:
            key = tuple(row[d] for d in parents)
            sexes = split.get(key, {})
            if set(sexes) != {"F", "M"}:
                continue
            solved = solve(row, sexes["F"], sexes["M"], view.measure, view.mean)
            for sex, count in zip(("F", "M"), solved or (None, None), strict=True):
                shown = sexes[sex][view.measure]
                if shown is None:
                    continue  # a suppressed part is not a published count
                true_key = (period, *key[:1], *_dims(view, key, parents, sex))
                truth.append(ctx.oracle.cells(view).get(true_key, 0))
                guesses.append(count if count is not None else shown)
                published.append(shown)
    after = ctx.queries()
    result = score(
        "exact ratio (means)",
        view.name,
        truth,
        guesses,
        published,
        queries=after[0] - sent,
        refused=after[1] - refused,
        note="targets: every published part count; baseline: the published value",
    )
    result.base_exact, result.base_within1 = result.published_exact, result.published_within1
    return [result]


def _dims(view: Any, key: tuple[Any, ...], parents: list[str], sex: str) -> list[Any]:
    values = dict(zip(parents, key, strict=True)) | {"sex": sex}
    return [values[d] for d in view.dims]


def solve(
    total: dict[str, Any], f: dict[str, Any], m: dict[str, Any], count: str, mean: str
) -> tuple[int, int] | None:
    """The candidate counts (F, M) that balance total pay, when one pair clearly does."""
    if any(r[count] is None or r[mean] is None for r in (total, f, m)):
        return None
    fits = []
    for n_f, n_m in product(_candidates(f[count]), _candidates(m[count])):
        residual = abs(total[mean] * (n_f + n_m) - f[mean] * n_f - m[mean] * n_m)
        fits.append((residual, n_f, n_m))
    fits.sort()
    best, runner_up = fits[0], fits[1]
    if best[0] > CLEAR * runner_up[0]:
        return None  # no pair balances clearly better than the rest: the means are protected
    return best[1], best[2]


def _candidates(shown: int) -> range:
    return range(max(shown - SPREAD, 0), shown + SPREAD + 1)
