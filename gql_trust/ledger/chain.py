"""The hash chain, the Merkle tree and the budget check, as pure functions both sinks share.

A sink opens its write transaction, reads the head, the tree's frontier and the budgets
the batch needs, calls ``seal`` and writes what it returns (entries, tree nodes, one
signed checkpoint, budgets), all before committing: so one chain, one tree and one
budget count hold however many processes or hosts append, and a commit signs once.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from . import merkle
from .entry import GENESIS, Entry, Outcome
from .note import Checkpoint, NoteError, Signer, Verifier
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
    batch: Sequence[Pending],
    head: Head,
    used: Mapping[BudgetKey, int],
    latest_policy: str | None = None,
) -> tuple[list[Entry], dict[BudgetKey, int]]:
    """Reserve each claim (or refuse it whole), then chain the entries after ``head``.

    A POLICY_CHANGE to the version already recorded last (``latest_policy``: another
    worker or host saw the same change first) is not appended: it comes back unsealed
    (id 0). Returns the entries and the new totals of the budgets that changed."""
    totals = dict(used)
    entries = []
    for pending in batch:
        entry, claim = pending.entry, pending.claim
        if entry.outcome is Outcome.POLICY_CHANGE:
            if entry.policy_version == latest_policy:
                entries.append(entry)
                continue
            latest_policy = entry.policy_version
        if claim is not None and claim.cells > 0:
            spent = totals.get(claim.key, 0)
            if spent + claim.cells > claim.limit:
                entry = entry.refused_by_budget()
            else:
                totals[claim.key] = spent + claim.cells
                entry = replace(entry, budgeted=True)
        entry = entry.sealed(head.id + 1, head.hash)
        head = Head(entry.id, entry.hash)
        entries.append(entry)
    changed = {key: cells for key, cells in totals.items() if cells != used.get(key, 0)}
    return entries, changed


@dataclass(frozen=True)
class Commit:
    """What one append transaction writes besides the entries."""

    entries: list[Entry]
    budgets: dict[BudgetKey, int]
    nodes: dict[merkle.Node, bytes]
    size: int
    root: bytes
    checkpoint: str  # the signed note of the tree after this commit


class TreeMissing(RuntimeError):
    """The stored tree or head does not fit the entries: appending would fork the log."""


def seal(
    batch: Sequence[Pending],
    head: Head,
    used: Mapping[BudgetKey, int],
    frontier: Sequence[bytes],
    signer: Signer,
    latest_policy: str | None = None,
) -> Commit:
    """Chain the batch, grow the tree by its leaves, sign the new tree head once."""
    entries, budgets = link(batch, head, used, latest_policy)
    if not any(e.id for e in entries):  # only policy changes recorded already
        return Commit(entries, budgets, {}, head.id, b"", "")
    leaves = [merkle.leaf_hash(e.leaf_bytes()) for e in entries if e.id]
    size, new_frontier, nodes = merkle.append_leaves(head.id, frontier, leaves)
    root = merkle.root_of(new_frontier)
    note = signer.sign(Checkpoint(signer.name, size, root).text())
    return Commit(entries, budgets, nodes, size, root, note)


@dataclass(frozen=True)
class Written:
    """An entry as committed, and the signed checkpoint of the commit that included it."""

    entry: Entry
    tree_size: int
    checkpoint: str

    def receipt(self) -> dict[str, Any]:
        leaf = merkle.leaf_hash(self.entry.leaf_bytes())
        return {
            "entry": self.entry.id,
            "leafHash": base64.b64encode(leaf).decode(),
            "treeSize": self.tree_size,
            "checkpoint": self.checkpoint,
        }


def b64(value: bytes) -> str:
    return base64.b64encode(value).decode()


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


@dataclass
class Stored:
    """What a sink holds besides the entries, read in the same snapshot."""

    head: Head | None
    checkpoints: dict[int, tuple[bytes, str]] = field(default_factory=dict)  # size: root, note
    budgets: dict[BudgetKey, int] = field(default_factory=dict)
    complete: bool = True  # False: only a head is known (checkpoints and budgets unchecked)


class Walk:
    """Verification one entry at a time (a sink may stream a long ledger through it):
    the chain, the tree rebuilt from the entries against every signed checkpoint, the
    head, and the budgets against the entries that count towards them."""

    def __init__(self, stored: Stored | None = None, verifier: Verifier | None = None) -> None:
        self.head, self.count = Head(), 0
        self.failure: Verification | None = None
        self.stored = stored if stored is not None else Stored(None)
        self.verifier = verifier
        self.frontier: list[bytes] = []
        self.spent: dict[BudgetKey, int] = {}
        self.first_of: dict[BudgetKey, int] = {}

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
        leaf = merkle.leaf_hash(entry.leaf_bytes())
        _, self.frontier, _ = merkle.append_leaves(self.count, self.frontier, [leaf])
        self.head, self.count = Head(entry.id, entry.hash), self.count + 1
        signed = self.stored.checkpoints.get(self.count)
        if signed is not None and signed[0] != merkle.root_of(self.frontier):
            return self._fail(
                entry.id, f"the signed checkpoint of {self.count} entries has another root"
            )
        if entry.budgeted and entry.agreement is not None:
            key = (entry.agreement, entry.timestamp[:10])
            self.spent[key] = self.spent.get(key, 0) + entry.cells_returned
            self.first_of.setdefault(key, entry.id)
        return True

    def _fail(self, id: object, problem: str) -> bool:
        self.failure = Verification(self.count, self.head, id, problem)  # type: ignore[arg-type]
        return False

    def finish(self, recorded: Head | None = None) -> Verification:
        """The result, checking the last entry against the head the writers recorded,
        the newest signed checkpoint and the budget totals."""
        if self.failure is not None:
            return self.failure
        recorded = self.stored.head if recorded is None else recorded
        head = self.head
        if recorded is None:
            problem = "the ledger head is missing (the newest entries may have been deleted)"
            return Verification(self.count, head, head.id + 1, problem)
        if recorded == head:
            if not self.stored.complete:
                return Verification(self.count, head)
            return self._signed(head) or self._budgets(head) or Verification(self.count, head)
        if recorded.id > head.id:
            problem = f"the head records {recorded.id} entries; entries after {head.id} are missing"
            return Verification(self.count, head, head.id + 1, problem)
        if recorded.id < head.id:
            problem = f"entries after {recorded.id} were not appended by the ledger"
            return Verification(self.count, head, recorded.id + 1, problem)
        return Verification(self.count, head, head.id, "its hash does not match the ledger head")

    def _signed(self, head: Head) -> Verification | None:
        sizes = self.stored.checkpoints
        newest = max(sizes, default=0)
        if newest > head.id:
            problem = (
                f"a checkpoint of {newest} entries was signed, but the ledger ends at entry "
                f"{head.id}: entries {head.id + 1} to {newest} are missing"
            )
            return Verification(self.count, head, head.id + 1, problem)
        if newest < head.id:
            problem = f"entries after {newest} are in no signed checkpoint"
            return Verification(self.count, head, newest + 1, problem)
        if newest and self.verifier is not None:
            try:
                Checkpoint.parse(self.verifier.open(sizes[newest][1]))
            except NoteError as exc:
                problem = f"the newest checkpoint does not verify: {exc}"
                return Verification(self.count, head, newest, problem)
        return None

    def _budgets(self, head: Head) -> Verification | None:
        recorded = self.stored.budgets
        for key in sorted(set(recorded) | set(self.spent)):
            counted, kept = self.spent.get(key, 0), recorded.get(key, 0)
            if counted != kept:
                agreement, day = key
                problem = (
                    f"the budget of {agreement} on {day} records {kept:,} cells, "
                    f"but its entries add up to {counted:,}"
                )
                return Verification(self.count, head, self.first_of.get(key, head.id), problem)
        return None


def verify(
    entries: Iterable[Entry | Unreadable],
    recorded: Head | None,
    stored: Stored | None = None,
    verifier: Verifier | None = None,
) -> Verification:
    """Walk the chain in id order; name the first entry that does not fit."""
    walk = Walk(stored if stored is not None else Stored(recorded, complete=False), verifier)
    for entry in entries:
        if not walk.step(entry):
            break
    return walk.finish(recorded)
