"""The ledger a server appends to: group commit in front of a sink.

Requests queue their entry and await their own future; one writer task takes
everything queued so far and appends it in a single transaction. Under load a
batch carries many entries for one commit (one fsync), idle it carries one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import TypeVar

from ..disclosure.dp import Draw, Granted
from ..errors import LedgerUnavailable
from . import merkle
from .chain import BudgetClaim, Pending, Verification, Written
from .config import LedgerConfig
from .entry import Entry
from .note import Checkpoint, NoteError, Signer, Verifier, load_signer
from .rows import AuditQuery
from .sink import Sink

log = logging.getLogger("gql_trust.ledger")
T = TypeVar("T")


@dataclass
class _Queued:
    pending: Pending
    future: asyncio.Future[Written]


_STOP = object()


class Ledger:
    def __init__(self, sink: Sink, *, max_batch: int = 256) -> None:
        self.sink = sink
        self.max_batch = max_batch
        self._opened = False
        self._opening: asyncio.Task[None] | None = None
        self._queue: asyncio.Queue[object] | None = None
        self._writer: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @classmethod
    def from_config(cls, config: LedgerConfig, *, read_only: bool = False) -> Ledger:
        return cls(open_sink(config, read_only=read_only), max_batch=config.max_batch)

    @property
    def is_open(self) -> bool:
        """Whether the sink is open (readers such as /metrics do not open it themselves)."""
        return self._opened

    async def start(self) -> None:
        """Open the sink; safe to call again, and by many requests at once."""
        if self._opened:
            return
        if self._opening is None or self._opening.done():
            self._opening = asyncio.ensure_future(self.sink.open())
        try:
            await asyncio.shield(self._opening)
        except LedgerUnavailable:
            raise
        except Exception as exc:
            raise LedgerUnavailable(f"the ledger {self.sink.where} cannot be opened") from exc
        self._opened = True

    async def close(self) -> None:
        """Write what is queued, stop the writer, close the sink."""
        writer, queue = self._writer, self._queue
        if writer is not None and queue is not None and not writer.done():
            if self._loop is asyncio.get_running_loop():
                queue.put_nowait(_STOP)
                await writer
            else:  # started by a request on another (possibly closed) loop
                with contextlib.suppress(RuntimeError):
                    writer.cancel()
        self._writer = self._queue = None
        if self._opened or self._opening is not None:
            self._opened, self._opening = False, None
            await self.sink.close()

    async def append(self, entry: Entry, claim: BudgetClaim | None = None) -> Written:
        """The entry as written (id, hashes; outcome BUDGET_EXCEEDED if refused) with the
        checkpoint that includes it, or LedgerUnavailable: then release nothing."""
        await self.start()
        future: asyncio.Future[Written] = asyncio.get_running_loop().create_future()
        self._queue_for_this_loop().put_nowait(_Queued(Pending(entry, claim), future))
        return await future

    def _queue_for_this_loop(self) -> asyncio.Queue[object]:
        loop = asyncio.get_running_loop()
        if self._writer is None or self._writer.done() or self._loop is not loop:
            self._loop, self._queue = loop, asyncio.Queue()
            self._writer = loop.create_task(self._write(self._queue), name="ledger-writer")
        assert self._queue is not None
        return self._queue

    async def _write(self, queue: asyncio.Queue[object]) -> None:
        stopping = False
        while not stopping:
            batch: list[_Queued] = []
            item = await queue.get()
            while True:
                if item is _STOP:
                    stopping = True
                else:
                    batch.append(item)  # type: ignore[arg-type]
                if stopping or len(batch) >= self.max_batch or queue.empty():
                    break
                item = queue.get_nowait()
            if batch:
                await self._commit(batch)

    async def _commit(self, batch: list[_Queued]) -> None:
        try:
            commit = await self.sink.append([q.pending for q in batch])
            entries = commit.entries
            if len(entries) != len(batch):  # never leave a request waiting on a lost entry
                raise RuntimeError(f"{len(batch)} entries queued, {len(entries)} written")
        except Exception as exc:
            log.exception("ledger append failed; %d requests release nothing", len(batch))
            for queued in batch:
                if not queued.future.done():
                    failure = LedgerUnavailable(f"the ledger {self.sink.where} cannot be written")
                    failure.__cause__ = exc
                    queued.future.set_exception(failure)
            return
        for queued, entry in zip(batch, entries, strict=True):
            if not queued.future.done():
                queued.future.set_result(Written(entry, commit.size, commit.checkpoint))

    async def entries(self, query: AuditQuery) -> list[Entry]:
        await self.start()
        return await self._reading(self.sink.entries(query))

    async def verify(self) -> Verification:
        await self.start()
        return await self._reading(self.sink.verify())

    async def reserve_privacy(self, draw: Draw) -> Granted:
        """Reserve a zCDP release's rho and keep its values (ledger/privacy.py)."""
        await self.start()
        return await self._reading(self.sink.reserve_privacy(draw))

    async def budget_used(self, agreement: str, day: str) -> int:
        await self.start()
        return await self._reading(self.sink.budget_used(agreement, day))

    async def checkpoint(self) -> str | None:
        await self.start()
        return await self._reading(self.sink.checkpoint())

    async def tree_size(self) -> int:
        """The size of the newest signed checkpoint."""
        note = await self.checkpoint()
        if note is None:
            return 0
        try:
            return Checkpoint.parse(note.partition("\n\n")[0] + "\n").size
        except NoteError as exc:
            raise LedgerUnavailable(
                f"the newest checkpoint of {self.sink.where} is unreadable"
            ) from exc

    async def inclusion(self, entry: int, size: int) -> tuple[bytes, list[bytes]]:
        """Entry ``entry``'s leaf hash and its inclusion proof in the tree of ``size``."""
        ranges = merkle.inclusion_ranges(entry - 1, size)
        nodes = await self._proof_nodes([(entry - 1, entry), *ranges])
        return nodes[(0, entry - 1)], merkle.proof_hashes(ranges, nodes)

    async def consistency(self, old: int, new: int) -> list[bytes]:
        ranges = merkle.consistency_ranges(old, new)
        return merkle.proof_hashes(ranges, await self._proof_nodes(ranges))

    async def _proof_nodes(self, ranges: list[tuple[int, int]]) -> dict[merkle.Node, bytes]:
        wanted = merkle.needed(ranges)
        await self.start()
        nodes = await self._reading(self.sink.nodes(wanted))
        if len(nodes) != len(wanted):
            raise LedgerUnavailable(f"the tree of {self.sink.where} is incomplete")
        return nodes

    async def _reading(self, work: Awaitable[T]) -> T:
        try:
            return await work
        except LedgerUnavailable:
            raise
        except Exception as exc:  # a driver error: say which ledger, not how it failed
            raise LedgerUnavailable(f"the ledger {self.sink.where} cannot be read") from exc


