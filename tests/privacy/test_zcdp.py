"""zCDP counts under DSA-LMDT-002: accuracy, free repeats, the budget, and its limits."""

from __future__ import annotations

import asyncio
import math

import numpy as np

from gql_trust.disclosure import dp
from gql_trust.reference import Level
from tests.conftest import TrustUnderTest
from tests.privacy.conftest import ask_dp

LA_MONTH = """query($p: String!) { claimants(geography: LOCAL_AUTHORITY,
  where: {period: {eq: $p}}, limit: 10000) { area { code } claimants } }"""


def _independent_half_width(scale: float, confidence: float = 0.95) -> int:
    """Smallest h with P(|Z| <= h) >= confidence for the discrete Gaussian, summed here."""
    support = np.arange(-int(40 * scale) - 40, int(40 * scale) + 41)
    weights = np.exp(-(support**2) / (2 * scale**2))
    weights /= weights.sum()
    for h in range(len(support)):
        if weights[np.abs(support) <= h].sum() >= confidence:
            return h
    raise AssertionError("unreachable")


def test_rho_and_scale_agree_with_opendp_map() -> None:
    for rho, periods in [(0.05, 1), (0.05, 12), (0.5, 3)]:
        scale = dp.scale_for(rho, periods)
        assert math.isclose(dp.rho_of(scale, periods), rho, rel_tol=1e-9)


def test_stated_half_width_matches_an_independent_quantile() -> None:
    for scale in (1.0, 3.16, 7.0):
        stated = dp.half_width(scale)
        independent = _independent_half_width(scale)
        assert independent <= stated <= independent + 1, (scale, stated, independent)


def test_noise_spread_matches_stated_accuracy_over_many_cells() -> None:
    scale = dp.scale_for(0.05, 1)
    counts = [0, 1, 5, 100] * 5000
    noisy = np.array(dp.noise(counts, scale)) - np.array(counts)
    inside = float(np.mean(np.abs(noisy) <= dp.half_width(scale)))
    assert inside >= 0.95 - 0.005, inside  # 20,000 cells: se 0.0015; OpenDP's bound is safe
    support = np.arange(-200, 201)
    weights = np.exp(-(support**2) / (2 * scale**2))
    for h in (1, 3, _independent_half_width(scale)):  # the whole shape, not one quantile
        expected = weights[np.abs(support) <= h].sum() / weights.sum()
        assert abs(float(np.mean(np.abs(noisy) <= h)) - expected) < 0.01, h
    assert abs(float(np.std(noisy)) - scale) < 0.05 * scale
    assert abs(float(np.mean(noisy))) < 0.1


async def _period(trust: TrustUnderTest) -> str:
    body = await trust.data("{ claimants(limit: 1, orderBy: [{period: DESC}]) { period } }")
    return str(body["claimants"][0]["period"])


async def test_la_release_under_dp_repeats_free_and_identical(dp_trust: TrustUnderTest) -> None:
    period = await _period(dp_trust)
    first = await ask_dp(dp_trust, LA_MONTH, {"p": period})
    assert "errors" not in first, first
    privacy = first["extensions"]["privacy"]
    assert privacy["agreement"] == "DSA-LMDT-002"
    assert math.isclose(privacy["rhoSpent"], 0.05, rel_tol=1e-6)
    assert math.isclose(privacy["rhoRemaining"], 0.95, rel_tol=1e-6)
    accuracy = privacy["accuracy"]["claimants"]
    assert accuracy == {"confidence": 0.95, "halfWidth": dp.half_width(dp.scale_for(0.05, 1))}
    rows = first["data"]["claimants"]
    assert len(rows) == len(dp_trust.app.state.trust.reference.codes_at(Level.LOCAL_AUTHORITY))
    exact = await dp_trust.data(LA_MONTH, {"p": period}, who="dwp")
    truth = {r["area"]["code"]: r["claimants"] for r in exact["claimants"]}
    errors = [r["claimants"] - truth.get(r["area"]["code"], 0) for r in rows]
    assert any(e != 0 for e in errors)  # noised
    width = accuracy["halfWidth"]
    assert np.mean(np.abs(errors) <= width) >= 0.9  # a few hundred cells at 95%
    again = await ask_dp(dp_trust, LA_MONTH, {"p": period})
    assert again["data"] == first["data"]
    assert again["extensions"]["privacy"]["rhoSpent"] == 0
    assert math.isclose(again["extensions"]["privacy"]["rhoRemaining"], 0.95, rel_tol=1e-6)


