"""Assemble the Strawberry schema: datasets, reference entities, the stitched view, catalog."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.dataloader import DataLoader
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionContext, Info

from ..config import FederationConfig, LimitsConfig
from ..contracts.model import Conformed, Contract
from ..errors import TrustError
from ..planner import CellQuery, Cond
from ..reference import Level, Reference
from .audit import audit_log_field
from .catalog import resolve_datasets
from .cells import CellLayout, Cells, DatasetTypes, cell_layout, dataset_types
from .common import FAN_OUT, AreaWhere, Dataset, Geography, list_of
from .context import RequestContext
from .dry_run import note_plan
from .fast import FastListExecutionContext
from .fast import install as install_fast_path
from .federation import FederatedSchema, entity_type, reference_resolver
from .filters import FilterBuilder
from .labour_market import LabourMarket
from .plans import cell_plan

PAGING_HELP = (
    "limit: rows per page (default 1,000; at most the server's maximum, 100,000 by "
    "default); offset: rows to skip. Without orderBy rows come ordered by the selected "
    "dimensions, so pages are stable."
)


class Model:
    """The generated types, and the reference objects shared across requests."""

    def __init__(self, contracts: tuple[Contract, ...]) -> None:
        self.contracts = {c.name: c for c in contracts}
        self.conformed_fields = {
            c.name: {d.name: d.conformed for d in c.dimensions if d.conformed} for c in contracts
        }
        area_placeholder: Any = type("Area", (), {})
        sector_placeholder: Any = type("Sector", (), {})
        self.datasets = {
            c.name: dataset_types(c, area_placeholder, sector_placeholder) for c in contracts
        }
        self.Area = self._area_type(area_placeholder)
        self.Sector = self._sector_type(sector_placeholder)
        self._reference: Reference | None = None
        self._areas: dict[str, Any] = {}
        self._sectors: dict[str, Any] = {}
        self._layouts: dict[tuple[str, tuple[str, ...]], CellLayout] = {}
        self.labour_market = LabourMarket.build(self)

    # --- reference objects -------------------------------------------------------

    def bind(self, reference: Reference) -> None:
        if reference is self._reference:
            return
        self._reference = reference
        self._areas = {
            a.code: self.Area(code=a.code, name=a.name, level=a.level, parent_code=a.parent_code)
            for a in reference.areas.values()
        }
        self._sectors = {
            s.code: self.Sector(code=s.code, name=s.name) for s in reference.sectors.values()
        }

    def area(self, code: str) -> Any:
        return self._areas[code]

    def sector(self, code: str) -> Any:
        return self._sectors[code]

    def lookup_area(self, ctx: RequestContext, code: str) -> Any | None:
        """`area(code:)` and the `Area` entity's resolve_reference: the same object."""
        self.bind(ctx.trust.reference)
        return self._areas.get(code)

    def lookup_sector(self, ctx: RequestContext, code: str) -> Any | None:
        self.bind(ctx.trust.reference)
        return self._sectors.get(code)

    def cells(self, dataset: str, query: CellQuery, rows: list[tuple[Any, ...]]) -> Cells:
        return Cells(rows, self.layout(dataset, query.dimensions + query.measures))

    def layout(self, dataset: str, columns: tuple[str, ...]) -> CellLayout:
        key = (dataset, columns)
        layout = self._layouts.get(key)
        if layout is None:  # a few shapes per dataset: the selectable fields bound them
            layout = self._layouts[key] = cell_layout(self.datasets[dataset], columns, self)
        return layout

    # --- types -------------------------------------------------------------------

    def _area_type(self, cls: Any) -> Any:
        model = self

        def parent(self: Any, info: Info) -> Any | None:
            return model.area(self.parent_code) if self.parent_code else None

        def children(self: Any, info: Info) -> list[Any]:
            kids = model._reference.children.get(self.code, ()) if model._reference else ()
            return [model.area(a.code) for a in kids]

        parent.__annotations__["return"] = cls | None
        children.__annotations__["return"] = list_of(cls)
        cls.__annotations__ = {
            "code": strawberry.ID,
            "name": str,
            "level": Geography,
            "parent_code": strawberry.Private[str | None],  # type: ignore[misc]
        }
        cls.parent = strawberry.field(resolver=parent, description="The area it rolls up to.")
        cls.children = strawberry.field(
            resolver=children, description="Areas that roll up to it.", metadata={FAN_OUT: "areas"}
        )
        for types in self.datasets.values():
            setattr(cls, types.contract.name, self._nested_field(types, Conformed.AREA))
        cls.resolve_reference = reference_resolver(self.lookup_area, "area")
        return entity_type(
            cls,
            description="An area in the ONS geography (GSS code). Dataset fields give the "
            "area's cells rolled up to its own level.",
        )

    def _sector_type(self, cls: Any) -> Any:
        cls.__annotations__ = {"code": strawberry.ID, "name": str}
        for types in self.datasets.values():
            if types.contract.conformed(Conformed.SECTOR) is not None:
                setattr(cls, types.contract.name, self._nested_field(types, Conformed.SECTOR))
        cls.resolve_reference = reference_resolver(self.lookup_sector, "sector")
        return entity_type(cls, description="An industry: a SIC 2007 section.")

    def root_field(self, types: DatasetTypes) -> Any:
        model, contract = self, types.contract

        async def resolve(
            info: Info,
            where: Any = None,
            geography: Level = Level.LOCAL_AUTHORITY,
            order_by: Any = None,
            limit: int | None = None,
            offset: int | None = None,
        ) -> Any:
            ctx: RequestContext = info.context
            model.bind(ctx.trust.reference)
            plan = cell_plan(
                ctx, contract, info, where=where, geography=geography,
                order_by=order_by, limit=limit, offset=offset,
            )  # fmt: skip
            rows = await plan.run(ctx)
            if ctx.dry_run is not None:
                note_plan(ctx, info, plan, rows)
            return model.cells(contract.name, plan.query, rows)

        resolve.__annotations__.update(
            where=types.where | None,
            geography=Geography,
            order_by=list_of(types.order_by) | None,
            limit=int | None,
            offset=int | None,
            **{"return": list_of(types.cell) | None},
        )
        return strawberry.field(
            resolver=resolve,
            description=f"{contract.title} ({contract.owner}). {contract.description} "
            + PAGING_HELP,
        )

    def _nested_field(self, types: DatasetTypes, kind: Conformed) -> Any:
        """A dataset field on Area/Sector: one batched source query per nesting level."""
        model, contract = self, types.contract
        partition = contract.conformed(kind).name  # type: ignore[union-attr]

        async def resolve(
            self: Any,
            info: Info,
            where: Any = None,
            geography: Level = Level.LOCAL_AUTHORITY,
            order_by: Any = None,
            limit: int | None = None,
            offset: int | None = None,
        ) -> Any:
            ctx: RequestContext = info.context
            level = self.level if kind is Conformed.AREA else geography
            key = (contract.name, kind, level, tuple(id(n) for n in info._raw_info.field_nodes))
            loader = ctx.loaders.get(key)
            if loader is None:

                async def load(codes: list[str]) -> list[Cells]:
                    plan = cell_plan(
                        ctx, contract, info, where=where, geography=level, order_by=order_by,
                        limit=limit, offset=offset, partition=partition,
                        scope=Cond(partition, "in", tuple(codes)),
                    )  # fmt: skip
                    rows = await plan.run(ctx)
                    if ctx.dry_run is not None:
                        note_plan(ctx, info, plan, rows, batched=True)
                    position = plan.query.dimensions.index(partition)
                    groups: dict[str, list[Any]] = defaultdict(list)
                    for row in rows:
                        groups[row[position]].append(row)
                    return [model.cells(contract.name, plan.query, groups[c]) for c in codes]

                loader = ctx.loaders[key] = DataLoader(load_fn=load)
            return await loader.load(self.code)

        annotations: dict[str, Any] = {
            "where": types.where | None,
            "order_by": list_of(types.order_by) | None,
            "limit": int | None,
            "offset": int | None,
            "return": list_of(types.cell) | None,
        }
        if kind is Conformed.SECTOR:
            annotations["geography"] = Geography
        else:
            resolve = _without_geography(resolve)
        resolve.__annotations__.update(annotations)
        scope = "area, rolled up to the area's own level" if kind is Conformed.AREA else "sector"
        return strawberry.field(
            resolver=resolve,
            description=f"{contract.title} ({contract.owner}) for this {scope}. " + PAGING_HELP,
        )

    # --- schema ------------------------------------------------------------------

    def dataset_fields(self, graphql_schema: Any) -> list[tuple[Any, str]]:
        """(GraphQL type, field name) of every field that serves dataset cells."""
        query, area, sector = (graphql_schema.get_type(n) for n in ("Query", "Area", "Sector"))
        fields = [(t, n) for t in (query, area, sector) for n in self.datasets if n in t.fields]
        if "labourMarket" in query.fields:
            fields.append((query, "labourMarket"))
        return fields

    def query_type(self) -> Any:
        model = self
        namespace: dict[str, Any] = {}
        for types in self.datasets.values():
            namespace[types.contract.name] = self.root_field(types)

        def areas(info: Info, level: Level | None = None, where: AreaWhere | None = None) -> Any:
            ctx: RequestContext = info.context
            model.bind(ctx.trust.reference)
            return [model.area(a.code) for a in filter_areas(ctx.trust.reference, level, where)]

        def area(info: Info, code: strawberry.ID) -> Any:
            return model.lookup_area(info.context, code)

        def sectors(info: Info) -> Any:
            ctx: RequestContext = info.context
            model.bind(ctx.trust.reference)
            return [model.sector(c) for c in sorted(ctx.trust.reference.sectors)]

        areas.__annotations__["return"] = list_of(self.Area)
        area.__annotations__["return"] = self.Area | None
        sectors.__annotations__["return"] = list_of(self.Sector)
        namespace["areas"] = strawberry.field(
            resolver=areas,
            description="Areas, at one level or all, ordered by code.",
            metadata={FAN_OUT: "areas"},
        )
        namespace["area"] = strawberry.field(resolver=area, description="One area by GSS code.")
        namespace["sectors"] = strawberry.field(
            resolver=sectors, description="SIC 2007 sections.", metadata={FAN_OUT: "sectors"}
        )
        namespace["datasets"] = strawberry.field(
            resolver=resolve_datasets, description="The catalog of datasets the trust serves."
        )
        namespace["auditLog"] = audit_log_field()
        if self.labour_market is not None:
            namespace["labourMarket"] = self.labour_market.field()
        return strawberry.type(
            type("Query", (), namespace),
            description="The Labour Market Data Trust: one model over departmental sources.",
        )


