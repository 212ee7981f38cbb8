"""The three datasets as the public contract describes them, random queries over them
(hypothesis strategies), and the GraphQL text for a drawn query.

Written from DESIGN.md and schema/*.yaml, not from the server's code: the properties
check the server against this independent reading of the contract.
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

LEVELS = ("LOCAL_AUTHORITY", "REGION", "COUNTRY")
AGE_BANDS = ("16-24", "25-34", "35-49", "50-64", "65+")
SEXES = ("F", "M")
CONDITIONALITY = (
    "No work requirements",
    "Planning for work",
    "Preparing for work",
    "Searching for work",
    "Working - no requirements",
    "Working - with requirements",
)
STRING_OPS = ("eq", "ne", "in", "notIn", "gt", "gte", "lt", "lte")
BOOLEAN_OPS = ("eq", "ne")


@dataclass(frozen=True)
class Dim:
    name: str  # the cell field
    filter: str  # the `where` key
    column: str  # the source column
    kind: str  # period | area | sector | enum | boolean
    values: tuple[str, ...] = ()


@dataclass(frozen=True)
class Dataset:
    name: str  # the root field
    type_prefix: str  # <prefix>Where, <prefix>OrderBy
    dims: tuple[Dim, ...]  # in contract order
    measures: tuple[str, ...]  # in contract order

    def dim(self, name: str) -> Dim:
        return next(d for d in self.dims if d.name == name)

    def __repr__(self) -> str:
        return self.name

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:  # hypothesis's printer
        printer.text(self.name)


PERIOD = Dim("period", "period", "month", "period")
AREA = Dim("area", "areaCode", "area_code", "area")
SECTOR = Dim("sector", "sectorCode", "sic_section", "sector")
AGE_BAND = Dim("ageBand", "ageBand", "age_band", "enum", AGE_BANDS)
SEX = Dim("sex", "sex", "sex", "enum", SEXES)

CLAIMANTS = Dataset(
    "claimants",
    "Claimants",
    (
        PERIOD,
        AREA,
        AGE_BAND,
        SEX,
        Dim("conditionality", "conditionality", "conditionality", "enum", CONDITIONALITY),
        Dim("disability", "disability", "disability", "boolean"),
    ),
    ("claimants",),
)
PAYROLL = Dataset(
    "payrolledEmployees",
    "PayrolledEmployees",
    (PERIOD, AREA, SECTOR, AGE_BAND, SEX),
    ("employees", "meanMonthlyPay"),
)
VACANCIES = Dataset("vacancies", "Vacancies", (PERIOD, AREA, SECTOR), ("vacancies",))


def ym(value: date) -> str:
    return f"{value.year:04d}-{value.month:02d}"


def month_before(value: date) -> date:
    return date(value.year - 1, 12, 1) if value.month == 1 else date(value.year, value.month - 1, 1)


def month_after(value: date) -> date:
    return date(value.year + 1, 1, 1) if value.month == 12 else date(value.year, value.month + 1, 1)


@dataclass(frozen=True)
class Domain:
    """Valid filter values, read from the demo trust's own files."""

    months: tuple[date, ...]  # the covered months
    rollup: dict[str, dict[str, str]]  # level -> local authority -> its code at that level
    sectors: tuple[str, ...]

    def codes_at(self, level: str) -> tuple[str, ...]:
        return tuple(sorted(set(self.rollup[level].values())))

    @property
    def periods(self) -> tuple[str, ...]:
        """Covered months, plus one either side (valid periods that match nothing)."""
        return tuple(
            ym(m)
            for m in (month_before(self.months[0]), *self.months, month_after(self.months[-1]))
        )


@cache
def load_domain(directory: Path) -> Domain:
    with (directory / "reference" / "areas.csv").open(newline="") as handle:
        areas = {row["code"]: row for row in csv.DictReader(handle)}
    with (directory / "reference" / "sectors.csv").open(newline="") as handle:
        sectors = tuple(sorted(row["code"] for row in csv.DictReader(handle)))
    with (directory / "ons" / "vacancies.csv").open(newline="") as handle:
        months = sorted({date.fromisoformat(row["month"]) for row in csv.DictReader(handle)})
    rollup: dict[str, dict[str, str]] = {level: {} for level in LEVELS}
    for code, row in areas.items():
        if row["level"] != "LOCAL_AUTHORITY":
            continue
        parent = areas[row["parent_code"]]
        assert parent["level"] in ("REGION", "COUNTRY"), row
        country = parent if parent["level"] == "COUNTRY" else areas[parent["parent_code"]]
        assert country["level"] == "COUNTRY", row
        rollup["LOCAL_AUTHORITY"][code] = code
        rollup["REGION"][code] = parent["code"]  # Wales and Scotland: the country itself
        rollup["COUNTRY"][code] = country["code"]
    assert len(months) >= 24 and len(sectors) == 21
    return Domain(tuple(months), rollup, sectors)


