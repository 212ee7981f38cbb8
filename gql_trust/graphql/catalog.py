"""The `datasets` catalog: metadata anyone may read (never connection details)."""

from __future__ import annotations

import asyncio

from strawberry.types import Info

from ..contracts.model import Contract
from .common import Dataset, DatasetField, PeriodCoverage
from .context import RequestContext
from .filters import format_period


async def resolve_datasets(info: Info) -> list[Dataset]:
    ctx: RequestContext = info.context
    contracts = sorted(ctx.trust.contracts.values(), key=lambda c: c.name)
    return list(await asyncio.gather(*(_entry(ctx, c) for c in contracts)))


async def _entry(ctx: RequestContext, contract: Contract) -> Dataset:
    source = ctx.trust.source_for(contract)
    coverage, modified = await asyncio.gather(
        ctx.trust.coverage(contract), source.last_modified(contract.relation)
    )
    periods = None
    if coverage is not None:
        first, last, count = coverage
        periods = PeriodCoverage(
            first=format_period(first) if first else None,
            last=format_period(last) if last else None,
            count=count,
        )
    fields = [
        DatasetField(
            name=d.name,
            kind="DIMENSION",
            type=d.conformed.value.capitalize() if d.conformed else d.type,
            description=d.description,
            sensitivity=d.sensitivity,
            disclosure="none",
        )
        for d in contract.dimensions
    ] + [
        DatasetField(
            name=m.name,
            kind="MEASURE",
            type=m.type,
            description=m.description,
            sensitivity=m.sensitivity,
            disclosure=m.disclosure.value,
        )
        for m in contract.measures
    ]
    return Dataset(
        name=contract.name,
        title=contract.title,
        owner=contract.owner,
        description=contract.description,
        source_kind=source.kind,
        grain=contract.grain,
        fields=fields,
        periods=periods,
        last_updated=modified.isoformat() if modified else None,
    )
