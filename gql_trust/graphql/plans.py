"""Arguments and selection of a dataset field -> an authorised, validated plan."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from functools import cached_property
from typing import Any, NoReturn, TypeVar

from ..contracts.model import Conformed, Contract
from ..disclosure import METHODS, apply_disclosure, controlled_measures, dp
from ..disclosure.apply import Flags
from ..disclosure.sparse import Withheld, sparse_groups
from ..disclosure.standard_cells import RULE as STANDARD_CELLS
from ..disclosure.standard_cells import custom_cell, pinned_values
from ..disclosure.standard_cells import reason as standard_reason
from ..disclosure.tables import (
    as_zero,
    categories,
    complete,
    lattice,
    matches,
    months,
    split_where,
    zero_measures,
)
from ..errors import Forbidden, InvalidQuery, LedgerUnavailable, PrivacyBudgetExceeded
from ..planner import And, CellQuery, Cond, Filter, OrderKey
from ..planner.query import walk
from ..planner.sql import CELL_KEY
from ..policy import Grant
from ..policy.agreements import agreement_problem
from ..reference import Level
from ..tracing import span
from ..trust import Denial
from .context import RequestContext
from .filters import FilterBuilder
from .selection import selected_names

T = TypeVar("T")


@dataclass(frozen=True)
class Plan:
    """What to ask the source, and what to do to its rows before they leave."""

    query: CellQuery
    disclosure: dict[str, str]  # measure -> method, for measures not seen exactly
    contract: Contract
    predicates: tuple[str, ...] = ()  # policy row obligations, described for explain
    table: ControlledTable | None = None  # set for a caller who gets controlled values

    async def run(self, ctx: RequestContext, release: bool = True) -> list[tuple[Any, ...]]:
        """The rows the caller may see. ``release=False`` when the caller pages them
        further (the stitched view) and counts the released cells itself; the disclosure
        tally still counts every controlled input the view's rates were built from."""
        rows = await ctx.trust.run(
            self.query, ctx.trace, self.predicates, ctx.remaining(), self.table is not None
        )
        if self.table is not None:
            rows = await self.table.release(ctx, self, rows)
        if release:
            ctx.trace.cells += released_cells(
                rows, len(self.query.dimensions), len(self.query.measures)
            )
        return rows


