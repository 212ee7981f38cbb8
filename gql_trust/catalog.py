"""The catalog, shared by GraphQL `datasets` and the HTML page at `/`.

Metadata is not data: anyone may read it. It never carries connection strings,
file paths or credentials: only what the contract says, the source's kind, and
what the source itself reports about coverage and freshness.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, date, datetime

from .contracts.model import Conformed, Contract
from .disclosure.methods import METHODS, NONE
from .identity import PUBLIC, Principal
from .policy.agreements import Agreement
from .policy.engine import PolicyEngine
from .reference import Level
from .trust import Trust

TRUST_TITLE = "Labour Market Data Trust"
TRUST_PURPOSE = (
    "One labour-market model over data that departments keep where it is. Every query "
    "is pushed down to the department's own source, so only aggregate cells leave it; "
    "policy decides per field who may see what, small counts are protected by disclosure "
    "control, and every extraction is recorded in a tamper-evident ledger."
)
GEOGRAPHIES = (Level.LOCAL_AUTHORITY, Level.REGION, Level.COUNTRY)


@dataclass(frozen=True)
class FieldEntry:
    name: str
    kind: str  # DIMENSION or MEASURE
    type: str
    description: str
    sensitivity: str
    disclosure: str
    agreements: tuple[str, ...]  # ids of current agreements that cover this field


@dataclass(frozen=True)
class Coverage:
    first: str | None  # "YYYY-MM"
    last: str | None
    count: int


@dataclass(frozen=True)
class DatasetEntry:
    name: str
    title: str
    owner: str
    description: str
    source_kind: str
    grain: str
    fields: tuple[FieldEntry, ...]
    periods: Coverage | None
    last_updated: datetime | None
    how_to_get_access: str
    release_rules: str  # who gets standard cells only, complete tables, sparse areas withheld
    example_query: str


@dataclass(frozen=True)
class FieldAccess:
    """What one caller may do with one field now."""

    read: bool
    exact: bool  # values come without disclosure control
    geographies: tuple[Level, ...]
    reason: str | None  # why not, when it cannot be read at any geography


async def describe_all(trust: Trust) -> list[DatasetEntry]:
    contracts = sorted(trust.contracts.values(), key=lambda c: c.name)
    return list(await asyncio.gather(*(describe(trust, c) for c in contracts)))


async def describe(trust: Trust, contract: Contract) -> DatasetEntry:
    source = trust.source_for(contract)
    coverage, modified = await asyncio.gather(
        trust.coverage(contract), source.last_modified(contract.relation)
    )
    periods = None
    last_period: date | None = None
    if coverage is not None:
        first, last_period, count = coverage
        periods = Coverage(_period(first), _period(last_period), count)
    current = _current_agreements(trust.policy)
    return DatasetEntry(
        name=contract.name,
        title=contract.title,
        owner=contract.owner,
        description=contract.description.strip(),
        source_kind=source.kind,
        grain=contract.grain,
        fields=_fields(contract, current),
        periods=periods,
        last_updated=modified,
        how_to_get_access=how_to_get_access(trust.policy, contract),
        release_rules=release_rules(contract),
        example_query=example_query(contract, last_period),
    )


def _fields(contract: Contract, agreements: list[Agreement]) -> tuple[FieldEntry, ...]:
    def covering(field: str) -> tuple[str, ...]:
        return tuple(a.id for a in agreements if a.covers(contract.name, field))

    dimensions = [
        FieldEntry(
            name=d.name,
            kind="DIMENSION",
            type=d.conformed.value.capitalize() if d.conformed else d.type,
            description=d.description,
            sensitivity=d.sensitivity,
            disclosure=NONE,
            agreements=covering(d.name),
        )
        for d in contract.dimensions
    ]
    measures = [
        FieldEntry(
            name=m.name,
            kind="MEASURE",
            type=m.type,
            description=m.description,
            sensitivity=m.sensitivity,
            disclosure=m.disclosure,
            agreements=covering(m.name),
        )
        for m in contract.measures
    ]
    return tuple(dimensions + measures)


def field_access(
    policy: PolicyEngine, principal: Principal, contract: Contract, field: str
) -> FieldAccess:
    """Asks the same policy as queries do, at each geography in turn."""
    grants = [(level, policy.grant(principal, contract.name, level)) for level in GEOGRAPHIES]
    readable = [(level, g) for level, g in grants if g.decision(field, "read").allowed]
    if not readable:
        return FieldAccess(False, False, (), grants[0][1].decision(field, "read").reason)
    measure = next((m for m in contract.measures if m.name == field), None)
    exact = (
        measure is None
        or not METHODS[measure.disclosure].controls
        or any(g.exact(field) for _, g in readable)
    )
    return FieldAccess(True, exact, tuple(level for level, _ in readable), None)


def release_rules(contract: Contract) -> str:
    """Who gets standard cells only, in words (docs/disclosure.md has the detail)."""
    if not any(METHODS[m.disclosure].controls for m in contract.measures):
        return "Exact for everyone who may read it: any filter, any table."
    return (
        f"Everyone but {contract.owner}, its owner, gets disclosure-controlled values and "
        "therefore standard cells only: a filter on a dimension you do not select must pin "
        "it to one value (eq); tables come complete, every category within your filters, "
        "true zeros included; areas whose cells are mostly small counts are withheld. "
        f"{contract.owner} sees its own data exactly, with any filter."
    )


def standard_cells_only(policy: PolicyEngine, principal: Principal, contract: Contract) -> bool:
    """Whether this caller reads some measure of the dataset only disclosure-controlled."""
    return any(
        access.read and not access.exact
        for access in (field_access(policy, principal, contract, m.name) for m in contract.measures)
    )


def how_to_get_access(policy: PolicyEngine, contract: Contract) -> str:
    """Owner contact and agreements, in words for a person deciding whom to ask."""
    fields = contract.field_names
    public = [field_access(policy, PUBLIC, contract, f) for f in fields]
    if all(a.read and a.exact and len(a.geographies) == len(GEOGRAPHIES) for a in public):
        return (
            f"Open data published by {contract.owner}: anyone may query it, no token needed. "
            f"Questions about the data go to {contract.owner}, its owner."
        )
    parts = [
        f"Owned by {contract.owner}. Ask {contract.owner}, the data owner, for access: the "
        "trust's policy grants it per department and role, field by field. With access "
        "granted, get a token (`gql-trust token`) and send it as "
        "`Authorization: Bearer <token>`."
    ]
    agreements = [
        a for a in _current_agreements(policy) if any(a.covers(contract.name, f) for f in fields)
    ]
    for agreement in agreements:
        covered = ", ".join(f for f in fields if agreement.covers(contract.name, f))
        parts.append(
            f"Data-sharing agreement {agreement.id} ({agreement.title}) covers {covered}: "
            f"parties {', '.join(sorted(agreement.parties))}; purposes "
            f"{', '.join(sorted(agreement.purposes))}; valid {agreement.valid_from.isoformat()} "
            f"to {agreement.valid_to.isoformat()}. Name it in the token's `agreement` claim, "
            "with one of its purposes as `purpose`."
        )
    if not agreements:
        parts.append("No data-sharing agreement covers this dataset.")
    return " ".join(parts)


def example_query(contract: Contract, last_period: date | None) -> str:
    """A ready query: the last three periods by region, with the first measure.

    Regions suit both the public (open data) and every analyst whom policy lets read a
    restricted dataset at some coarse geography."""
    root = contract.name
    arguments = []
    if contract.conformed(Conformed.AREA) is not None:
        arguments.append("geography: REGION")
    period = contract.conformed(Conformed.PERIOD)
    if period is not None and last_period is not None:
        since = _period(_months_before(last_period, 2))
        arguments.append(f'where: {{{period.name}: {{gte: "{since}"}}}}')
    lines = []
    if period is not None:
        lines.append(period.name)
    area = contract.conformed(Conformed.AREA)
    if area is not None:
        lines.append(f"{area.name} {{ code name }}")
    lines.append(contract.measures[0].name)
    head = f"{root}({', '.join(arguments)})" if arguments else root
    body = "".join(f"    {line}\n" for line in lines)
    return f"{{\n  {head} {{\n{body}  }}\n}}"


def _current_agreements(policy: PolicyEngine) -> list[Agreement]:
    today = datetime.now(UTC).date()
    return sorted(
        (a for a in policy.agreements.values() if a.valid_from <= today <= a.valid_to),
        key=lambda a: a.id,
    )


def _months_before(value: date, months: int) -> date:
    index = value.year * 12 + value.month - 1 - months
    return date(index // 12, index % 12 + 1, 1)


def _period(value: date | None) -> str | None:
    return f"{value.year:04d}-{value.month:02d}" if value else None
