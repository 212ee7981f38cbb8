"""`extensions: {"dryRun": true}`: what a request would release, without releasing it.

Each dataset field runs exactly as in a real request (policy, the source query, the
complete table, disclosure control, sparse areas withheld, paging), so ``cells`` is the
number of cells the real request would release; the values are then dropped and
``data`` is null. For a caller who gets controlled values this is the released count of
the complete table, never the source's count of non-empty groups (which would tell an
empty cell from a small one). The ledger records the request as DRY_RUN and charges no
budget: nothing left the trust.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from strawberry.extensions import SchemaExtension

from ..contracts.model import Contract
from ..errors import LedgerUnavailable

DRY_RUN = "dryRun"  # the request extension, and the response's


@dataclass
class FieldNote:
    dataset: str
    cells: int = 0
    disclosure: dict[str, str] = field(default_factory=dict)  # measure -> method


@dataclass
class DryRunNotes:
    """What each dataset field (by response path) would release."""

    fields: dict[str, FieldNote] = field(default_factory=dict)

    def add(self, path: str, dataset: str, cells: int, disclosure: Mapping[str, str]) -> None:
        note = self.fields.setdefault(path, FieldNote(dataset))
        note.cells += cells
        note.disclosure.update(disclosure)

    @property
    def cells(self) -> int:
        return sum(n.cells for n in self.fields.values())


def response_path(info: Any, batched: bool = False) -> str:
    """``a.b.claimants``; a field batched over its parents names them ``*``."""
    raw = getattr(info, "_raw_info", info)
    parts = raw.path.as_list()
    return ".".join("*" if batched and isinstance(p, int) else str(p) for p in parts)


def methods(
    contract: Contract, measures: tuple[str, ...], disclosure: Mapping[str, str]
) -> dict[str, str]:
    """Per measure asked for: its disclosure method, or ``exact``."""
    return {m: disclosure.get(m, "exact") for m in measures}


def note_release(
    ctx: Any,
    info: Any,
    contract: Contract,
    measures: tuple[str, ...],
    disclosure: Mapping[str, str],
    cells: int,
    *,
    batched: bool = False,
) -> None:
    """Called by a dataset field with the cells it is about to release (dry runs only)."""
    notes: DryRunNotes | None = getattr(ctx, "dry_run", None)
    if notes is not None:
        path = response_path(info, batched)
        notes.add(path, contract.name, cells, methods(contract, measures, disclosure))


class DryRun(SchemaExtension):
    """Sets up the notes before execution; afterwards drops the data and reports."""

    report: dict[str, Any] | None = None

    async def on_execute(self) -> AsyncIterator[None]:
        requested = self.execution_context.operation_extensions or {}
        context = self.execution_context.context
        if requested.get(DRY_RUN) is not True or not hasattr(context, "dry_run"):
            yield
            return
        notes = context.dry_run = DryRunNotes()
        yield
        result = self.execution_context.result
        fields: dict[str, dict[str, Any]] = {}
        for path, note in notes.fields.items():
            fields[path] = {
                "path": path,
                "dataset": note.dataset,
                "allowed": True,
                "cells": note.cells,
                "disclosure": dict(sorted(note.disclosure.items())),
            }
        for error in getattr(result, "errors", None) or ():
            if error.path is None:
                continue
            path = ".".join(str(p) for p in error.path)
            extensions = error.extensions or {}
            fields[path] = {
                "path": path,
                "allowed": False,
                "code": extensions.get("code"),
                "reason": extensions.get("reason") or error.message,
                "cells": 0,
            }
        if result is not None:
            result.data = None  # nothing is released
        context.trace.cells = 0  # so nothing is counted or charged as released
        self.report = {
            "fields": fields,
            "cells": notes.cells,
            "budget": await _budget(context, notes.cells),
        }

    def get_results(self) -> dict[str, Any]:
        return {} if self.report is None else {DRY_RUN: self.report}


async def _budget(context: Any, cells: int) -> dict[str, Any] | None:
    """The caller's agreement's budget today: used so far, used after the real request."""
    principal = context.principal
    agreement = context.policy.agreements.get(principal.agreement or "")
    if agreement is None:
        return None
    ledger = getattr(getattr(getattr(context.request, "app", None), "state", None), "ledger", None)
    used = None
    if ledger is not None:
        day = datetime.now(UTC).strftime("%Y-%m-%d")
        try:
            used = await ledger.budget_used(agreement.id, day)
        except LedgerUnavailable:
            used = None  # the gate refuses the request anyway when it cannot be recorded
    return {
        "agreement": agreement.id,
        "used": used,
        "wouldUse": None if used is None else used + cells,
        "limit": agreement.daily_cell_budget,
    }


def note_plan(ctx: Any, info: Any, plan: Any, rows: list[Any], *, batched: bool = False) -> None:
    """A dataset field's plan has run (exactly as for a real request): note the cells its
    released rows hold, counted as ``Plan.run`` counts them for the ledger."""
    from .plans import released_cells

    query = plan.query
    cells = released_cells(rows, len(query.dimensions), len(query.measures))
    note_release(ctx, info, plan.contract, query.measures, plan.disclosure, cells, batched=batched)