@dataclass(frozen=True)
class ControlledTable:
    """A controlled release: the complete table of standard cells, sparse areas withheld,
    disclosure applied, then filtered, ordered and paged as the caller asked."""

    contract: Contract
    asked: CellQuery  # the query as the caller wrote it (order, paging, partition)
    methods: dict[str, str]
    pushed: Filter | None  # the part of its filter the source applied
    kept: Filter | None  # the rest, applied to the completed table
    pinned: dict[str, Any]  # ungrouped dimensions a filter pins to one value

    @cached_property
    def group_at(self) -> tuple[int, ...]:
        """Positions of the grouped area and period: the sparsity rule's groups."""
        outer = (Conformed.AREA, Conformed.PERIOD)
        dims = self.asked.dimensions
        return tuple(i for i, d in enumerate(dims) if self.contract.dimension(d).conformed in outer)

    def group(self, row: tuple[Any, ...]) -> tuple[Any, ...]:
        return tuple(row[i] for i in self.group_at)

    async def release(
        self, ctx: RequestContext, plan: Plan, rows: list[tuple[Any, ...]]
    ) -> list[tuple[Any, ...]]:
        trust, contract, query = ctx.trust, self.contract, plan.query
        dims = query.dimensions
        columns = (*dims, *query.measures, CELL_KEY)
        periods: tuple[Any, ...] = ()
        if any(_is_period(contract, d) for d in dims):
            periods = await trust.periods(contract, rows, dims)
        axes = [
            (d, categories(contract.dimension(d), trust.reference, query.geography, periods))
            for d in dims
        ]
        cells = lattice(axes, self.pushed, trust.settings.limits.max_table_cells)
        width = len(trust.compile(query.shape()).columns)
        empty = (*zero_measures(contract, query.measures), 0)[: width - len(dims)]
        rows = complete(as_zero(contract, rows, len(dims), query.measures), len(dims), cells, empty)
        cell_id = _cell_identity(contract, dims, self.pinned)
        private = [m for m, method in plan.disclosure.items() if method == dp.NAME]
        if private:  # noise spends rho on every cell the caller's filters leave
            if self.kept is not None:
                rows = [r for r in rows if matches(self.kept, dict(zip(dims, r, strict=False)))]
            rows = await _privatise(ctx, contract, columns, rows, private, cell_id, self.pinned)
        rows, flags = apply_disclosure(
            contract, columns, rows, plan.disclosure, CELL_KEY, cell_id, trust.disclosure_key
        )
        withheld = self.sparse(rows, query)  # on published values: it reveals nothing more
        pairs = list(zip(rows, flags, strict=True))
        if withheld:
            pairs = [self.withhold(p, withheld, len(dims), len(query.measures)) for p in pairs]
        if self.kept is not None:
            pairs = [p for p in pairs if matches(self.kept, dict(zip(dims, p[0], strict=False)))]
        pairs = self.page(columns, pairs)
        ctx.disclosure.record(contract, plan.disclosure, [flag for _, flag in pairs])
        if withheld:
            shown = [withheld[self.group(row)] for row, flag in pairs if flag[2]]
            ctx.disclosure.record_withheld(contract.name, shown)
        return [row for row, _ in pairs]

    def sparse(
        self, rows: list[tuple[Any, ...]], query: CellQuery
    ) -> dict[tuple[Any, ...], Withheld]:
        """Group key -> the withheld area, for the (area, period) groups whose published
        counts are mostly small."""
        counted = [
            m for m in query.measures if m in self.methods and METHODS[self.methods[m]].sparse
        ]
        if not counted:
            return {}
        count_at = len(query.dimensions) + query.measures.index(counted[0])
        area = self.contract.conformed(Conformed.AREA).name  # type: ignore[union-attr]
        dims = query.dimensions
        area_at = next((k for k, i in enumerate(self.group_at) if dims[i] == area), None)
        return {
            key: Withheld(key[area_at] if area_at is not None else self.pinned.get(area))
            for key in sparse_groups(rows, self.group_at, count_at)
        }

    def withhold(
        self,
        pair: tuple[tuple[Any, ...], Flags],
        withheld: dict[tuple[Any, ...], Withheld],
        dims: int,
        measures: int,
    ) -> tuple[tuple[Any, ...], Flags]:
        row = pair[0]
        if self.group(row) not in withheld:
            return pair
        return (*row[:dims], *(None,) * measures, *row[dims + measures :]), (False, False, True)

    def page(
        self, columns: tuple[str, ...], pairs: list[tuple[tuple[Any, ...], Flags]]
    ) -> list[tuple[tuple[Any, ...], Flags]]:
        """Sorted by what the caller may see (sorting exact values in the source would leak
        their order), then paged, per partition value for a batched nested field."""
        asked = self.asked
        at = {name: i for i, name in enumerate(columns)}
        pairs = sort_nulls_last(pairs, asked.order, lambda pair, field: pair[0][at[field]])
        end = None if asked.limit is None else asked.offset + asked.limit
        if asked.partition is None:
            return pairs[asked.offset : end]
        groups: dict[Any, list[tuple[tuple[Any, ...], Flags]]] = {}
        for pair in pairs:
            groups.setdefault(pair[0][at[asked.partition]], []).append(pair)
        return [pair for key in sorted(groups) for pair in groups[key][asked.offset : end]]


async def _privatise(
    ctx: RequestContext,
    contract: Contract,
    columns: tuple[str, ...],
    rows: list[tuple[Any, ...]],
    measures: list[str],
    cell_id: Callable[[tuple[Any, ...]], bytes],
    pinned: dict[str, Any],
) -> list[tuple[Any, ...]]:
    """The rows with zCDP counts, rho reserved in the ledger (disclosure/dp.py)."""
    agreement = ctx.policy.agreements[ctx.principal.agreement]
    period = contract.conformed(Conformed.PERIOD)
    at = columns.index(period.name) if period is not None and period.name in columns else None
    span = 1
    if at is None and (period is None or period.name not in pinned):
        covered = await ctx.trust.coverage(contract)
        if covered is None or not isinstance(covered[0], date):
            raise InvalidQuery(f"{contract.name}: select the period, or filter it with eq")
        span = len(months(covered[0], covered[1]))
    if ctx.trust.ledger is None:
        raise LedgerUnavailable("no ledger to account for privacy loss: nothing released")
    released, granted = await dp.privatise(
        rows=rows,
        columns=columns,
        measures=measures,
        identity=cell_id,
        period_of=(lambda row: row[at])
        if at is not None
        else (lambda row: None if span > 1 else 1),
        span=span,
        agreement=agreement.id,
        limit=agreement.privacy.rho,
        rho=agreement.privacy.release_rho,
        reserve=ctx.trust.ledger.reserve_privacy,
    )
    if ctx.privacy is None:
        ctx.privacy = dp.PrivacyReport(agreement.id, agreement.privacy.rho)
    ctx.privacy.used = max(ctx.privacy.used, granted.used)
    if granted.exceeded:
        raise PrivacyBudgetExceeded(
            f"agreement {agreement.id} allows rho {agreement.privacy.rho:g} a day (UTC); "
            f"{granted.used:.4g} is spent and this table of new cells needs {granted.wanted:.4g}, "
            "so no data was released. Cells released before cost nothing: ask for those, "
            "or a table over fewer periods, or wait for tomorrow's budget",
            agreement=agreement.id,
            rhoLimit=agreement.privacy.rho,
            rhoRemaining=round(max(agreement.privacy.rho - granted.used, 0.0), 9),
            rhoWanted=round(granted.wanted, 9),
        )
    ctx.privacy.add(granted, measures)
    return released


