"""HMRC PAYE Real Time Information: payrolled employees and their pay, as aggregate cells.

One cell per month x local authority x SIC section x age band x sex, written as
Parquet files (one per calendar year) that the trust reads in place.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from .dimensions import (
    AGE_BANDS,
    LA_CODES,
    SECTOR_CODES,
    SEXES,
    calendar_month,
    date_array,
    string_array,
)
from .employment import Employment, seasonal_profile
from .geography import (
    EAST,
    LOCAL_AUTHORITIES,
    LONDON,
    NORTH_EAST,
    RURAL_OR_COASTAL,
    SCOTLAND,
    SOUTH_EAST,
    SOUTH_WEST,
    WALES,
    region_of,
)

# Mean monthly pay (GBP) by section before age, sex and regional differences.
SECTOR_PAY = {
    "A": 1700, "B": 4100, "C": 2900, "D": 4200, "E": 2800, "F": 2900, "G": 1800,
    "H": 2500, "I": 1300, "J": 3800, "K": 4200, "L": 2500, "M": 3400, "N": 2000,
    "O": 2900, "P": 2300, "Q": 2100, "R": 1600, "S": 1800, "T": 1400, "U": 3000,
}  # fmt: skip
AGE_PAY = (0.62, 0.95, 1.12, 1.08, 0.75)  # AGE_BANDS order
SEX_PAY = (0.86, 1.08)  # SEXES order
REGION_PAY = {
    LONDON: 1.28, SOUTH_EAST: 1.07, EAST: 1.02, SOUTH_WEST: 0.95,
    NORTH_EAST: 0.91, WALES: 0.92, SCOTLAND: 0.98,
}  # fmt: skip
OTHER_REGION_PAY = 0.94
PAY_FLOOR, PAY_CEILING = 1200.0, 4500.0

# Summer swing of employment by section (hospitality, farming, leisure peak in July).
SUMMER_SWING = {"A": 0.08, "I": 0.06, "R": 0.05, "N": 0.02, "P": -0.02}
COASTAL_SUMMER_BOOST = 2.5
MONTHLY_GROWTH = 0.0008
MONTHLY_PAY_GROWTH = 0.0035


def payroll_table(
    employment: Employment, month_values: np.ndarray, rng: np.random.Generator
) -> pa.Table:
    """Every cell, ordered by month, area, section, age band, sex."""
    expected = _expected_employees(employment, month_values, rng)
    employees = rng.poisson(expected)
    mean_pay = _mean_pay(employees, month_values, rng)
    total_pay = np.round(employees * mean_pay, 2)
    index = np.indices(employees.shape).reshape(employees.ndim, -1)
    t, la, sector, age, sex = index
    return pa.table(
        {
            "month": date_array(month_values, t),
            "area_code": string_array(LA_CODES, la),
            "sic_section": string_array(SECTOR_CODES, sector),
            "age_band": string_array(AGE_BANDS, age),
            "sex": string_array(SEXES, sex),
            "employees": pa.array(employees.ravel().astype(np.int64)),
            "total_pay": pa.array(total_pay.ravel().astype(np.float64)),
        }
    )


def write_payroll(table: pa.Table, month_values: np.ndarray, folder: Path) -> list[Path]:
    """One Parquet file per calendar year; stale files from an earlier run are removed
    first, because the trust reads every ``*.parquet`` in the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    for stale in sorted(folder.glob("*.parquet")):
        stale.unlink()
    rows_per_month = table.num_rows // month_values.size
    years = month_values.astype("datetime64[Y]").astype(np.int64) + 1970
    written = []
    for year in np.unique(years):
        in_year = np.flatnonzero(years == year)  # contiguous: the table is ordered by month
        start, count = int(in_year[0]) * rows_per_month, in_year.size * rows_per_month
        path = folder / f"paye_rti_{int(year)}.parquet"
        pq.write_table(table.slice(start, count), path, compression="zstd", row_group_size=100_000)
        written.append(path)
    return written


def _expected_employees(
    employment: Employment, month_values: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Expected employees per [month, LA, section, age band, sex]."""
    base = employment.cells()
    cells = base * rng.lognormal(0.0, 0.15, size=base.shape)
    summer = seasonal_profile(calendar_month(month_values), peak_month=6)  # (T,)
    swing = np.array([SUMMER_SWING.get(s, 0.0) for s in SECTOR_CODES])  # (S,)
    coastal = np.array(
        [COASTAL_SUMMER_BOOST if a.code in RURAL_OR_COASTAL else 1.0 for a in LOCAL_AUTHORITIES]
    )  # (LA,)
    season = 1.0 + summer[:, None, None] * coastal[None, :, None] * swing[None, None, :]
    december = (calendar_month(month_values) == 11)[:, None, None] * (
        np.array(SECTOR_CODES) == "G"
    )[None, None, :]
    trend = (1.0 + MONTHLY_GROWTH * np.arange(month_values.size))[:, None, None]
    factor = trend * season * (1.0 + 0.04 * december)  # (T, LA, S)
    return np.asarray(cells[None] * factor[:, :, :, None, None], dtype=np.float64)


def _mean_pay(
    employees: np.ndarray, month_values: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Mean monthly pay per cell, kept within PAY_FLOOR..PAY_CEILING."""
    _, n_la, n_sector, n_age, n_sex = employees.shape
    sector = np.array([SECTOR_PAY[s] for s in SECTOR_CODES], dtype=np.float64)
    region = np.array([REGION_PAY.get(region_of(a), OTHER_REGION_PAY) for a in LOCAL_AUTHORITIES])
    region = region * rng.lognormal(0.0, 0.04, n_la)
    fixed = (
        region[:, None, None, None]
        * sector[None, :, None, None]
        * np.array(AGE_PAY)[None, None, :, None]
        * np.array(SEX_PAY)[None, None, None, :]
        * rng.lognormal(0.0, 0.05, size=(n_la, n_sector, n_age, n_sex))
    )
    t = np.arange(month_values.size)
    growth = (1.0 + MONTHLY_PAY_GROWTH) ** t
    # March bonuses in finance and professional services.
    march = calendar_month(month_values) == 2
    bonus = 1.0 + np.outer(march, [{"K": 0.15, "M": 0.04}.get(s, 0.0) for s in SECTOR_CODES])
    # Small cells have noisier means.
    noise = rng.normal(0.0, 1.0, employees.shape) * (0.12 / np.sqrt(np.maximum(employees, 1)))
    raw = (
        fixed[None]
        * growth[:, None, None, None, None]
        * bonus[:, None, :, None, None]
        * np.exp(noise)
    )
    return _soft_clamp(raw, PAY_FLOOR, PAY_CEILING)


def _soft_clamp(values: np.ndarray, low: float, high: float, margin: float = 250.0) -> np.ndarray:
    """Identity inside [low + margin, high - margin], squeezed smoothly towards the bounds
    outside it, so extreme combinations stay plausible without piling up on a limit."""
    inner_low, inner_high = low + margin, high - margin
    below = inner_low - margin * np.tanh((inner_low - values) / margin)
    above = inner_high + margin * np.tanh((values - inner_high) / margin)
    return np.where(values < inner_low, below, np.where(values > inner_high, above, values))
