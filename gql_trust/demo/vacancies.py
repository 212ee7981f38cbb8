"""ONS vacancies: open data, one cell per month x local authority x SIC section, as CSV."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from .dimensions import LA_CODES, SECTOR_CODES, calendar_month, date_array, string_array
from .employment import Employment, seasonal_profile

# Vacancies per employee by section (the UK runs at about 3 per 100 employees).
VACANCY_RATE = {
    "A": 0.015, "B": 0.020, "C": 0.025, "D": 0.025, "E": 0.025, "F": 0.020, "G": 0.025,
    "H": 0.025, "I": 0.050, "J": 0.035, "K": 0.030, "L": 0.025, "M": 0.035, "N": 0.030,
    "O": 0.015, "P": 0.020, "Q": 0.040, "R": 0.030, "S": 0.025, "T": 0.010, "U": 0.020,
}  # fmt: skip
# Hiring for the summer season peaks in spring for hospitality and leisure.
SPRING_SWING = {"I": 0.15, "R": 0.10, "A": 0.08}
GENERAL_SPRING_SWING = 0.05
MONTHLY_DECLINE = 0.004  # a cooling labour market


def vacancies_table(
    employment: Employment, month_values: np.ndarray, rng: np.random.Generator
) -> pa.Table:
    """Every cell, ordered by month, area, section."""
    rate = np.array([VACANCY_RATE[s] for s in SECTOR_CODES])
    base = employment.by_la_sector * rate[None, :] * rng.lognormal(0.0, 0.15, rate.size)[None, :]
    base = base * rng.lognormal(0.0, 0.1, size=base.shape)
    spring = seasonal_profile(calendar_month(month_values), peak_month=3)  # (T,)
    swing = np.array([SPRING_SWING.get(s, GENERAL_SPRING_SWING) for s in SECTOR_CODES])
    season = 1.0 + spring[:, None] * swing[None, :]  # (T, S)
    trend = np.exp(-MONTHLY_DECLINE * np.arange(month_values.size))[:, None]
    jitter = rng.lognormal(0.0, 0.05, size=(month_values.size, *base.shape))
    vacancies = rng.poisson(base[None] * (trend * season)[:, None, :] * jitter)
    t, la, sector = np.indices(vacancies.shape).reshape(3, -1)
    return pa.table(
        {
            "month": date_array(month_values, t),
            "area_code": string_array(LA_CODES, la),
            "sic_section": string_array(SECTOR_CODES, sector),
            "vacancies": pa.array(vacancies.ravel().astype(np.int64)),
        }
    )


def write_vacancies(table: pa.Table, path: Path) -> None:
    """Plain CSV: unquoted header and codes (none need quotes), dates as YYYY-MM-DD."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as handle:
        # pyarrow always quotes header names, so the header is written here.
        handle.write((",".join(table.column_names) + "\n").encode())
        options = pacsv.WriteOptions(include_header=False, quoting_style="none")
        pacsv.write_csv(table, handle, options)
