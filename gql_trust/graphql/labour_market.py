"""`labourMarket`: claimants (DWP), payrolled employees (HMRC) and vacancies (ONS),
stitched per period and area. Each part is pushed down to its own source; the
small aggregated results are joined here and the rates derived from them."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import strawberry
from strawberry.types import Info

from ..contracts.model import Conformed
from ..reference import Level
from .common import STITCHED, Geography, SortDirection, StringFilter, list_of
from .context import RequestContext
from .dry_run import response_path
from .filters import FilterBuilder, format_period
from .plans import check_limit, check_offset, order_keys, plan_cells, sort_nulls_last
from .selection import selected_names

if TYPE_CHECKING:
    from .schema import Model

# output measure -> (dataset, measure)
PARTS = {
    "claimants": ("claimants", "claimants"),
    "employees": ("payrolledEmployees", "employees"),
    "vacancies": ("vacancies", "vacancies"),
}
# output rate -> (numerator, denominator, scale)
RATES = {
    "claimantsPerThousandEmployees": ("claimants", "employees", 1000.0),
    "vacanciesPerClaimant": ("vacancies", "claimants", 1.0),
}
DIMENSIONS = ("period", "area")


@dataclass
class LabourMarket:
    model: Model
    cell: Any
    where: Any
    order_by: Any

    @classmethod
    def build(cls, model: Model) -> LabourMarket | None:
        if any(dataset not in model.contracts for dataset, _ in PARTS.values()):
            return None
        cell = strawberry.type(
            type(
                "LabourMarketCell",
                (),
                {
                    "__annotations__": {
                        "period": str | None,
                        "area": model.Area | None,
                        **{m: int | None for m in PARTS},
                        **{r: float | None for r in RATES},
                    },
                    "period": None,
                    "area": None,
                    **{m: None for m in [*PARTS, *RATES]},
                },
            ),
            description="Claimants, payrolled employees and vacancies for one period and area.",
        )
        where: Any = type("LabourMarketWhere", (), {})
        where.__annotations__ = {
            "period": StringFilter | None,
            "areaCode": StringFilter | None,
            "and_": list[where] | None,
            "or_": list[where] | None,
            "not_": where | None,
        }
        where.period = where.areaCode = None
        where.and_ = strawberry.field(name="and", default=None)
        where.or_ = strawberry.field(name="or", default=None)
        where.not_ = strawberry.field(name="not", default=None)
        fields = [*DIMENSIONS, *PARTS, *RATES]
        order = type(
            "LabourMarketOrderBy",
            (),
            {
                "__annotations__": {f: SortDirection | None for f in fields},
                **{f: None for f in fields},
            },
        )
        return cls(model, cell, strawberry.input(where), strawberry.input(order))

    def field(self) -> Any:
        view = self

        async def resolve(
            info: Info,
            where: Any = None,
            geography: Level = Level.LOCAL_AUTHORITY,
            order_by: Any = None,
            limit: int | None = None,
            offset: int | None = None,
        ) -> Any:
            return await view.resolve(info, where, geography, order_by, limit, offset)

        resolve.__annotations__.update(
            where=self.where | None,
            geography=Geography,
            order_by=list_of(self.order_by) | None,
            limit=int | None,
            offset=int | None,
            **{"return": list_of(self.cell) | None},
        )
        return strawberry.field(
            resolver=resolve,
            description="Claimants (DWP), payrolled employees (HMRC) and vacancies (ONS) "
            "stitched per selected period and area, with derived rates.",
            metadata={STITCHED: len(PARTS)},
        )

    async def resolve(
        self,
        info: Info,
        where: Any,
        geography: Level,
        order_by: Any,
        limit: int | None,
        offset: int | None,
    ) -> list[Any]:
        ctx: RequestContext = info.context
        self.model.bind(ctx.trust.reference)
        selected = selected_names(info)
        dims = tuple(d for d in DIMENSIONS if d in selected)
        wanted = {m for m in PARTS if m in selected}
        for rate in RATES:
            if rate in selected:
                wanted.update(RATES[rate][:2])
        limit, offset = check_limit(ctx, limit), check_offset(offset)
        shown = tuple(m for m in (*PARTS, *RATES) if m in selected)
        order = order_keys(order_by, dims, shown, dims)
        parts = sorted(wanted)
        results = await asyncio.gather(
            *(self.fetch_part(ctx, m, dims, where, geography) for m in parts)
        )
        joined: dict[tuple[Any, ...], dict[str, Any]] = {}
        for measure, rows in zip(parts, results, strict=True):
            for row in rows:
                joined.setdefault(row[:-1], {})[measure] = row[-1]
        cells = [
            self.cell_values(dict(zip(dims, key, strict=True)), v) for key, v in joined.items()
        ]
        cells = sort_nulls_last(cells, order, lambda cell, field: cell[field])
        page = cells[offset : offset + limit]
        released = sum(1 for c in page for m in PARTS if c[m] is not None)
        ctx.trace.cells += released
        if ctx.dry_run is not None:
            methods = {m: ctx.disclosure.methods.get(".".join(PARTS[m]), "exact") for m in parts}
            ctx.dry_run.add(response_path(info), "labourMarket", released, methods)
        return [self.to_cell(c) for c in page]

    async def fetch_part(
        self, ctx: RequestContext, measure: str, dims: tuple[str, ...], where: Any, level: Level
    ) -> list[tuple[Any, ...]]:
        dataset, column = PARTS[measure]
        contract = self.model.contracts[dataset]
        conformed = {kind: contract.conformed(kind) for kind in (Conformed.PERIOD, Conformed.AREA)}
        local = tuple(conformed[Conformed(d)].name for d in dims)  # type: ignore[union-attr]
        # The view's own filter keys, whatever the part's dimensions are called.
        keys = {"period": conformed[Conformed.PERIOD], "areaCode": conformed[Conformed.AREA]}
        plan = plan_cells(
            ctx,
            contract,
            dimensions=local,
            measures=(column,),
            where=FilterBuilder(
                contract,
                ctx.trust.reference,
                level,
                ctx.trust.settings.limits.max_in_values,
                names=keys,  # type: ignore[arg-type]
            ).build(where),
            geography=level,
            order=(),
        )
        rows = await plan.run(ctx, release=False)  # only the page is released, below
        at = plan.query.measures.index(column) + len(local)
        return [(*r[: len(local)], r[at]) for r in rows]

    @staticmethod
    def cell_values(keys: dict[str, Any], measures: dict[str, Any]) -> dict[str, Any]:
        values: dict[str, Any] = {**keys, **{m: measures.get(m) for m in PARTS}}
        for rate, (numerator, denominator, scale) in RATES.items():
            top, bottom = values[numerator], values[denominator]
            values[rate] = None if top is None or not bottom else round(scale * top / bottom, 4)
        return values

    def to_cell(self, values: dict[str, Any]) -> Any:
        if values.get("period") is not None:
            values["period"] = format_period(values["period"])
        if values.get("area") is not None:
            values["area"] = self.model.area(values["area"])
        return self.cell(**values)
