"""Reference data shared by every dataset: the geography hierarchy and SIC sectors.

Both are small and read once at start-up. The geography roll-up is pushed into
each source query as an inline ``VALUES`` table built from this module.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from enum import StrEnum
from functools import cached_property
from pathlib import Path

from .errors import ConfigError


class Level(StrEnum):
    LOCAL_AUTHORITY = "LOCAL_AUTHORITY"
    REGION = "REGION"
    COUNTRY = "COUNTRY"

    @property
    def rank(self) -> int:
        return _RANKS[self]


_RANKS = {Level.LOCAL_AUTHORITY: 0, Level.REGION: 1, Level.COUNTRY: 2}


@dataclass(frozen=True)
class AreaRecord:
    code: str
    name: str
    level: Level
    parent_code: str | None


@dataclass(frozen=True)
class SectorRecord:
    code: str
    name: str


@dataclass(frozen=True)
class Reference:
    areas: dict[str, AreaRecord]
    sectors: dict[str, SectorRecord]

    @cached_property
    def children(self) -> dict[str, tuple[AreaRecord, ...]]:
        kids: dict[str, list[AreaRecord]] = {}
        for area in self.areas.values():
            if area.parent_code:
                kids.setdefault(area.parent_code, []).append(area)
        return {code: tuple(sorted(v, key=lambda a: a.code)) for code, v in kids.items()}

    def ancestor_at(self, code: str, level: Level) -> str:
        """The area a local authority rolls up to at ``level``.

        Walks up the parents; an area with no parent at that level (a Welsh
        local authority at REGION) rolls up to the first coarser one (Wales).
        """
        area = self.areas[code]
        while area.level.rank < level.rank and area.parent_code:
            area = self.areas[area.parent_code]
        return area.code

    @cached_property
    def local_authorities(self) -> tuple[str, ...]:
        return tuple(sorted(c for c, a in self.areas.items() if a.level is Level.LOCAL_AUTHORITY))

    @cached_property
    def _rollups(self) -> dict[Level, tuple[tuple[str, str], ...]]:
        return {
            level: tuple((la, self.ancestor_at(la, level)) for la in self.local_authorities)
            for level in Level
        }

    @cached_property
    def _codes(self) -> dict[Level, frozenset[str]]:
        return {level: frozenset(up for _, up in rows) for level, rows in self._rollups.items()}

    def rollup(self, level: Level) -> tuple[tuple[str, str], ...]:
        """(local authority code, code at ``level``) for every local authority."""
        return self._rollups[level]

    def codes_at(self, level: Level) -> frozenset[str]:
        """The area codes that appear as results at a ``geography`` level."""
        return self._codes[level]


def load_reference(areas_csv: Path, sectors_csv: Path) -> Reference:
    areas: dict[str, AreaRecord] = {}
    for row in _read_csv(areas_csv, ("code", "name", "level", "parent_code")):
        try:
            level = Level(row["level"])
        except ValueError as exc:
            raise ConfigError(
                f"{areas_csv}: area {row['code']} has level {row['level']!r}; "
                f"use one of {[lv.value for lv in Level]}"
            ) from exc
        areas[row["code"]] = AreaRecord(row["code"], row["name"], level, row["parent_code"] or None)
    for area in areas.values():
        if area.parent_code and area.parent_code not in areas:
            raise ConfigError(f"{areas_csv}: {area.code} has unknown parent {area.parent_code}")
    sectors = {
        row["code"]: SectorRecord(row["code"], row["name"])
        for row in _read_csv(sectors_csv, ("code", "name"))
    }
    return Reference(areas=areas, sectors=sectors)


def _read_csv(path: Path, columns: tuple[str, ...]) -> list[dict[str, str]]:
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            missing = set(columns) - set(reader.fieldnames or ())
            if missing:
                raise ConfigError(f"{path}: missing columns {sorted(missing)}")
            return [{c: (row[c] or "").strip() for c in columns} for row in reader]
    except OSError as exc:
        raise ConfigError(f"cannot read reference file {path}: {exc.strerror}") from exc
