"""The hash chain and the budget check, as pure functions both sinks share.

A sink opens its write transaction, reads the head and the budgets the batch needs,
calls ``link`` and writes what it returns, all before committing: so one chain and
one budget count hold however many processes or hosts append.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from .entry import GENESIS, Entry
from .rows import Unreadable

BudgetKey = tuple[str, str]  # (agreement id, UTC day "YYYY-MM-DD")


@dataclass(frozen=True)
class Head:
    id: int = 0
    hash: str = GENESIS


@dataclass(frozen=True)
class BudgetClaim:
    """Cells a response would release under an agreement, against its daily budget."""

    agreement: str
    day: str
    cells: int
    limit: int

    @property
    def key(self) -> BudgetKey:
        return (self.agreement, self.day)


@dataclass(frozen=True)
class Pending:
    entry: Entry
    claim: BudgetClaim | None = None


def budget_keys(batch: Sequence[Pending]) -> list[BudgetKey]:
    return sorted({p.claim.key for p in batch if p.claim is not None and p.claim.cells > 0})


def link(
    batch: Sequence[Pending], head: Head, used: Mapping[BudgetKey, int]
) -> tuple[list[Entry], dict[BudgetKey, int]]:
    """Reserve each claim (or refuse it whole), then chain the entries after ``head``.

    Returns the sealed entries and the new totals of the budgets that changed."""
    totals = dict(used)
    entries = []
    for pending in batch:
        entry, claim = pending.entry, pending.claim
        if claim is not None and claim.cells > 0:
            spent = totals.get(claim.key, 0)
            if spent + claim.cells > claim.limit:
                entry = entry.refused_by_budget()
            else:
                totals[claim.key] = spent + claim.cells
        entry = entry.sealed(head.id + 1, head.hash)
        head = Head(entry.id, entry.hash)
        entries.append(entry)
    changed = {key: cells for key, cells in totals.items() if cells != used.get(key, 0)}
    return entries, changed


@dataclass(frozen=True)
class Verification:
    entries: int
    head: Head
    first_bad: int | None = None
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.first_bad is None

    def summary(self, where: str) -> str:
        if self.ok:
            return (
                f"ledger intact: {self.entries} entries, head {self.head.hash} "
                f"(entry {self.head.id}) in {where}"
            )
        return f"ledger broken at entry {self.first_bad}: {self.problem} ({where})"


class Walk:
    """Verification one entry at a time (a sink may stream a long ledger through it)."""

    def __init__(self) -> None:
        self.head, self.count = Head(), 0
        self.failure: Verification | None = None

    def step(self, entry: Entry | Unreadable) -> bool:
        """False (and ``failure`` set) at the first entry that does not fit."""
        if isinstance(entry, Unreadable):
            return self._fail(entry.id, entry.problem)
        expected = self.head.id + 1
        if entry.id > expected:
            gap = f"{expected}" if entry.id == expected + 1 else f"{expected} to {entry.id - 1}"
            return self._fail(entry.id, f"entry {gap} is missing before it")
        if entry.id < expected:
            return self._fail(entry.id, f"entry {entry.id} is out of order after {self.head.id}")
        if entry.compute_hash() != entry.hash:
            return self._fail(entry.id, "its contents do not match its hash")
        if entry.prev_hash != self.head.hash:
            return self._fail(entry.id, f"prev_hash does not match entry {self.head.id}'s hash")
        self.head, self.count = Head(entry.id, entry.hash), self.count + 1
        return True

    def _fail(self, id: object, problem: str) -> bool:
        self.failure = Verification(self.count, self.head, id, problem)  # type: ignore[arg-type]
        return False

    def finish(self, recorded: Head | None) -> Verification:
        """The result, checking the last entry against the head the writers recorded."""
        if self.failure is not None:
            return self.failure
        head = self.head
        if recorded is None or recorded == head:
            return Verification(self.count, head)
        if recorded.id > head.id:
            problem = f"the head records {recorded.id} entries; entries after {head.id} are missing"
            return Verification(self.count, head, head.id + 1, problem)
        if recorded.id < head.id:
            problem = f"entries after {recorded.id} were not appended by the ledger"
            return Verification(self.count, head, recorded.id + 1, problem)
        return Verification(self.count, head, head.id, "its hash does not match the ledger head")


def verify(entries: Iterable[Entry | Unreadable], recorded: Head | None) -> Verification:
    """Walk the chain in id order; name the first entry that does not fit."""
    walk = Walk()
    for entry in entries:
        if not walk.step(entry):
            break
    return walk.finish(recorded)
