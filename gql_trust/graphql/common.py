"""Types shared by every dataset: filters, ordering, geography and the catalog."""

from __future__ import annotations

from enum import Enum
from typing import Any

import strawberry

from ..reference import Level

# Per-field costs for the cell estimate (graphql/limits.py), declared beside the field
# as Strawberry metadata: a list of reference objects, or a view stitched from sources.
FAN_OUT = "gql_trust.fan_out"  # "areas" or "sectors": one item per reference entry
STITCHED = "gql_trust.stitched"  # how many sources each stitched cell reads


def list_of(item: Any) -> Any:
    """``list[item]`` for a GraphQL type built at run time from a contract (a value, so
    type checkers cannot read it as a type)."""
    return list.__class_getitem__(item)


Geography = strawberry.enum(
    Level,
    name="Geography",
    description="Geography level: areas are rolled up to it in the source.",
)


@strawberry.enum(description="Sort direction.")
class SortDirection(Enum):
    ASC = "ASC"
    DESC = "DESC"


@strawberry.input(description="Conditions on a text dimension; several are combined with AND.")
class StringFilter:
    eq: str | None = None
    ne: str | None = None
    in_: list[str] | None = strawberry.field(name="in", default=None)
    not_in: list[str] | None = None
    gt: str | None = None
    gte: str | None = None
    lt: str | None = None
    lte: str | None = None


@strawberry.input(description="Conditions on a Boolean dimension.")
class BooleanFilter:
    eq: bool | None = None
    ne: bool | None = None


@strawberry.input(description="Filter areas by code or parent code.")
class AreaWhere:
    code: StringFilter | None = None
    parent_code: StringFilter | None = None


@strawberry.type(description="The periods a dataset covers, read from its source.")
class PeriodCoverage:
    first: str | None
    last: str | None
    count: int


@strawberry.type(description="What the caller may do with a field now, under the trust's policy.")
class FieldAccess:
    read: bool = strawberry.field(description="May read it at some geography.")
    exact: bool = strawberry.field(description="Sees it without disclosure control.")
    geographies: list[Geography] = strawberry.field(  # type: ignore[valid-type]
        description="Geographies at which the caller may read it."
    )
    reason: str | None = strawberry.field(description="Why not, when it cannot be read.")


@strawberry.type(description="A dimension or measure of a dataset.")
class DatasetField:
    name: str
    kind: str = strawberry.field(description="DIMENSION or MEASURE.")
    type: str
    description: str
    sensitivity: str
    disclosure: str = strawberry.field(
        description="Disclosure control applied for callers other than the owner."
    )
    agreements: list[str] = strawberry.field(
        description="Ids of the data-sharing agreements under which it can be accessed."
    )
    access: FieldAccess = strawberry.field(description="What the caller may do with it now.")


@strawberry.type(description="A catalog entry: one dataset the trust serves in place.")
class Dataset:
    name: str = strawberry.field(description="The root field that queries it.")
    title: str
    owner: str
    description: str
    source_kind: str = strawberry.field(description="duckdb or postgres.")
    grain: str = strawberry.field(description="microdata or cells.")
    fields: list[DatasetField]
    periods: PeriodCoverage | None
    last_updated: str | None = strawberry.field(
        description="When the source was last modified (ISO 8601), where it says."
    )
    how_to_get_access: str = strawberry.field(
        description="Whom to ask (the owner) and which agreements exist."
    )
    release_rules: str = strawberry.field(
        description="Which callers get standard cells only, complete tables and sparse "
        "areas withheld (docs/disclosure.md)."
    )
    standard_cells_only: bool = strawberry.field(
        description="Whether you get disclosure-controlled values here, and so standard "
        "cells only: a filter on a dimension you do not select must pin it with eq."
    )
