"""Conformed dimensions shared by the demo datasets, and the months they cover."""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa

from .geography import LOCAL_AUTHORITIES
from .sectors import SECTORS

AGE_BANDS: tuple[str, ...] = ("16-24", "25-34", "35-49", "50-64", "65+")
SEXES: tuple[str, ...] = ("F", "M")

# Fixed, so the same seed and scale give the same data whenever they are generated.
END_MONTH = np.datetime64("2026-09", "M")
BASE_MONTHS = 24

LA_CODES: tuple[str, ...] = tuple(area.code for area in LOCAL_AUTHORITIES)
SECTOR_CODES: tuple[str, ...] = tuple(sector.code for sector in SECTORS)


def month_count(scale: float) -> int:
    """24 months up to scale 1; larger scales lengthen the series with sqrt(scale)."""
    return max(BASE_MONTHS, round(BASE_MONTHS * math.sqrt(scale)))


def months(scale: float) -> np.ndarray:
    """The covered months, oldest first, as ``datetime64[M]``."""
    count = month_count(scale)
    return END_MONTH - np.arange(count - 1, -1, -1)


def calendar_month(month_values: np.ndarray) -> np.ndarray:
    """Calendar month 0 (January) .. 11 (December) of each ``datetime64[M]``."""
    return (month_values.astype(np.int64) % 12).astype(np.int64)


def date_array(month_values: np.ndarray, index: np.ndarray) -> pa.Array:
    """Arrow DATE (1st of the month) for ``month_values[index]``."""
    days = month_values.astype("datetime64[D]").astype(np.int32)
    return pa.array(days[index], type=pa.int32()).cast(pa.date32())


def string_array(values: tuple[str, ...], index: np.ndarray) -> pa.Array:
    """Arrow strings ``values[index]``, built via a dictionary so large columns stay cheap."""
    dictionary = pa.DictionaryArray.from_arrays(
        pa.array(index.astype(np.int32)), pa.array(values, type=pa.string())
    )
    return dictionary.cast(pa.string())
