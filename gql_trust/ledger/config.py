"""The ``[ledger]`` table of the settings file."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from ..errors import ConfigError

DEFAULT_PATH = "ledger/ledger.sqlite"  # relative to the settings file


@dataclass(frozen=True)
class LedgerConfig:
    kind: Literal["sqlite", "postgres"] = "sqlite"
    path: Path | None = None  # sqlite: the database file
    dsn: str | None = None  # postgres
    max_batch: int = 256  # entries written per transaction at most (group commit)


def ledger_from_dict(raw: Any, resolve: Callable[[str], Path], where: str) -> LedgerConfig:
    raw = raw or {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: [ledger] must be a table")
    unknown = sorted(set(raw) - {"kind", "path", "dsn", "max_batch"})
    if unknown:
        raise ConfigError(f"{where}: [ledger] has unknown keys {unknown}")
    kind = raw.get("kind", "sqlite")
    max_batch = raw.get("max_batch", LedgerConfig.max_batch)
    if not isinstance(max_batch, int) or isinstance(max_batch, bool) or max_batch < 1:
        raise ConfigError(f"{where}: [ledger] max_batch must be a positive integer")
    if kind == "sqlite":
        path = raw.get("path", DEFAULT_PATH)
        if not isinstance(path, str) or not path:
            raise ConfigError(f"{where}: [ledger] path must be a file path")
        return LedgerConfig(kind="sqlite", path=resolve(path), max_batch=max_batch)
    if kind == "postgres":
        dsn = raw.get("dsn")
        if not isinstance(dsn, str) or not dsn:
            raise ConfigError(f"{where}: [ledger] of kind 'postgres' needs a 'dsn'")
        return LedgerConfig(kind="postgres", dsn=dsn, max_batch=max_batch)
    raise ConfigError(f"{where}: [ledger] kind is {kind!r}; use 'sqlite' or 'postgres'")
