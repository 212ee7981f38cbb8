"""The deterministic demo data trust (``gql-trust demo-data``) and its reference data."""

from __future__ import annotations

from .dimensions import AGE_BANDS, SEXES
from .generate import generate
from .geography import AREAS, AREAS_BY_CODE, COUNTRIES, LOCAL_AUTHORITIES, REGIONS, Area
from .sectors import SECTORS, SECTORS_BY_CODE, Sector

__all__ = [
    "AGE_BANDS",
    "AREAS",
    "AREAS_BY_CODE",
    "COUNTRIES",
    "LOCAL_AUTHORITIES",
    "REGIONS",
    "SECTORS",
    "SECTORS_BY_CODE",
    "SEXES",
    "Area",
    "Sector",
    "generate",
]