async def test_without_the_agreement_dfe_stays_regional(dp_trust: TrustUnderTest) -> None:
    period = await _period(dp_trust)
    body = await dp_trust.query(LA_MONTH, {"p": period}, who="dfe")
    assert body["data"]["claimants"] is None
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert "privacy" not in body.get("extensions", {})


async def test_standard_cells_refusal_still_applies(dp_trust: TrustUnderTest) -> None:
    query = """{ claimants(geography: LOCAL_AUTHORITY, where: {period: {gte: "2020-01"}})
      { area { code } claimants } }"""
    body = await ask_dp(dp_trust, query, {})
    assert body["data"]["claimants"] is None
    assert body["errors"][0]["extensions"]["rule"] == "standard-cells-only"
    assert "privacy" not in body.get("extensions", {})


async def test_budget_runs_out_and_says_so(dp_trust: TrustUnderTest) -> None:
    months = await dp_trust.data("{ claimants { period } }")
    periods = sorted({r["period"] for r in months["claimants"]})
    assert len(periods) >= 21, periods  # 20 fresh tables of 0.05 fill the budget of 1.0
    for period in periods[:20]:
        body = await ask_dp(dp_trust, LA_MONTH, {"p": period})
        assert "errors" not in body, body
    over = await ask_dp(dp_trust, LA_MONTH, {"p": periods[20]})
    assert over["data"]["claimants"] is None
    error = over["errors"][0]
    assert error["extensions"]["code"] == "PRIVACY_BUDGET_EXCEEDED"
    assert "no data was released" in error["message"]
    assert over["extensions"]["privacy"]["rhoRemaining"] < 0.05
    repeat = await ask_dp(dp_trust, LA_MONTH, {"p": periods[0]})
    assert "errors" not in repeat  # cells already released stay free


async def test_concurrent_releases_never_overspend(dp_trust: TrustUnderTest) -> None:
    months = await dp_trust.data("{ claimants { period } }")
    periods = sorted({r["period"] for r in months["claimants"]})[:30]
    bodies = await asyncio.gather(*(ask_dp(dp_trust, LA_MONTH, {"p": p}) for p in periods))
    served = [b for b in bodies if b["data"]["claimants"] is not None]
    refused = [b for b in bodies if b["data"]["claimants"] is None]
    assert len(served) == 20 and len(refused) == len(periods) - 20
    assert all(b["errors"][0]["extensions"]["code"] == "PRIVACY_BUDGET_EXCEEDED" for b in refused)
    spent = await dp_trust.app.state.ledger.sink._run(
        lambda conn: conn.execute("SELECT SUM(rho) FROM ledger_privacy_spent").fetchone()[0]
    )
    assert spent <= 1.0 + 1e-9


async def test_two_app_instances_over_one_ledger_never_overspend(
    dp_trust: TrustUnderTest,
) -> None:
    from tests.conftest import _running

    months = await dp_trust.data("{ claimants { period } }")
    periods = sorted({r["period"] for r in months["claimants"]})[:30]
    async for other in _running("duckdb", dp_trust.directory, None):
        apps = [dp_trust, other]
        bodies = await asyncio.gather(
            *(ask_dp(apps[i % 2], LA_MONTH, {"p": p}) for i, p in enumerate(periods))
        )
        again = await ask_dp(other, LA_MONTH, {"p": periods[0]})
        first = await ask_dp(dp_trust, LA_MONTH, {"p": periods[0]})
    served = [b for b in bodies if b["data"]["claimants"] is not None]
    assert len(served) == 20  # 1.0 / 0.05, across both instances
    assert again["data"] == first["data"]  # one value per cell, whichever instance asks
