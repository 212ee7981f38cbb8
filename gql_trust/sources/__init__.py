"""Departmental sources, one module per kind. Each renders SQL in its own dialect."""

from __future__ import annotations

from ..config import SourceConfig
from .base import Source, SourceStats
from .duckdb import DuckDBSource
from .postgres import PostgresSource


def open_source(config: SourceConfig) -> Source:
    if config.kind == "postgres":
        return PostgresSource(config)
    return DuckDBSource(config)


__all__ = ["DuckDBSource", "PostgresSource", "Source", "SourceStats", "open_source"]
