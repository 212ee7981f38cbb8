"""Load and validate contract files, with errors that say which file and field."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from ..disclosure.methods import METHODS, NONE
from ..errors import ConfigError
from .model import Aggregation, Conformed, Contract, Dimension, Measure

_NAME = re.compile(r"^[a-z][A-Za-z0-9]*$")
_COLUMN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SENSITIVITIES = {"public", "personal", "confidential", "special-category"}


def load_contracts(directory: Path) -> tuple[Contract, ...]:
    files = sorted(directory.glob("*.yaml"))
    if not files:
        raise ConfigError(f"no dataset contracts (*.yaml) in {directory}")
    contracts = tuple(_load(path) for path in files)
    seen: dict[str, Path] = {}
    for contract in contracts:
        if contract.name in seen:
            raise ConfigError(
                f"{contract.path}: dataset name '{contract.name}' is already used by "
                f"{seen[contract.name]}; each dataset needs its own name"
            )
        seen[contract.name] = Path(contract.path)
    return contracts


def _load(path: Path) -> Contract:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    where = _Where(path)
    if not isinstance(raw, dict):
        raise where.error("", "the file must be a mapping of contract fields")
    name = where.identifier(raw, "name", _NAME, "a lowerCamelCase GraphQL field name")
    grain = where.choice(raw, "grain", {"microdata", "cells"})
    dimensions = tuple(
        _dimension(where.at(f"dimensions[{i}]"), d)
        for i, d in enumerate(where.items(raw, "dimensions"))
    )
    measures = tuple(
        _measure(where.at(f"measures[{i}]"), m) for i, m in enumerate(where.items(raw, "measures"))
    )
    contract = Contract(
        name=name,
        title=where.text(raw, "title"),
        owner=where.text(raw, "owner"),
        description=" ".join(where.text(raw, "description").split()),
        source=where.text(raw, "source"),
        relation=where.identifier(raw, "relation", _COLUMN, "a table or view name"),
        grain=grain,
        dimensions=dimensions,
        measures=measures,
        entity=where.identifier(raw, "entity", _COLUMN, "a column name")
        if "entity" in raw
        else None,
        cell_key=(
            where.identifier(raw, "cell_key", _COLUMN, "a column name")
            if "cell_key" in raw
            else None
        ),
        unique_per=tuple(raw.get("unique_per") or ()),
        path=str(path),
    )
    _check_consistency(where, contract)
    return contract


def _dimension(where: _Where, raw: Any) -> Dimension:
    if not isinstance(raw, dict):
        raise where.error("", "each dimension must be a mapping")
    conformed = raw.get("conformed")
    if conformed is not None and conformed not in {c.value for c in Conformed}:
        raise where.error("conformed", f"must be one of {[c.value for c in Conformed]}")
    return Dimension(
        name=where.identifier(raw, "name", _NAME, "a lowerCamelCase name"),
        column=where.identifier(raw, "column", _COLUMN, "a column name"),
        description=" ".join(str(raw.get("description", "")).split()),
        type=where.choice(raw, "type", {"String", "Boolean"}, default="String"),
        conformed=Conformed(conformed) if conformed else None,
        sensitivity=where.choice(raw, "sensitivity", _SENSITIVITIES, default="public"),
        values=tuple(str(v) for v in raw.get("values") or ()),
    )


def _measure(where: _Where, raw: Any) -> Measure:
    if not isinstance(raw, dict):
        raise where.error("", "each measure must be a mapping")
    aggregation = Aggregation(where.choice(raw, "aggregation", {a.value for a in Aggregation}))
    columns = ("numerator", "denominator") if aggregation is Aggregation.RATIO else ("column",)
    for key in columns:
        where.identifier(raw, key, _COLUMN, "a column name")
    return Measure(
        name=where.identifier(raw, "name", _NAME, "a lowerCamelCase name"),
        aggregation=aggregation,
        description=" ".join(str(raw.get("description", "")).split()),
        type=where.choice(raw, "type", {"Int", "Float"}, default="Int"),
        column=raw.get("column"),
        numerator=raw.get("numerator"),
        denominator=raw.get("denominator"),
        sensitivity=where.choice(raw, "sensitivity", _SENSITIVITIES, default="public"),
        disclosure=where.choice(raw, "disclosure", set(METHODS), default=NONE),
        suppressed_with=raw.get("suppressed_with"),
    )


def _check_consistency(where: _Where, contract: Contract) -> None:
    names = [*contract.field_names]
    duplicates = {n for n in names if names.count(n) > 1}
    if duplicates:
        raise where.error("dimensions", f"field names used twice: {sorted(duplicates)}")
    if contract.conformed(Conformed.PERIOD) is None:
        raise where.error("dimensions", "every dataset needs a dimension with conformed: period")
    if contract.conformed(Conformed.AREA) is None:
        raise where.error("dimensions", "every dataset needs a dimension with conformed: area")
    for measure in contract.measures:
        if measure.aggregation is Aggregation.COUNT_DISTINCT and contract.grain != "microdata":
            raise where.error(f"measures.{measure.name}", "count_distinct needs grain: microdata")
        measures = [m.name for m in contract.measures]
        if measure.suppressed_with and measure.suppressed_with not in measures:
            raise where.error(
                f"measures.{measure.name}.suppressed_with",
                f"'{measure.suppressed_with}' is not a measure of this dataset",
            )
        problem = METHODS[measure.disclosure].check(contract, measure)
        if problem:
            raise where.error(f"measures.{measure.name}.disclosure", problem)
    if any(METHODS[m.disclosure].controls for m in contract.measures):
        for dimension in contract.dimensions:  # complete tables need every category
            if not (dimension.conformed or dimension.type == "Boolean" or dimension.values):
                raise where.error(
                    f"dimensions.{dimension.name}.values",
                    "a dataset with disclosure-controlled measures must list every "
                    "category of each dimension (values: [...]), so that its tables can "
                    "be released complete",
                )
    unknown = [d for d in contract.unique_per if d not in {d.name for d in contract.dimensions}]
    if unknown:
        raise where.error("unique_per", f"{unknown} are not dimensions of this dataset")
    if contract.grain == "microdata" and not contract.entity:
        raise where.error("entity", "microdata needs the column identifying the counted unit")


class _Where:
    """Builds errors that name the file and the field, and say what to write instead."""

    def __init__(self, path: Path, prefix: str = "") -> None:
        self.path, self.prefix = path, prefix

    def at(self, prefix: str) -> _Where:
        return _Where(self.path, prefix)

    def error(self, key: str, message: str) -> ConfigError:
        field = ".".join(p for p in (self.prefix, key) if p)
        return ConfigError(f"{self.path}: {field or 'contract'}: {message}")

    def text(self, raw: dict[str, Any], key: str) -> str:
        value = raw.get(key)
        if not isinstance(value, str) or not value.strip():
            raise self.error(key, "is required (a non-empty string)")
        return value

    def identifier(self, raw: dict[str, Any], key: str, pattern: re.Pattern[str], what: str) -> str:
        value = self.text(raw, key)
        if not pattern.match(value):
            raise self.error(key, f"{value!r} is not {what}")
        return value

    def choice(
        self, raw: dict[str, Any], key: str, allowed: set[str], default: str | None = None
    ) -> str:
        value = raw.get(key, default)
        if value not in allowed:
            raise self.error(key, f"is {value!r}; use one of {sorted(allowed)}")
        return str(value)

    def items(self, raw: dict[str, Any], key: str) -> list[Any]:
        value = raw.get(key)
        if not isinstance(value, list) or not value:
            raise self.error(key, "is required (a non-empty list)")
        return value