def filter_areas(reference: Reference, level: Level | None, where: AreaWhere | None) -> list[Any]:
    areas = sorted(reference.areas.values(), key=lambda a: a.code)
    if level is not None:
        areas = [a for a in areas if a.level is level]
    if where is None:
        return areas
    checks: list[tuple[Any, Callable[[Any], str]]] = [
        (where.code, lambda a: a.code),
        (where.parent_code, lambda a: a.parent_code or ""),
    ]
    for conditions, key in checks:
        if conditions is None:
            continue
        for attr, test in _STRING_TESTS.items():
            value = getattr(conditions, attr)
            if value is not None:
                areas = [a for a in areas if test(key(a), value)]
    return areas


_STRING_TESTS: dict[str, Any] = {
    "eq": lambda v, x: v == x,
    "ne": lambda v, x: v != x,
    "in_": lambda v, x: v in x,
    "not_in": lambda v, x: v not in x,
    "gt": lambda v, x: v > x,
    "gte": lambda v, x: v >= x,
    "lt": lambda v, x: v < x,
    "lte": lambda v, x: v <= x,
}


def _without_geography(resolve: Any) -> Any:
    """Area fields take the area's own level, so they have no `geography` argument."""

    async def resolve_area(
        self: Any,
        info: Info,
        where: Any = None,
        order_by: Any = None,
        limit: int | None = None,
        offset: int | None = None,
    ) -> Any:
        return await resolve(self, info, where, Level.LOCAL_AUTHORITY, order_by, limit, offset)

    return resolve_area


