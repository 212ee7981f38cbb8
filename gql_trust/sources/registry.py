"""The registry of source kinds: one file per kind, registered by its `kind` name.

A kind declares how its `[sources.<name>]` table is read, the sqlglot dialect and
parameter style the planner renders for it, and its health check; adding one is a
new file that calls ``register`` and its tests, nothing else.
"""

from __future__ import annotations

from typing import TypeVar

from ..config import SourceConfig
from ..errors import ConfigError
from .base import Source

KINDS: dict[str, type[Source]] = {}

S = TypeVar("S", bound=type[Source])


def register(kind: S) -> S:
    """Make a source kind available to `[sources.<name>] kind = "..."` (a class decorator)."""
    if kind.kind in KINDS and KINDS[kind.kind] is not kind:
        raise ValueError(f"a source kind named {kind.kind!r} is already registered")
    KINDS[kind.kind] = kind
    return kind


def source_kind(kind: object, where: str) -> type[Source]:
    found = KINDS.get(kind) if isinstance(kind, str) else None
    if found is None:
        known = " or ".join(repr(k) for k in sorted(KINDS))
        raise ConfigError(f"{where} has kind {kind!r}; use {known}")
    return found


def open_source(config: SourceConfig) -> Source:
    return KINDS[config.kind](config)
