"""Departmental sources, one module per kind. Each renders SQL in its own dialect."""

from __future__ import annotations

from .base import Source, SourceStats
from .duckdb import DuckDBSource
from .postgres import PostgresSource
from .registry import KINDS, open_source, register, source_kind
from .spark import SparkSource

__all__ = [
    "KINDS",
    "DuckDBSource",
    "PostgresSource",
    "Source",
    "SourceStats",
    "SparkSource",
    "open_source",
    "register",
    "source_kind",
]
