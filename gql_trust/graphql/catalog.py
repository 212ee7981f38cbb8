"""The `datasets` catalog: metadata anyone may read (never connection details)."""

from __future__ import annotations

from strawberry.types import Info

from .. import catalog
from ..contracts.model import Contract
from ..identity import Principal
from ..policy.engine import PolicyEngine
from .common import Dataset, DatasetField, FieldAccess, PeriodCoverage
from .context import RequestContext


async def resolve_datasets(info: Info) -> list[Dataset]:
    ctx: RequestContext = info.context
    entries = await catalog.describe_all(ctx.trust)
    policy = ctx.policy
    return [
        _dataset(entry, ctx.trust.contracts[entry.name], policy, ctx.principal) for entry in entries
    ]


def _dataset(
    entry: catalog.DatasetEntry, contract: Contract, policy: PolicyEngine, principal: Principal
) -> Dataset:
    periods = entry.periods
    return Dataset(
        name=entry.name,
        title=entry.title,
        owner=entry.owner,
        description=entry.description,
        source_kind=entry.source_kind,
        grain=entry.grain,
        fields=[
            _field(f, catalog.field_access(policy, principal, contract, f.name))
            for f in entry.fields
        ],
        periods=PeriodCoverage(first=periods.first, last=periods.last, count=periods.count)
        if periods
        else None,
        last_updated=entry.last_updated.isoformat() if entry.last_updated else None,
        how_to_get_access=entry.how_to_get_access,
        release_rules=entry.release_rules,
        standard_cells_only=catalog.standard_cells_only(policy, principal, contract),
    )


def _field(entry: catalog.FieldEntry, access: catalog.FieldAccess) -> DatasetField:
    return DatasetField(
        name=entry.name,
        kind=entry.kind,
        type=entry.type,
        description=entry.description,
        sensitivity=entry.sensitivity,
        disclosure=entry.disclosure,
        agreements=list(entry.agreements),
        access=FieldAccess(
            read=access.read,
            exact=access.exact,
            geographies=list(access.geographies),
            reason=access.reason,
        ),
    )