# --- a drawn query -------------------------------------------------------------------


@dataclass(frozen=True)
class QuerySpec:
    dataset: Dataset
    geography: str
    selection: tuple[str, ...]  # selected fields, in selection order
    where: dict[str, Any] | None
    where_as_variable: bool
    order: tuple[tuple[str, bool], ...]  # (field, descending), as the caller wrote it
    limit: int | None
    offset: int | None

    @property
    def dims(self) -> tuple[Dim, ...]:
        """Grouped dimensions, in contract order."""
        return tuple(d for d in self.dataset.dims if d.name in self.selection)

    @property
    def measures(self) -> tuple[str, ...]:
        return tuple(m for m in self.dataset.measures if m in self.selection)

    def graphql(self) -> tuple[str, dict[str, Any]]:
        """The query text and its variables."""
        args = []
        variables: dict[str, Any] = {}
        if self.where is not None:
            # the server caps a document at 2,000 tokens: a large tree goes as a variable
            if self.where_as_variable or tokens(literal(self.where)) > 1_500:
                args.append("where: $where")
                variables["where"] = self.where
            else:
                args.append(f"where: {literal(self.where)}")
        args.append(f"geography: {self.geography}")
        if self.order:
            keys = ", ".join(f"{{{f}: {'DESC' if desc else 'ASC'}}}" for f, desc in self.order)
            args.append(f"orderBy: [{keys}]")
        if self.limit is not None:
            args.append(f"limit: {self.limit}")
        if self.offset is not None:
            args.append(f"offset: {self.offset}")
        fields = " ".join(
            f"{f} {{ code }}" if f in ("area", "sector") else f for f in self.selection
        )
        header = f"query Q($where: {self.dataset.type_prefix}Where)" if variables else "query Q"
        text = f"{header} {{ {self.dataset.name}({', '.join(args)}) {{ {fields} }} }}"
        return text, variables

    def __repr__(self) -> str:
        """The GraphQL the server is asked (what a failing example should show)."""
        text, variables = self.graphql()
        return f"{text}  variables={json.dumps(variables)}" if variables else text

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:  # hypothesis's printer
        printer.text(repr(self))

    def row(self, cell: dict[str, Any]) -> tuple[Any, ...]:
        """A response cell -> (grouped dimensions in contract order, selected measures)."""
        assert list(cell) == list(self.selection), (list(cell), self.selection)
        values: list[Any] = []
        for d in self.dims:
            value = cell[d.name]
            values.append(value["code"] if d.kind in ("area", "sector") else value)
        return (*values, *(cell[m] for m in self.measures))


def tokens(text: str) -> int:
    """An upper bound on the GraphQL tokens in ``text`` (commas counted too)."""
    return len(re.findall(r'"(?:[^"\\]|\\.)*"|[A-Za-z_0-9+-]+|[^\s]', text))


