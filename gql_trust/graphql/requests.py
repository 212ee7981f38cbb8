"""Arguments and selection of a dataset field -> a validated ``CellQuery``."""

from __future__ import annotations

from typing import Any

from ..contracts.model import Contract
from ..errors import InvalidQuery
from ..planner import And, CellQuery, Filter, OrderKey
from ..reference import Level
from .context import RequestContext
from .filters import FilterBuilder
from .selection import selected_names


def cell_query(
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
) -> CellQuery:
    """``partition`` groups by that dimension too and pages within each of its values
    (one batched query for many parents); ``scope`` is an extra filter ANDed in."""
    selected = selected_names(info)
    dimensions = tuple(
        d.name for d in contract.dimensions if d.name in selected or d.name == partition
    )
    measures = tuple(m.name for m in contract.measures if m.name in selected)
    where_filter = FilterBuilder(contract, ctx.trust.reference, geography).build(where)
    if scope is not None:
        where_filter = scope if where_filter is None else And((scope, where_filter))
    visible = [d for d in dimensions if d != partition or d in selected]
    return CellQuery(
        dataset=contract.name,
        dimensions=dimensions,
        measures=measures,
        where=where_filter,
        geography=geography,
        order=order_keys(order_by, visible, measures, dimensions),
        limit=check_limit(ctx, limit),
        offset=check_offset(offset),
        partition=partition if partition else None,
    )


def order_keys(
    order_by: list[Any] | None,
    selected_dimensions: list[str],
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
        if name not in selected_dimensions and name not in measures:
            raise InvalidQuery(
                f"orderBy[{position}] names '{name}', which the query does not select; "
                "select it or order by a selected field"
            )
        if any(k.field == name for k in keys):
            raise InvalidQuery(f"orderBy names '{name}' twice")
        keys.append(OrderKey(name, direction.value == "DESC"))
    keys.extend(OrderKey(d) for d in all_dimensions if all(k.field != d for k in keys))
    return tuple(keys)


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