def open_sink(config: LedgerConfig, *, read_only: bool = False) -> Sink:
    signer, verifier = _keys(config, read_only)
    if config.kind == "postgres":
        from .postgres import PostgresSink

        assert config.dsn is not None
        return PostgresSink(config.dsn, read_only=read_only, signer=signer, verifier=verifier)
    from .sqlite import SqliteSink

    if config.path is None:
        raise LedgerUnavailable("no ledger path is configured: add [ledger] path")
    return SqliteSink(config.path, read_only=read_only, signer=signer, verifier=verifier)


def _keys(config: LedgerConfig, read_only: bool) -> tuple[Signer | None, Verifier | None]:
    """The checkpoint signing key (made on first start if there is none; every host of a
    shared ledger needs the same file), or for a reader only its verifier key."""
    path = config.signing_key
    if path is None:
        return None, None
    try:
        if read_only:
            if path.is_file():
                return None, load_signer(path, config.origin).verifier
            vkey = path.with_suffix(".vkey")
            return None, Verifier.parse(vkey.read_text()) if vkey.is_file() else None
        if not path.is_file():
            log.warning("no ledger signing key at %s: making one", path)
        return load_signer(path, config.origin, create=True), None
    except (NoteError, OSError) as exc:
        raise LedgerUnavailable(f"the ledger signing key cannot be used: {exc}") from exc
