"""DWP Universal Credit claimant microdata: one row per claimant per month on claim.

Claimants arrive in spells (a stock on claim at the first month, then monthly
inflows) and leave after a spell length drawn from a mix of short, medium and
long spells, so monthly counts rise and fall with seasonality, a trend and
regional differences. Area, sex, age band, disability and ``record_key`` are
fixed per claimant; conditionality may change once (moving into work).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from .dimensions import AGE_BANDS, LA_CODES, SEXES, calendar_month, date_array, string_array
from .employment import seasonal_profile
from .geography import (
    EAST,
    EAST_MIDLANDS,
    LOCAL_AUTHORITIES,
    LONDON,
    NORTH_EAST,
    NORTH_WEST,
    RURAL_OR_COASTAL,
    SCOTLAND,
    SOUTH_EAST,
    SOUTH_WEST,
    WALES,
    WEST_MIDLANDS,
    YORKSHIRE,
    region_of,
)

ROWS_AT_SCALE_1 = 1_200_000
ANCHORS = len(LOCAL_AUTHORITIES)  # long-term claimants, see _anchors

CONDITIONALITY: tuple[str, ...] = (
    "Searching for work",
    "Working - with requirements",
    "No work requirements",
    "Planning for work",
    "Preparing for work",
    "Working - no requirements",
)
SEARCHING, WORKING_WITH_REQUIREMENTS = 0, 1
# Conditionality at the start of a claim, by (disabled, aged 65+), in CONDITIONALITY order.
CONDITIONALITY_MIX = {
    (False, False): (0.50, 0.28, 0.08, 0.05, 0.04, 0.05),
    (True, False): (0.15, 0.10, 0.55, 0.05, 0.10, 0.05),
    (False, True): (0.05, 0.05, 0.80, 0.02, 0.03, 0.05),
    (True, True): (0.02, 0.03, 0.90, 0.01, 0.02, 0.02),
}
INTO_WORK_SHARE = 0.35  # of those searching, the share who move into work during the claim

AGE_MIX = (0.18, 0.30, 0.32, 0.185, 0.015)  # AGE_BANDS order
FEMALE_SHARE = 0.54
DISABILITY_BY_AGE = (0.12, 0.18, 0.28, 0.40, 0.30)
SPELL_MEANS = np.array([4.0, 12.0, 40.0])  # months: short, medium, long spells
SPELL_MIX = {False: (0.50, 0.35, 0.15), True: (0.20, 0.30, 0.50)}  # by disability

# Claimant rate relative to population, by region (or country outside England).
REGION_RATE = {
    NORTH_EAST: 1.35, NORTH_WEST: 1.20, YORKSHIRE: 1.15, EAST_MIDLANDS: 1.00,
    WEST_MIDLANDS: 1.20, EAST: 0.85, LONDON: 1.15, SOUTH_EAST: 0.80, SOUTH_WEST: 0.80,
    WALES: 1.10, SCOTLAND: 1.05,
}  # fmt: skip
MORE_DEPRIVED = {"E06000002", "E06000009", "E06000010", "E08000025", "E09000030", "E09000025",
                 "E08000028", "E08000012", "S12000049"}  # fmt: skip
LESS_DEPRIVED = {"E06000060", "E08000029", "E06000056", "E09000001", "E06000025"}
# Claims rise after Christmas and in early autumn.
INFLOW_SEASON = (1.20, 1.05, 1.00, 0.95, 0.90, 0.90, 1.00, 1.05, 1.10, 1.00, 0.95, 0.90)
COASTAL_WINTER_SWING = 0.25  # seasonal work ends in winter
INFLOW_GROWTH = 0.006  # the caseload grows as legacy benefits migrate


@dataclass(frozen=True)
class Claimants:
    """One entry per claimant (fixed attributes) and the spell each is on claim for."""

    claimant_id: np.ndarray
    area: np.ndarray  # index into LA_CODES
    age: np.ndarray  # index into AGE_BANDS
    sex: np.ndarray  # index into SEXES
    disabled: np.ndarray
    record_key: np.ndarray
    start: np.ndarray  # first month index on claim
    length: np.ndarray  # months on claim within the window (>= 1)
    conditionality: np.ndarray  # index into CONDITIONALITY at the start
    into_work_at: np.ndarray  # months after ``start`` of moving into work, or -1


def row_batches(
    people: Claimants, month_values: np.ndarray, max_rows: int = 2_000_000
) -> Iterator[pa.Table]:
    """Rows (claimant x month) ordered by month, area and claimant, in batches of whole
    months so memory stays bounded at large scales."""
    for first, last in _month_batches(people, month_values.size, max_rows):
        yield _expand(people, month_values, first, last)


def row_count(people: Claimants) -> int:
    return int(people.length.sum())


def simulate(rows_target: int, month_values: np.ndarray, rng: np.random.Generator) -> Claimants:
    """Claimants whose spells give about ``rows_target`` rows over ``month_values``."""
    n_months = month_values.size
    weights = _area_weights(rng)
    season = _inflow_season(month_values)  # (T, LA)
    joint_inflow = _joint_mix()  # (A, D, K)
    inflow_rate = max(rows_target - ANCHORS * n_months, 0) / _rows_per_unit_inflow(
        weights, season, joint_inflow
    )
    stock = rng.poisson(inflow_rate * weights * _stock_per_unit_inflow(joint_inflow))
    inflows = rng.poisson(inflow_rate * weights[None, :] * season)
    inflows[0] = 0  # claims already open at the first month are the stock
    # Stock is length-biased: long spells are over-represented among those on claim.
    joint_stock = joint_inflow * SPELL_MEANS[None, None, :]
    stock_part = _draw_spells(stock, np.zeros(stock.size, np.int64), joint_stock, rng)
    t_idx, la_idx = np.nonzero(inflows)
    inflow_part = _draw_spells(inflows[t_idx, la_idx], t_idx, joint_inflow, rng, la_idx)
    area, start, age, sex, disabled, duration = (
        np.concatenate(parts)
        for parts in zip(stock_part, inflow_part, _anchors(n_months), strict=True)
    )
    n = area.size
    length = np.minimum(duration, n_months - start)
    conditionality = _draw_conditionality(disabled, age, rng)
    into_work = (conditionality == SEARCHING) & (rng.random(n) < INTO_WORK_SHARE) & (length > 1)
    into_work_at = np.where(
        into_work, 1 + np.floor(rng.random(n) * np.maximum(length - 1, 1)).astype(np.int64), -1
    )
    return Claimants(
        claimant_id=100_000_000 + rng.choice(900_000_000, size=n, replace=False).astype(np.int64),
        area=area,
        age=age,
        sex=sex,
        disabled=disabled,
        record_key=rng.integers(0, 2**32, size=n, dtype=np.int64),
        start=start,
        length=length,
        conditionality=conditionality,
        into_work_at=into_work_at,
    )


def _area_weights(rng: np.random.Generator) -> np.ndarray:
    """Share of claims per authority: population x regional rate x local deprivation."""
    weights = np.array(
        [
            area.population
            * REGION_RATE[region_of(area)]
            * (1.3 if area.code in MORE_DEPRIVED else 0.7 if area.code in LESS_DEPRIVED else 1.0)
            for area in LOCAL_AUTHORITIES
        ],
        dtype=np.float64,
    )
    weights *= rng.lognormal(0.0, 0.15, weights.size)
    return np.asarray(weights / weights.sum(), dtype=np.float64)


def _inflow_season(month_values: np.ndarray) -> np.ndarray:
    """Inflow multiplier per [month, LA]: national season, coastal winters, growth."""
    cal = calendar_month(month_values)
    national = np.array(INFLOW_SEASON)[cal]
    coastal = np.array([a.code in RURAL_OR_COASTAL for a in LOCAL_AUTHORITIES])
    winter = 1.0 + COASTAL_WINTER_SWING * seasonal_profile(cal, peak_month=0)
    growth = np.exp(INFLOW_GROWTH * np.arange(month_values.size))
    local = np.where(coastal[None, :], winter[:, None], 1.0)
    return np.asarray((national * growth)[:, None] * local, dtype=np.float64)


def _joint_mix() -> np.ndarray:
    """P(age band, disabled, spell kind) for a new claim."""
    age = np.array(AGE_MIX)
    disabled = np.array(DISABILITY_BY_AGE)
    p_disabled = np.stack([1.0 - disabled, disabled], axis=1)  # (A, D)
    spell = np.array([SPELL_MIX[False], SPELL_MIX[True]])  # (D, K)
    joint = age[:, None, None] * p_disabled[:, :, None] * spell[None, :, :]
    return np.asarray(joint / joint.sum(), dtype=np.float64)


def _expected_months(n_months: np.ndarray) -> np.ndarray:
    """E[min(spell, n)] per spell kind (geometric spells): shape (K, len(n))."""
    stay = 1.0 - 1.0 / SPELL_MEANS
    expected = (1.0 - stay[:, None] ** n_months[None, :]) * SPELL_MEANS[:, None]
    return np.asarray(expected, dtype=np.float64)


def _stock_per_unit_inflow(joint: np.ndarray) -> float:
    """Claims open at any time per claim started a month (Little's law)."""
    return float((joint * SPELL_MEANS[None, None, :]).sum())


def _rows_per_unit_inflow(weights: np.ndarray, season: np.ndarray, joint: np.ndarray) -> float:
    """Expected rows per unit of inflow rate, seasonal and area weights included."""
    n_months = season.shape[0]
    per_kind = joint.sum(axis=(0, 1))  # (K,)
    stock_kind = (joint * SPELL_MEANS[None, None, :]).sum(axis=(0, 1))  # (K,)
    stock_rows = float(stock_kind @ _expected_months(np.array([n_months]))[:, 0])
    remaining = n_months - np.arange(1, n_months)
    inflow_rows_by_start = per_kind @ _expected_months(remaining)  # (T-1,)
    inflow_weight = (season[1:] * weights[None, :]).sum(axis=1)  # (T-1,)
    return stock_rows + float(inflow_rows_by_start @ inflow_weight)


def _draw_spells(
    counts: np.ndarray,
    start: np.ndarray,
    joint: np.ndarray,
    rng: np.random.Generator,
    area: np.ndarray | None = None,
) -> tuple[np.ndarray, ...]:
    """Claimants for ``counts[i]`` claims in ``area[i]`` (default i) from month ``start[i]``:
    (area, start, age band, sex, disabled, spell length)."""
    area_of = np.repeat(np.arange(counts.size) if area is None else area, counts)
    start_of = np.repeat(start, counts)
    probabilities = (joint / joint.sum()).ravel()
    category = rng.choice(probabilities.size, size=area_of.size, p=probabilities)
    age, disabled, kind = np.unravel_index(category, joint.shape)
    duration = rng.geometric(1.0 / SPELL_MEANS[kind])
    sex = (rng.random(area_of.size) >= FEMALE_SHARE).astype(np.int64)
    return area_of, start_of, age.astype(np.int64), sex, disabled.astype(bool), duration


def _anchors(n_months: int) -> tuple[np.ndarray, ...]:
    """One claimant per authority on claim throughout, cycling through age band x sex,
    so every month has every authority, age band and sex even at tiny scales."""
    la = np.arange(ANCHORS)
    return (
        la,
        np.zeros(ANCHORS, np.int64),
        la % len(AGE_BANDS),
        (la // len(AGE_BANDS)) % len(SEXES),
        la % 3 == 0,
        np.full(ANCHORS, n_months, np.int64),
    )


def _draw_conditionality(
    disabled: np.ndarray, age: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    older = age == len(AGE_BANDS) - 1
    cumulative = np.array(
        [np.cumsum(CONDITIONALITY_MIX[(d, o)]) for d in (False, True) for o in (False, True)]
    )
    group = disabled.astype(np.int64) * 2 + older.astype(np.int64)
    draws = rng.random(disabled.size)
    chosen = (draws[:, None] > cumulative[group]).sum(axis=1)
    return np.asarray(np.minimum(chosen, len(CONDITIONALITY) - 1), dtype=np.int64)


def _month_batches(people: Claimants, n_months: int, max_rows: int) -> list[tuple[int, int]]:
    """Half-open month ranges [first, last) of at most ``max_rows`` rows (or one month)."""
    change = np.zeros(n_months + 1, np.int64)
    np.add.at(change, people.start, 1)
    np.add.at(change, people.start + people.length, -1)
    per_month = np.cumsum(change)[:n_months]
    batches, first, rows = [], 0, 0
    for month, count in enumerate(per_month.tolist()):
        if rows and rows + count > max_rows:
            batches.append((first, month))
            first, rows = month, 0
        rows += count
    batches.append((first, n_months))
    return batches


def _expand(people: Claimants, month_values: np.ndarray, first: int, last: int) -> pa.Table:
    """One row per claimant per month on claim, for months [first, last)."""
    begin = np.maximum(people.start, first)
    end = np.minimum(people.start + people.length, last)
    active = np.flatnonzero(end > begin)
    count = end[active] - begin[active]
    who = np.repeat(active, count)
    month = np.repeat(begin[active], count) + (
        np.arange(who.size) - np.repeat(np.cumsum(count) - count, count)
    )
    offset = month - people.start[who]  # months into the claimant's time on claim
    switch_at = people.into_work_at[who]
    conditionality = np.where(
        (switch_at >= 0) & (offset >= switch_at),
        WORKING_WITH_REQUIREMENTS,
        people.conditionality[who],
    )
    claimant_id = people.claimant_id[who]
    order = np.lexsort((claimant_id, people.area[who], month))
    who, month, conditionality = who[order], month[order], conditionality[order]
    return pa.table(
        {
            "claimant_id": pa.array(claimant_id[order]),
            "month": date_array(month_values, month),
            "area_code": string_array(LA_CODES, people.area[who]),
            "age_band": string_array(AGE_BANDS, people.age[who]),
            "sex": string_array(SEXES, people.sex[who]),
            "conditionality": string_array(CONDITIONALITY, conditionality),
            "disability": pa.array(people.disabled[who]),
            "record_key": pa.array(people.record_key[who]),
        }
    )
