"""The disclosure attack suite, shortened, against a live server over the small demo trust.

Every attack of ``bench.attacks`` runs as every non-owner demo principal with the
``--quick`` budget; the test fails when an attack recovers small cells (true 1-9)
clearly better than what one knows without it: the better of the best constant
guess (chosen with hindsight) and each target's own published value.

The margin. At SCALE 0.02 the quick suite attacks 9 small cells per principal and
dataset (one per true value 1..9), so each attack family pools about 45 targets
(averaging: ~200 estimates over its dimensions) and the table attacks (zero vs
absent, least squares, ratio) a few hundred to thousands. For a rate near the
baseline's 0.11-0.3 the standard error of a difference of two rates on 45 targets
is about 0.08; the hindsight baseline is biased upwards, which adds slack. So an
attack fails the test when it beats the baseline by more than MARGIN = 0.15 with at
least MIN_TARGETS = 40 targets (about two standard errors on the smallest pools);
what today's server gives away is far larger (measured at SCALE 0.02, commit
b72d37f, pooled exact rates: averaging 0.52 against 0.15, ne/notIn differencing
0.40 against 0.16, marginal subtraction 0.31 against 0.16, the exact ratio 0.97
against 0.21, zero vs absent 1.00 against 0.62-0.85 for claimants).
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from bench.attacks.runner import run

MARGIN = 0.15
MIN_TARGETS = 40


@pytest.fixture(scope="module")
def results(duckdb_trust_dir: Path) -> dict[str, Any]:
    return run(duckdb_trust_dir / "gql-trust.toml", quick=True)


def family(attack: str) -> str:
    """``averaging (area)`` and ``averaging (sex)`` pool as ``averaging``."""
    return attack.split(" (")[0]


def pools(scores: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    """Per attack family across principals, and per attack x principal on its own."""
    pooled: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for s in scores:
        for name in (family(s["attack"]), f"{s['attack']} as {s['view']}"):
            pool = pooled[name]
            pool["targets"] += s["targets"]
            pool["exact"] += s["exact"]
            pool["within1"] += s["within1"]
            pool["baseline_exact"] += max(s["base_exact"], s["published_exact"])
            pool["baseline_within1"] += max(s["base_within1"], s["published_within1"])
    return pooled


def test_every_attack_and_principal_ran(results: dict[str, Any]) -> None:
    views = {s["view"] for s in results["scores"]}
    assert views == {
        "hmrc/claimants",
        "la/claimants",
        "dfe/claimants",
        "dfe-dp/claimants",
        "dfe/payrolledEmployees",
        "dwp/payrolledEmployees",
    }
    families = {family(s["attack"]) for s in results["scores"]}
    assert families == {
        "averaging",
        "differencing",
        "marginal subtraction",
        "exact ratio",
        "zero vs absent",
        "least squares",
    }
    # an attack with no target scored had every query refused (a privacy budget spent)
    assert all(s["targets"] > 0 or s["refused"] == s["queries"] for s in results["scores"])


def test_no_attack_beats_its_baseline(results: dict[str, Any]) -> None:
    beaten = []
    for name, pool in sorted(pools(results["scores"]).items()):
        if pool["targets"] < MIN_TARGETS:
            continue
        for measure in ("exact", "within1"):
            excess = (pool[measure] - pool[f"baseline_{measure}"]) / pool["targets"]
            if excess > MARGIN:
                beaten.append(
                    f"{name}: {measure} {pool[measure]}/{pool['targets']} against the "
                    f"baseline's {pool[f'baseline_{measure}']} (+{excess:.2f})"
                )
    assert not beaten, "attacks that recover small cells:\n" + "\n".join(beaten)
