"""Contracts against the live sources: relations, columns and their types, as each source
describes them (the standard ``information_schema`` for DuckDB and PostgreSQL)."""

from __future__ import annotations

from ..contracts.model import Aggregation, Conformed, Contract
from ..errors import TrustError
from ..sources import Source
from .problem import Problem, did_you_mean

# What a contract column must be: (type families accepted, what to call it, how to fix it).
_EXPECT: dict[str, tuple[frozenset[str], str, str]] = {
    "date": (
        frozenset({"date"}),
        "DATE",
        "store the first day of each month as a DATE, or expose it through a view that "
        "casts it (CAST(... AS DATE))",
    ),
    "boolean": (
        frozenset({"boolean"}),
        "BOOLEAN",
        "make the column BOOLEAN in the source, or declare the dimension `type: String`",
    ),
    "text": (
        frozenset({"text"}),
        "text (VARCHAR/TEXT)",
        "make it a text column, or expose it through a view that casts it",
    ),
    "numeric": (
        frozenset({"integer", "float"}),
        "a numeric type",
        "make it an integer or floating-point column (BIGINT, DOUBLE), or cast it in a view",
    ),
    "integer": (
        frozenset({"integer"}),
        "an integer type",
        "make it an integer column (BIGINT) holding each unit's fixed key",
    ),
    "any": (frozenset({"date", "boolean", "text", "integer", "float", "other"}), "", ""),
}


def contract_columns(contract: Contract) -> list[tuple[str, str, str]]:
    """(contract field, column, expected kind) for every column the contract names."""
    wanted: list[tuple[str, str, str]] = []
    for i, d in enumerate(contract.dimensions):
        if d.conformed is Conformed.PERIOD:
            kind = "date"
        elif d.type == "Boolean":
            kind = "boolean"
        else:
            kind = "text"
        wanted.append((f"dimensions[{i}] ({d.name}).column", d.column, kind))
    for i, m in enumerate(contract.measures):
        where = f"measures[{i}] ({m.name})"
        if m.aggregation is Aggregation.RATIO:
            wanted.append((f"{where}.numerator", m.numerator or "", "numeric"))
            wanted.append((f"{where}.denominator", m.denominator or "", "numeric"))
        elif m.aggregation is Aggregation.COUNT_DISTINCT:
            wanted.append((f"{where}.column", m.column or "", "any"))  # counts distinct values
        else:
            wanted.append((f"{where}.column", m.column or "", "numeric"))
    if contract.entity:
        wanted.append(("entity", contract.entity, "any"))
    if contract.cell_key:
        wanted.append(("cell_key", contract.cell_key, "integer"))
    return wanted


async def check_contract(contract: Contract, source: Source) -> tuple[list[Problem], int]:
    """The contract's relation and columns in the live source; (problems, columns checked)."""
    where = contract.path
    try:
        columns = await relation_columns(source, contract.relation)
        if columns is None:
            known = await relation_names(source)
    except TrustError as exc:
        return [Problem(f"{where}: relation", f"could not be inspected: {exc.message}")], 0
    if columns is None:
        schema = f" (schema {source.config.schema})" if source.config.schema else ""
        hint = did_you_mean(contract.relation, known)
        return [
            Problem(
                f"{where}: relation",
                f"source {source.name}{schema} has no relation {contract.relation!r}{hint}; "
                "create it (or grant the trust read access to it), or correct 'relation'",
            )
        ], 0
    fold = str.lower  # unquoted column names: DuckDB ignores case, PostgreSQL folds to lower
    by_name = {fold(name): (name, data_type) for name, data_type in columns.items()}
    problems = []
    for contract_field, column, kind in contract_columns(contract):
        found = by_name.get(fold(column))
        if found is None:
            hint = did_you_mean(column, list(columns))
            problems.append(
                Problem(
                    f"{where}: {contract_field}",
                    f"relation {contract.relation!r} in source {source.name} has no column "
                    f"{column!r}{hint}; its columns are {', '.join(columns)}",
                )
            )
            continue
        name, data_type = found
        accepted, expected, advice = _EXPECT[kind]
        if type_family(data_type) not in accepted:
            problems.append(
                Problem(
                    f"{where}: {contract_field}",
                    f"column {name!r} of {contract.relation!r} in source {source.name} is "
                    f"{data_type.upper()}, but must be {expected}: {advice}",
                )
            )
    return problems, len(contract_columns(contract))


async def relation_columns(source: Source, relation: str) -> dict[str, str] | None:
    """Column name -> the source's type name, or None when the relation does not exist
    (each kind of source says how: ``Source.columns``)."""
    return await source.columns(relation)


async def relation_names(source: Source) -> list[str]:
    return await source.relation_names()


_FAMILIES = {
    "date": {"DATE"},
    "boolean": {"BOOLEAN", "BOOL"},
    "text": {"VARCHAR", "TEXT", "CHARACTER VARYING", "CHARACTER", "CHAR", "BPCHAR", "STRING"},
    # DuckDB's signed and unsigned integers, PostgreSQL's and their aliases
    "integer": {"TINYINT", "SMALLINT", "INTEGER", "INT", "BIGINT", "HUGEINT", "INT2", "INT4"}
    | {"INT8", "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT", "UHUGEINT"},
    "float": {"FLOAT", "REAL", "DOUBLE", "DOUBLE PRECISION", "DECIMAL", "NUMERIC", "FLOAT4"},
}


def type_family(data_type: str) -> str:
    """date, boolean, text, integer, float or other, from a DuckDB or PostgreSQL type name."""
    base = data_type.upper().split("(")[0].strip()
    return next((family for family, names in _FAMILIES.items() if base in names), "other")
