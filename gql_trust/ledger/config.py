"""The ``[ledger]`` table of the settings file."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from ..errors import ConfigError

DEFAULT_PATH = "ledger/ledger.sqlite"  # relative to the settings file
DEFAULT_ORIGIN = "gql-trust.demo/ledger"  # the checkpoints' origin line and key name
DEFAULT_KEY_NAME = "ledger.key"
DEFAULT_KEY = f"keys/{DEFAULT_KEY_NAME}"  # relative to the settings file
_KEYS = {"kind", "path", "dsn", "max_batch", "origin", "signing_key"}


@dataclass(frozen=True)
class LedgerConfig:
    kind: Literal["sqlite", "postgres"] = "sqlite"
    path: Path | None = None  # sqlite: the database file
    dsn: str | None = None  # postgres
    max_batch: int = 256  # entries written per transaction at most (group commit)
    origin: str = DEFAULT_ORIGIN
    signing_key: Path | None = None  # signs checkpoints; every host of one ledger shares it


def ledger_from_dict(raw: Any, resolve: Callable[[str], Path], where: str) -> LedgerConfig:
    raw = raw or {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: [ledger] must be a table")
    unknown = sorted(set(raw) - _KEYS)
    if unknown:
        raise ConfigError(f"{where}: [ledger] has unknown keys {unknown}")
    kind = raw.get("kind", "sqlite")
    max_batch = raw.get("max_batch", LedgerConfig.max_batch)
    if not isinstance(max_batch, int) or isinstance(max_batch, bool) or max_batch < 1:
        raise ConfigError(f"{where}: [ledger] max_batch must be a positive integer")
    origin = raw.get("origin", DEFAULT_ORIGIN)
    if (
        not isinstance(origin, str)
        or not origin
        or any(c.isspace() or c in "+\u2014" for c in origin)
    ):
        raise ConfigError(
            f"{where}: [ledger] origin must be a name without spaces or '+', "
            f"e.g. {DEFAULT_ORIGIN!r}"
        )
    key = raw.get("signing_key", DEFAULT_KEY)
    if not isinstance(key, str) or not key:
        raise ConfigError(f"{where}: [ledger] signing_key must be a file path")
    common: dict[str, Any] = dict(max_batch=max_batch, origin=origin, signing_key=resolve(key))
    if kind == "sqlite":
        path = raw.get("path", DEFAULT_PATH)
        if not isinstance(path, str) or not path:
            raise ConfigError(f"{where}: [ledger] path must be a file path")
        return LedgerConfig(kind="sqlite", path=resolve(path), **common)
    if kind == "postgres":
        dsn = raw.get("dsn")
        if not isinstance(dsn, str) or not dsn:
            raise ConfigError(f"{where}: [ledger] of kind 'postgres' needs a 'dsn'")
        return LedgerConfig(kind="postgres", dsn=dsn, **common)
    raise ConfigError(f"{where}: [ledger] kind is {kind!r}; use 'sqlite' or 'postgres'")
