"""The synthetic employment structure shared by payroll and vacancies.

Expected employees per local authority and SIC section come from each authority's
population, national sector shares and a few well-known regional specialisms,
with deterministic random variation per authority and section.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .dimensions import SECTOR_CODES
from .geography import (
    EAST_MIDLANDS,
    LOCAL_AUTHORITIES,
    LONDON,
    NORTH_EAST,
    RURAL_OR_COASTAL,
    SCOTLAND,
    WALES,
    WEST_MIDLANDS,
    region_of,
)

# Payrolled employees per resident, roughly the UK ratio (30m of 67m).
EMPLOYEES_PER_RESIDENT = 0.46

# Share of payrolled employees by SIC section, A..U (percent, roughly the UK mix).
SECTOR_SHARE = {
    "A": 0.8, "B": 0.2, "C": 8.3, "D": 0.5, "E": 0.7, "F": 5.0, "G": 14.5,
    "H": 5.0, "I": 8.3, "J": 4.4, "K": 3.6, "L": 1.5, "M": 6.6, "N": 8.0,
    "O": 4.7, "P": 9.0, "Q": 14.3, "R": 2.3, "S": 2.0, "T": 0.05, "U": 0.012,
}  # fmt: skip

# Specialisms that make regions look different (multipliers on the national share).
REGION_TILT: dict[str, dict[str, float]] = {
    LONDON: {"A": 0.1, "B": 0.3, "C": 0.4, "F": 0.8, "H": 0.8, "J": 2.0, "K": 2.5,
             "L": 1.3, "M": 1.7, "T": 1.5, "U": 6.0},
    EAST_MIDLANDS: {"C": 1.5, "H": 1.4},
    WEST_MIDLANDS: {"C": 1.5, "H": 1.3},
    NORTH_EAST: {"C": 1.2, "O": 1.1, "Q": 1.1},
    WALES: {"A": 1.5, "O": 1.15, "Q": 1.1},
    SCOTLAND: {"B": 3.0, "O": 1.1},
}  # fmt: skip
RURAL_TILT = {"A": 4.0, "I": 1.4, "C": 0.9, "J": 0.6, "K": 0.6}
LA_TILT: dict[str, dict[str, float]] = {
    "S12000033": {"B": 15.0},  # Aberdeen City: North Sea oil and gas
    "S12000034": {"B": 10.0},  # Aberdeenshire
    "S12000036": {"K": 2.0},  # City of Edinburgh: finance
    "E08000035": {"K": 1.5},  # Leeds
    "E07000008": {"J": 1.5, "M": 1.8, "P": 1.5},  # Cambridge
    "E07000178": {"M": 1.5, "P": 1.8},  # Oxford
}

_DEFAULT_AGE = (0.12, 0.24, 0.33, 0.27, 0.04)
# Age mix of employees by section, in AGE_BANDS order (16-24 .. 65+).
AGE_MIX: dict[str, tuple[float, ...]] = {
    "A": (0.12, 0.17, 0.28, 0.33, 0.10),
    "G": (0.27, 0.22, 0.25, 0.22, 0.04),
    "I": (0.42, 0.24, 0.18, 0.13, 0.03),
    "J": (0.08, 0.33, 0.37, 0.20, 0.02),
    "K": (0.08, 0.30, 0.38, 0.22, 0.02),
    "N": (0.17, 0.26, 0.29, 0.23, 0.05),
    "O": (0.05, 0.20, 0.37, 0.35, 0.03),
    "P": (0.07, 0.22, 0.36, 0.31, 0.04),
    "Q": (0.10, 0.23, 0.32, 0.31, 0.04),
    "R": (0.28, 0.24, 0.24, 0.19, 0.05),
    "S": (0.16, 0.23, 0.29, 0.26, 0.06),
    "T": (0.08, 0.15, 0.30, 0.35, 0.12),
}

# Female share of employees by section.
FEMALE_SHARE = {
    "A": 0.30, "B": 0.15, "C": 0.25, "D": 0.30, "E": 0.20, "F": 0.13, "G": 0.52,
    "H": 0.25, "I": 0.55, "J": 0.30, "K": 0.45, "L": 0.50, "M": 0.45, "N": 0.45,
    "O": 0.50, "P": 0.70, "Q": 0.78, "R": 0.50, "S": 0.60, "T": 0.70, "U": 0.50,
}  # fmt: skip


@dataclass(frozen=True)
class Employment:
    """Expected employees: ``by_la_sector`` [LA, section] and its split by age and sex."""

    by_la_sector: np.ndarray  # float, (LA, S)
    age_mix: np.ndarray  # float, (S, A), rows sum to 1
    female_share: np.ndarray  # float, (S,)

    def cells(self) -> np.ndarray:
        """Expected employees per [LA, section, age band, sex] (sex order F, M)."""
        sex_split = np.stack([self.female_share, 1.0 - self.female_share], axis=-1)
        cells = (
            self.by_la_sector[:, :, None, None]
            * self.age_mix[None, :, :, None]
            * sex_split[None, :, None, :]
        )
        return np.asarray(cells, dtype=np.float64)


def employment_model(rng: np.random.Generator) -> Employment:
    shares = np.array([SECTOR_SHARE[s] for s in SECTOR_CODES])
    tilt = np.ones((len(LOCAL_AUTHORITIES), len(SECTOR_CODES)))
    for i, area in enumerate(LOCAL_AUTHORITIES):
        tilts = [REGION_TILT.get(region_of(area), {}), LA_TILT.get(area.code, {})]
        if area.code in RURAL_OR_COASTAL:
            tilts.append(RURAL_TILT)
        for table in tilts:
            for j, section in enumerate(SECTOR_CODES):
                tilt[i, j] *= table.get(section, 1.0)
    mix = shares[None, :] * tilt * rng.lognormal(0.0, 0.2, size=tilt.shape)
    mix /= mix.sum(axis=1, keepdims=True)
    population = np.array([area.population * 1000.0 for area in LOCAL_AUTHORITIES])
    employees = population * EMPLOYEES_PER_RESIDENT * rng.lognormal(0.0, 0.07, population.size)
    age_mix = np.array([AGE_MIX.get(s, _DEFAULT_AGE) for s in SECTOR_CODES])
    age_mix /= age_mix.sum(axis=1, keepdims=True)
    return Employment(
        by_la_sector=employees[:, None] * mix,
        age_mix=age_mix,
        female_share=np.array([FEMALE_SHARE[s] for s in SECTOR_CODES]),
    )


def seasonal_profile(calendar_months: np.ndarray, peak_month: int) -> np.ndarray:
    """A cosine over the year, 1 at ``peak_month`` (0 = January) and -1 six months later."""
    return np.cos(2.0 * np.pi * (calendar_months - peak_month) / 12.0)
