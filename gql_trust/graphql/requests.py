"""Arguments and selection of a dataset field -> an authorised, validated plan."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from ..contracts.model import Contract, Disclosure
from ..disclosure import apply_disclosure, controlled_measures
from ..disclosure.apply import Flags
from ..errors import Forbidden, InvalidQuery
from ..planner import And, CellQuery, Cond, Filter, OrderKey
from ..planner.query import walk
from ..planner.sql import CELL_KEY
from ..policy import Grant
from ..reference import Level
from ..trust import Denial
from .context import RequestContext
from .filters import FilterBuilder
from .selection import selected_names

T = TypeVar("T")


@dataclass(frozen=True)
class Plan:
    """What to ask the source, and what to do to its rows before they leave."""

    query: CellQuery
    disclosure: dict[str, Disclosure]  # measure -> method, for measures not seen exactly
    contract: Contract
    predicates: tuple[str, ...] = ()  # policy row obligations, described for explain
    page_after_disclosure: tuple[tuple[OrderKey, ...], int | None, int] | None = None

    async def run(self, ctx: RequestContext, release: bool = True) -> list[tuple[Any, ...]]:
        """The rows the caller may see. ``release=False`` when the caller pages them
        further (the stitched view) and counts the released cells itself; the disclosure
        tally still counts every controlled input the view's rates were built from."""
        rows = await ctx.trust.run(self.query, ctx.trace, self.predicates, ctx.remaining())
        columns = self.query.dimensions + self.query.measures + (CELL_KEY,)
        rows, flags = apply_disclosure(self.contract, columns, rows, self.disclosure, CELL_KEY)
        if self.page_after_disclosure is not None:
            rows, flags = self._page(columns, rows, flags)
        ctx.disclosure.record(self.contract, self.disclosure, flags)
        if release:
            ctx.trace.cells += _released(rows, len(self.query.dimensions), len(self.query.measures))
        return rows

    def _page(
        self, columns: tuple[str, ...], rows: list[tuple[Any, ...]], flags: list[Flags]
    ) -> tuple[list[tuple[Any, ...]], list[Flags]]:
        """Ordered by a published value: sorting exact values in the source would leak
        their order, so sort what the caller may see, then page."""
        order, limit, offset = self.page_after_disclosure  # type: ignore[misc]
        at = {key.field: columns.index(key.field) for key in order}
        pairs = sort_nulls_last(
            list(zip(rows, flags, strict=True)), order, lambda pair, field: pair[0][at[field]]
        )
        page = pairs[offset:] if limit is None else pairs[offset : offset + limit]
        return [row for row, _ in page], [flag for _, flag in page]


def plan_cells(
    ctx: RequestContext,
    contract: Contract,
    *,
    dimensions: tuple[str, ...],
    measures: tuple[str, ...],
    where: Filter | None,
    geography: Level,
    visible: tuple[str, ...] | None = None,
    **paging: Any,
) -> Plan:
    """Authorise a logical query for the caller; inject its row obligations; pick the
    disclosure control for each measure. Raises Forbidden at plan time, before any SQL."""
    grant = ctx.trust.policy.grant(ctx.principal, contract.name, geography)
    checks = [(d, "group") for d in dimensions]
    checks += [(f, "read") for f in (*(visible if visible is not None else dimensions), *measures)]
    checks += [(c.field, "filter") for c in walk(where)]
    for field, action in checks:
        decision = grant.decision(field, action)
        if not decision.allowed:
            ctx.trace.denials.append(
                Denial(contract.name, field, action, decision.rule, decision.reason)
            )
            raise Forbidden(
                f"not allowed to {action} {contract.name}.{field}",
                reason=decision.reason,
                rule=decision.rule,
            )
    ctx.trace.fields_read.setdefault(contract.name, set()).update(f for f, _ in checks)
    where = _with_obligations(where, grant)
    predicates = tuple(f"{r.dimension} = '{r.value}' (rule {r.rule})" for r in grant.row_filters)
    exact = {m.name for m in contract.measures if grant.exact(m.name)}
    disclosure = controlled_measures(contract, measures, exact)
    for measure in list(disclosure):  # a follower needs its leader to know when to hide
        leader = contract.measure(measure).suppressed_with
        if leader and leader not in measures:
            measures = (*measures, leader)
            disclosure.update(controlled_measures(contract, (leader,), exact))
    cell_key = Disclosure.CELL_KEY in disclosure.values()
    query = CellQuery(
        contract.name, dimensions, measures, where, geography, cell_key=cell_key, **paging
    )
    if any(k.field in disclosure for k in query.order):
        if query.partition is not None:
            raise InvalidQuery(
                "nested dataset fields cannot be ordered by a disclosure-controlled measure; "
                "order by a dimension, or query the dataset at the root"
            )
        paged = (query.order, query.limit, query.offset)
        unpaged = replace(query, order=(), limit=None, offset=0)
        return Plan(unpaged, disclosure, contract, predicates, paged)
    return Plan(query, disclosure, contract, predicates)


