"""The contract model: datasets, their dimensions and measures."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from functools import cached_property


class Conformed(StrEnum):
    """Dimensions shared by every dataset, with one meaning across the trust."""

    PERIOD = "period"
    AREA = "area"
    SECTOR = "sector"


class Aggregation(StrEnum):
    SUM = "sum"
    COUNT_DISTINCT = "count_distinct"
    RATIO = "ratio"  # sum(numerator) / sum(denominator)


@dataclass(frozen=True)
class Dimension:
    name: str  # GraphQL field name
    column: str
    description: str
    type: str = "String"  # "String" or "Boolean"
    conformed: Conformed | None = None
    sensitivity: str = "public"
    values: tuple[str, ...] = ()  # known categories, for docs and cost estimates

    @property
    def filter_name(self) -> str:
        """`area` and `sector` are filtered by code: `areaCode`, `sectorCode`."""
        if self.conformed in (Conformed.AREA, Conformed.SECTOR):
            return f"{self.name}Code"
        return self.name


@dataclass(frozen=True)
class Measure:
    name: str
    aggregation: Aggregation
    description: str
    type: str = "Int"  # "Int" or "Float"
    column: str | None = None
    numerator: str | None = None
    denominator: str | None = None
    sensitivity: str = "public"
    disclosure: str = "none"  # a method in gql_trust.disclosure.methods.METHODS
    suppressed_with: str | None = None  # null wherever this other measure is suppressed


@dataclass(frozen=True)
class Contract:
    name: str  # GraphQL root field name, and the catalog entry's name
    title: str
    owner: str
    description: str
    source: str
    relation: str
    grain: str  # "microdata" or "cells"
    dimensions: tuple[Dimension, ...]
    measures: tuple[Measure, ...]
    entity: str | None = None  # microdata: the unit that count_distinct counts
    cell_key: str | None = None  # microdata: per-unit key summed into a cell key
    unique_per: tuple[str, ...] = ()  # microdata: one row per unit per these dimensions
    path: str = ""

    @property
    def type_name(self) -> str:
        """The GraphQL type of one result cell, e.g. `ClaimantsCell`."""
        return self.name[0].upper() + self.name[1:] + "Cell"

    def dimension(self, name: str) -> Dimension:
        return self._dimensions[name]

    def measure(self, name: str) -> Measure:
        return self._measures[name]

    # Looked up per request and per query: indexed once.
    @cached_property
    def _dimensions(self) -> dict[str, Dimension]:
        return {d.name: d for d in self.dimensions}

    @cached_property
    def _measures(self) -> dict[str, Measure]:
        return {m.name: m for m in self.measures}

    def conformed(self, kind: Conformed) -> Dimension | None:
        return next((d for d in self.dimensions if d.conformed is kind), None)

    @cached_property
    def field_names(self) -> tuple[str, ...]:
        return tuple(d.name for d in self.dimensions) + tuple(m.name for m in self.measures)
