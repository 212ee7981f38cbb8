"""Attack 5: tell a true zero from a small count in a detailed table.

Ask the finest table of one period (every dimension selected) and lay it over the
complete lattice of categories. Then classify each cell as zero or not: if some
lattice cells are absent from the response, absent means zero and any row means
someone is there (whatever its value, 0 or null included); if the table is
complete, a published 0 or null is the best sign of a zero. Scored on the cells
whose true value is 0-9 (``exact`` = classified right; +-1 = the same), against
the better of the constant class ("all zero" or "all non-zero") and reading each
cell's own published value (0, null or nothing -> zero): a value of 3 or more is
never a true zero under any method, so only what presence adds counts as learnt.
"""

from __future__ import annotations

from itertools import product

from .common import Context, Key
from .scoring import Score


def run(ctx: Context) -> list[Score]:
    view = ctx.view
    sent, refused = ctx.queries()
    correct = read = zeros = small = 0
    dims = ["area", *view.dims]
    lattice = list(product(*(view.domain(d) for d in dims)))
    for period in view.periods[-ctx.budget.tables :]:
        where = {"period": {"eq": period}}
        if len(view.areas) == 1:
            where["areaCode"] = {"eq": view.areas[0]}
        answer = ctx.ask(where, select=dims)
        if answer.rows is None:
            continue
        shown = {tuple(r[d] for d in dims): r[view.measure] for r in answer.rows}
        if not all(cell in shown for cell in lattice):
            ctx.learned["drops empty groups"] = True
        complete = not ctx.learned.get("drops empty groups")
        for cell in lattice:
            key: Key = (period, *cell)
            true = ctx.truth.get(key, 0)
            if true > 9:
                continue
            zeros += true == 0
            small += true > 0
            says_zero = shown.get(cell) in (0, None) if complete else cell not in shown
            correct += says_zero == (true == 0)
            read += (shown.get(cell) in (0, None)) == (true == 0)
    after = ctx.queries()
    targets = zeros + small
    base = max(zeros, small)
    return [
        Score(
            "zero vs absent",
            view.name,
            targets,
            correct,
            correct,
            base,
            base,
            read,
            read,
            queries=after[0] - sent,
            refused=after[1] - refused,
            note=f"cells true 0-9 ({zeros} zeros); exact = classified zero/non-zero right",
        )
    ]