def literal(value: Any) -> str:
    """A GraphQL input literal (strings escaped as JSON, which GraphQL accepts)."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {literal(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(literal(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    return json.dumps(value)


# --- strategies ----------------------------------------------------------------------


def values_of(dim: Dim, domain: Domain, geography: str) -> st.SearchStrategy[Any]:
    if dim.kind == "period":
        return st.sampled_from(domain.periods)
    if dim.kind == "area":
        return st.sampled_from(domain.codes_at(geography))
    if dim.kind == "sector":
        return st.sampled_from(domain.sectors)
    if dim.kind == "boolean":
        return st.booleans()
    return st.sampled_from(dim.values)


@st.composite
def operators(draw: st.DrawFn, dim: Dim, domain: Domain, geography: str) -> dict[str, Any]:
    """An operator object such as {gte: "2025-01", notIn: ["2025-06"]}."""
    value = values_of(dim, domain, geography)
    names = BOOLEAN_OPS if dim.kind == "boolean" else STRING_OPS
    ops = draw(st.permutations(names))[: draw(st.sampled_from([1, 1, 1, 2]))]
    return {
        op: [draw(value) for _ in range(draw(st.sampled_from([1, 2, 3, 1, 2, 3, 4, 0])))]
        if op in ("in", "notIn")
        else draw(value)
        for op in ops
    }


@st.composite
def where_trees(
    draw: st.DrawFn, dims: tuple[Dim, ...], domain: Domain, geography: str, depth: int
) -> dict[str, Any]:
    """A `where` object: conditions on up to two dimensions, and (down to ``depth``)
    `and`/`or` lists and `not`, nested. Mostly one condition a node, so that trees
    select some rows but not all."""
    node: dict[str, Any] = {}
    count = draw(st.sampled_from([1, 1, 1, 2, 0] if depth == 0 else [0, 0, 1, 1, 2]))
    for dim in draw(st.permutations(dims))[:count]:
        node[dim.filter] = draw(operators(dim, domain, geography))
    if depth > 0:
        inner = where_trees(dims, domain, geography, depth - 1)
        keys = [draw(st.sampled_from(["or", "or", "and", "not"]))]
        if draw(st.sampled_from([False, False, True])):
            keys.append(draw(st.sampled_from([k for k in ("or", "and", "not") if k != keys[0]])))
        for key in keys:
            size = 1 if key == "not" else draw(st.sampled_from([1, 2, 2, 1, 2, 0]))
            items = [draw(inner) for _ in range(size)]
            node[key] = items[0] if key == "not" else items
    return node


@st.composite
def queries(
    draw: st.DrawFn,
    dataset: Dataset,
    domain: Domain,
    *,
    hidden: frozenset[str] = frozenset(),
    narrow: bool = False,
) -> QuerySpec:
    """A random query on ``dataset``. ``hidden`` dimensions are neither grouped nor filtered
    on (the caller may not use them). With ``narrow``, a query ordered by a measure is
    also restricted to one period: ordering by a disclosure-controlled value makes the
    server read and sort every cell, which at full grain takes seconds."""
    dims = tuple(d for d in dataset.dims if d.name not in hidden)
    geography = draw(st.sampled_from(LEVELS))
    grouped = draw(st.lists(st.sampled_from([d.name for d in dims]), unique=True))
    measures = draw(st.permutations(dataset.measures))[: draw(st.sampled_from([1, 1, 2, 0]))]
    if not grouped and not measures:
        measures = [dataset.measures[0]]
    selection = tuple(draw(st.permutations(grouped + measures)))
    depth = draw(st.sampled_from([None, 0, 1, 2, 3]))
    where = None if depth is None else draw(where_trees(dims, domain, geography, depth))
    keys = draw(st.permutations(selection))[: draw(st.integers(0, min(3, len(selection))))]
    order = tuple((key, draw(st.booleans())) for key in keys)
    if narrow and any(key in dataset.measures for key in keys):
        month = {"period": {"eq": draw(st.sampled_from(domain.periods[1:-1]))}}
        where = month if where is None else {"and": [month, where]}
    return QuerySpec(
        dataset,
        geography,
        selection,
        where,
        draw(st.booleans()),
        order,
        draw(paging(LIMITS, st.integers(1, 40))),
        draw(paging(OFFSETS, st.integers(1, 5))),
    )


# Mostly absent or small; sometimes 0, or a default page (1,000) or more.
LIMITS = (None, None, "small", "small", "small", "small", 0, 1000, 1500)
OFFSETS = (None, None, None, None, "small", "small", 0, 1000)


def paging(choices: tuple[Any, ...], small: st.SearchStrategy[int]) -> st.SearchStrategy[Any]:
    return st.sampled_from(choices).flatmap(
        lambda choice: small if choice == "small" else st.just(choice)
    )


# --- callers who get disclosure-controlled values -------------------------------------


@dataclass(frozen=True)
class Caller:
    """A demo principal who reads a dataset without owning it (policies/policy.csv)."""

    who: str
    geographies: tuple[str, ...] = LEVELS
    hidden: frozenset[str] = frozenset()  # denied: neither grouped nor filtered on
    measures: tuple[str, ...] | None = None  # None: every measure
    scope: tuple[tuple[str, str], ...] = ()  # the token's row scope: (dimension, value)

    @property
    def unfiltered(self) -> frozenset[str]:
        """Dimensions drawn queries never filter (the row scope pins them already)."""
        return frozenset(name for name, _ in self.scope)


CONTROLLED: dict[str, tuple[Caller, ...]] = {
    # HMRC twice: the widest controlled reader of claimants
    "claimants": (
        Caller("hmrc", hidden=frozenset({"disability"})),
        Caller("hmrc", hidden=frozenset({"disability"})),
        Caller("la", geographies=("LOCAL_AUTHORITY",), scope=(("area", "E08000025"),)),
        Caller("dfe", geographies=("REGION", "COUNTRY")),
    ),
    "payrolledEmployees": (
        Caller("dwp"),
        Caller("dwp"),
        Caller("dfe", geographies=("REGION", "COUNTRY"), measures=("employees",)),
    ),
}

# Drawn tables stay small (the server builds and sorts every standard cell of the table,
# and refuses more than 250,000): a dimension is dropped until the lattice fits.
MAX_LATTICE = 6_000


def categories_count(dim: Dim, domain: Domain, geography: str, caller: Caller) -> int:
    if dim.kind == "period":
        return len(domain.months)
    if dim.kind == "area":
        return 1 if caller.scope else len(domain.codes_at(geography))
    if dim.kind == "sector":
        return len(domain.sectors)
    return 2 if dim.kind == "boolean" else len(dim.values)


@st.composite
def pinned_wheres(
    draw: st.DrawFn,
    pinnable: tuple[Dim, ...],
    free: tuple[Dim, ...],
    domain: Domain,
    geography: str,
) -> dict[str, Any] | None:
    """A `where` made of standard cells: pins (`eq`, or `in` with one value) on some of
    the ``pinnable`` (unselected) dimensions at the top level, directly or inside `and`,
    with any tree over the ``free`` (selected) dimensions."""
    items: list[dict[str, Any]] = []
    for dim in draw(st.permutations(pinnable))[: draw(st.integers(0, len(pinnable)))]:
        value = draw(values_of(dim, domain, geography))
        form = draw(st.sampled_from(["eq", "eq", "in", "in twice"]))
        if dim.kind == "boolean":
            form = "eq"  # Booleans have no `in`
        ops = {"eq": value} if form == "eq" else {"in": [value] * (1 if form == "in" else 2)}
        items.append({dim.filter: ops})
        if draw(st.sampled_from([False] * 15 + [True])):  # now and then, two pins: no cell
            items.append({dim.filter: {"eq": draw(values_of(dim, domain, geography))}})
    depth = draw(st.sampled_from([None, None, 0, 1, 2]))
    if depth is not None and free:
        items.append(draw(where_trees(free, domain, geography, depth)))
    if not items:
        return None if draw(st.booleans()) else {}
    form = draw(st.sampled_from(["flat", "and", "nested and"]))
    keys = [k for item in items for k in item]
    if form == "flat" and len(keys) == len(set(keys)):
        return {k: v for item in items for k, v in item.items()}
    if form == "nested and" and len(items) > 1:
        return {"and": [items[0], {"and": items[1:]}]}
    return {"and": items}


@st.composite
def controlled_queries(
    draw: st.DrawFn,
    dataset: Dataset,
    domain: Domain,
    caller: Caller,
    *,
    standard_only: bool = False,
) -> QuerySpec:
    """A random query by a controlled ``caller``: mostly standard cells (pins on the
    unselected dimensions, anything on the selected ones), sometimes any `where` tree
    (usually refused), unless ``standard_only``."""
    dims = tuple(d for d in dataset.dims if d.name not in caller.hidden)
    geography = draw(st.sampled_from(caller.geographies))
    grouped = draw(st.permutations([d.name for d in dims]))[: draw(st.integers(0, len(dims)))]

    def size() -> int:
        total = 1
        for d in dims:
            if d.name in grouped:
                total *= categories_count(d, domain, geography, caller)
        return total

    while size() > MAX_LATTICE:
        grouped.pop(draw(st.integers(0, len(grouped) - 1)))
    allowed = caller.measures or dataset.measures
    measures = draw(st.permutations(allowed))[: draw(st.sampled_from([1, 1, 2, 0]))]
    if not grouped and not measures:
        measures = [allowed[0]]
    selection = tuple(draw(st.permutations(grouped + measures)))
    filterable = tuple(d for d in dims if d.name not in caller.unfiltered)
    if standard_only or draw(st.sampled_from([True, True, True, False])):
        where = draw(
            pinned_wheres(
                tuple(d for d in filterable if d.name not in grouped),
                tuple(d for d in filterable if d.name in grouped),
                domain,
                geography,
            )
        )
    else:
        where = draw(where_trees(filterable, domain, geography, draw(st.sampled_from([0, 1, 2]))))
    keys = draw(st.permutations(selection))[: draw(st.integers(0, min(3, len(selection))))]
    order = tuple((key, draw(st.booleans())) for key in keys)
    return QuerySpec(
        dataset,
        geography,
        selection,
        where,
        draw(st.booleans()),
        order,
        draw(paging(LIMITS, st.integers(1, 40))),
        draw(paging(OFFSETS, st.integers(1, 5))),
    )