class TrustSchema(FederatedSchema):
    """Logs only unexpected errors: a caller's mistake is answered, not logged as a fault."""

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        unexpected = [e for e in errors if not isinstance(e.original_error, TrustError)]
        unexpected = [e for e in unexpected if e.original_error is not None]
        if unexpected:
            super().process_errors(unexpected, execution_context)


def build_schema(
    contracts: tuple[Contract, ...],
    limits: LimitsConfig | None = None,
    federation: FederationConfig | None = None,
    *,
    fast_paths: bool = True,
) -> strawberry.Schema:
    """``fast_paths=False`` gives plain Strawberry execution (tests compare the two)."""
    from .extensions import schema_extensions
    from .limits import limit_extensions

    limits = limits or LimitsConfig()
    model = Model(contracts)
    schema = TrustSchema(
        query=model.query_type(),
        types=[Dataset],
        federation_version=(federation or FederationConfig()).version,  # type: ignore[arg-type]
        extensions=[*limit_extensions(limits, contracts), *schema_extensions()],
        execution_context_class=FastListExecutionContext if fast_paths else None,
        config=StrawberryConfig(
            disable_field_suggestions=True,
            batching_config={"max_operations": limits.max_batch} if limits.max_batch else None,
        ),
    )
    schema.model = model  # type: ignore[attr-defined]
    if fast_paths:
        install_fast_path(schema, model.dataset_fields(schema._schema))
    return schema


__all__ = ["FilterBuilder", "Model", "build_schema"]