def _released(rows: list[tuple[Any, ...]], dimensions: int, measures: int) -> int:
    """Cells with at least one published (non-null) measure."""
    if measures == 0:
        return len(rows)
    return sum(1 for r in rows if any(v is not None for v in r[dimensions : dimensions + measures]))


def _with_obligations(where: Filter | None, grant: Grant) -> Filter | None:
    rows = tuple(Cond(r.dimension, "eq", (r.value,)) for r in grant.row_filters)
    if not rows:
        return where
    return And((*rows, where)) if where is not None else (rows[0] if len(rows) == 1 else And(rows))


def cell_plan(
    ctx: RequestContext,
    contract: Contract,
    info: Any,
    *,
    where: Any,
    geography: Level,
    order_by: list[Any] | None,
    limit: int | None,
    offset: int | None,
    partition: str | None = None,
    scope: Filter | None = None,
) -> Plan:
    """A dataset field's plan. ``partition`` groups by that dimension too and pages within
    each of its values (one batched query for many parents); ``scope`` is ANDed in."""
    selected = selected_names(info)
    dimensions = tuple(
        d.name for d in contract.dimensions if d.name in selected or d.name == partition
    )
    measures = tuple(m.name for m in contract.measures if m.name in selected)
    where_filter = FilterBuilder(
        contract, ctx.trust.reference, geography, ctx.trust.settings.limits.max_in_values
    ).build(where)
    if scope is not None:
        where_filter = scope if where_filter is None else And((scope, where_filter))
    visible = tuple(d for d in dimensions if d in selected)
    return plan_cells(
        ctx,
        contract,
        dimensions=dimensions,
        measures=measures,
        where=where_filter,
        geography=geography,
        visible=visible,
        order=order_keys(order_by, visible, measures, dimensions),
        limit=check_limit(ctx, limit),
        offset=check_offset(offset),
        partition=partition,
    )


def order_keys(
    order_by: list[Any] | None,
    selected: tuple[str, ...],
    measures: tuple[str, ...],
    all_dimensions: tuple[str, ...],
) -> tuple[OrderKey, ...]:
    """The caller's order, then every grouped dimension ascending, so pages are stable."""
    keys: list[OrderKey] = []
    for position, item in enumerate(order_by or ()):
        chosen = [(name, value) for name, value in vars(item).items() if value is not None]
        if len(chosen) != 1:
            raise InvalidQuery(
                f"orderBy[{position}] must name exactly one field, e.g. [{{period: ASC}}, "
                "{area: DESC}]"
            )
        name, direction = chosen[0]
        if name not in selected and name not in measures:
            raise InvalidQuery(
                f"orderBy[{position}] names '{name}', which the query does not select; "
                "select it or order by a selected field"
            )
        if any(k.field == name for k in keys):
            raise InvalidQuery(f"orderBy names '{name}' twice")
        keys.append(OrderKey(name, direction.value == "DESC"))
    keys.extend(OrderKey(d) for d in all_dimensions if all(k.field != d for k in keys))
    return tuple(keys)


def sort_nulls_last(
    items: list[T], order: tuple[OrderKey, ...], value: Callable[[T, str], Any]
) -> list[T]:
    """Stable multi-key sort, each key ascending or descending, nulls last for each."""
    for key in reversed(order):
        known = [i for i in items if value(i, key.field) is not None]
        unknown = [i for i in items if value(i, key.field) is None]
        items = sorted(known, key=lambda i: value(i, key.field), reverse=key.descending) + unknown
    return items


def check_limit(ctx: RequestContext, limit: int | None) -> int:
    server = ctx.trust.settings.server
    if limit is None:
        return server.default_limit
    if not 0 <= limit <= server.max_limit:
        raise InvalidQuery(
            f"limit must be between 0 and {server.max_limit:,}; got {limit}. "
            "Page through larger results with offset."
        )
    return limit


def check_offset(offset: int | None) -> int:
    if offset is None:
        return 0
    if offset < 0:
        raise InvalidQuery(f"offset must be 0 or more; got {offset}")
    return offset