def _is_period(contract: Contract, name: str) -> bool:
    return contract.dimension(name).conformed is Conformed.PERIOD


def _cell_identity(
    contract: Contract, dims: tuple[str, ...], pinned: dict[str, Any]
) -> Callable[[tuple[Any, ...]], bytes]:
    """A row -> its standard cell: per dimension its category, or "*" for all of them."""
    at = {d: i for i, d in enumerate(dims)}

    def identity(row: tuple[Any, ...]) -> bytes:
        parts = [contract.name]
        for d in contract.dimensions:
            value = row[at[d.name]] if d.name in at else pinned.get(d.name, "*")
            parts.append(f"{d.name}={_category(value)}")
        return "\x1f".join(parts).encode()

    return identity


def _category(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, date):
        return f"{value.year:04d}-{value.month:02d}"
    return str(value)


def plan_cells(ctx: RequestContext, contract: Contract, **request: Any) -> Plan:
    """``_plan_cells``, in a span of its own."""
    with span("plan", dataset=contract.name):
        return _plan_cells(ctx, contract, **request)


def _plan_cells(
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
    grant = ctx.policy.grant(ctx.principal, contract.name, geography)
    checks = [(d, "group") for d in dimensions]
    checks += [(f, "read") for f in (*(visible if visible is not None else dimensions), *measures)]
    checks += [(c.field, "filter") for c in walk(where)]
    for field, action in checks:
        decision = grant.decision(field, action)
        if not decision.allowed:
            _refuse(ctx, contract, field, action, decision.rule, decision.reason)
    ctx.trace.fields_read.setdefault(contract.name, set()).update(f for f, _ in checks)
    where = _with_obligations(where, grant)
    predicates = tuple(f"{r.dimension} = '{r.value}' (rule {r.rule})" for r in grant.row_filters)
    exact = {m.name for m in contract.measures if grant.exact(m.name)}
    controlled = bool(controlled_measures(contract, contract_measures(contract), exact))
    if controlled:
        custom = custom_cell(where, dimensions)
        if custom is not None:
            name = contract.dimension(custom.dimension).filter_name
            _refuse(
                ctx, contract, custom.dimension, "filter", STANDARD_CELLS,
                standard_reason(contract.name, custom, name),
            )  # fmt: skip
    disclosure = controlled_measures(contract, measures, exact)
    for m in disclosure:  # under a privacy budget, zCDP replaces the method for counts
        if _under_privacy(ctx, contract, m) and not METHODS[dp.NAME].check(
            contract, contract.measure(m)
        ):
            disclosure[m] = dp.NAME
    for measure in list(disclosure):  # a follower needs its leader to know when to hide
        leader = contract.measure(measure).suppressed_with
        if leader and leader not in measures:
            measures = (*measures, leader)
            disclosure.update(controlled_measures(contract, (leader,), exact))
    cell_key = any(METHODS[method].needs_cell_key for method in disclosure.values())
    query = CellQuery(
        contract.name, dimensions, measures, where, geography, cell_key=cell_key, **paging
    )
    if not controlled:
        return Plan(query, disclosure, contract, predicates)
    pushed, kept = split_where(where, contract, dimensions)
    table = ControlledTable(contract, query, disclosure, pushed, kept, pinned_values(where))
    source = replace(query, where=pushed, order=(), limit=None, offset=0, partition=None)
    return Plan(source, disclosure, contract, predicates, table)


def _under_privacy(ctx: RequestContext, contract: Contract, measure: str) -> bool:
    """The caller's agreement is in force, covers the measure and has a privacy budget."""
    principal = ctx.principal
    agreement = ctx.policy.agreements.get(principal.agreement or "")
    if agreement is None or agreement.privacy is None:
        return False
    problem = agreement_problem(
        agreement,
        agreement_id=principal.agreement,
        dept=principal.dept or None,
        purpose=principal.purpose,
        dataset=contract.name,
        field=measure,
        today=datetime.now(UTC).date(),
    )
    return problem is None


def contract_measures(contract: Contract) -> tuple[str, ...]:
    return tuple(m.name for m in contract.measures)


def _refuse(
    ctx: RequestContext,
    contract: Contract,
    field: str,
    action: str,
    rule: str | None,
    reason: str,
) -> NoReturn:
    ctx.trace.denials.append(Denial(contract.name, field, action, rule, reason))
    raise Forbidden(f"not allowed to {action} {contract.name}.{field}", reason=reason, rule=rule)


def released_cells(rows: list[tuple[Any, ...]], dimensions: int, measures: int) -> int:
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
