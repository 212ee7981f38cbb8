"""Live policies: `policies/` re-read while the trust runs, checked before it takes effect.

Each worker polls the directory once a second (a change is in force within 5 s) and
re-reads it on SIGHUP. A new set is loaded and checked as `gql-trust check` checks
policies (the Casbin model and rules, agreements, trusted-document manifests); only if
that passes does it replace the old set, by one attribute assignment, so a request
already running keeps the set it began with and none is dropped. A set that fails is
refused: the old one stays in force, the refusal is logged and counted. A set taking
effect is one POLICY_CHANGE ledger entry naming the old and new versions; with several
workers or hosts on one ledger the ledger records the change once (the first to append
it), however many processes saw it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from ..contracts.model import Contract
from ..errors import ConfigError, LedgerUnavailable
from ..ledger.entry import Entry, Outcome
from ..ledger.record import policy_version, timestamp
from .engine import PolicyEngine

log = logging.getLogger("gql_trust.policy")
POLL_SECONDS = 1.0

# Loads a manifest set for an engine's agreements, raising ConfigError (documents.py).
DocumentLoader = Callable[[PolicyEngine], Any]


@dataclass
class ReloadStats:
    applied: int = 0
    refused: int = 0
    last_error: str | None = None


def load_policies(
    directory: Path,
    contracts: dict[str, Contract],
    documents: DocumentLoader | None = None,
    today: date | None = None,
) -> PolicyEngine:
    """A policy set read from ``directory`` and checked, or ConfigError saying why not."""
    from ..checks.policy import check_agreements, check_rules, read_agreements, read_rules

    for _ in range(3):  # the files may be mid-edit: the version must match what was read
        before = policy_version(directory)
        try:
            engine = PolicyEngine(directory, contracts)
        except ConfigError:
            raise
        except Exception as exc:  # Casbin's own parse errors: a model or rule it cannot read
            raise ConfigError(f"{directory}: Casbin cannot load the policy: {exc}") from exc
        rules = read_rules(directory / "policy.csv")
        problems = check_rules(rules, contracts)
        items = read_agreements(directory / "agreements.yaml")
        problems += check_agreements(items, contracts, rules, today or datetime.now(UTC).date())
        errors = [p for p in problems if p.severity == "error"]
        if errors:
            raise ConfigError("; ".join(f"{p.where}: {p.message}" for p in errors))
        if documents is not None:
            engine.documents = documents(engine)
        if policy_version(directory) == before:
            engine.version = before
            return engine
    raise ConfigError(f"{directory} kept changing while it was read; try again")


class LivePolicies:
    """Keeps ``trust.policy`` current with the policy directory."""

    def __init__(
        self,
        trust: Any,
        directory: Path,
        *,
        ledger: Any = None,
        documents: DocumentLoader | None = None,
        poll_s: float = POLL_SECONDS,
    ) -> None:
        self.trust = trust
        self.directory = directory
        self.ledger = ledger
        self.documents = documents
        self.poll_s = poll_s  # 0: only on SIGHUP
        self.on_change: Callable[[], None] | None = None  # told after each applied or refused set
        self.stats = ReloadStats()
        self._refused_version: str | None = None  # not re-logged every second
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None

    @property
    def version(self) -> str | None:
        return getattr(self.trust.policy, "version", None)

    async def reload(self, *, force: bool = False) -> bool:
        """Take the directory's policy set if it changed and passes; True when it did."""
        async with self._lock:
            seen = await asyncio.to_thread(policy_version, self.directory)
            if seen == self.version or (seen == self._refused_version and not force):
                return False
            try:
                engine = await asyncio.to_thread(
                    load_policies, self.directory, self.trust.contracts, self.documents
                )
            except ConfigError as exc:
                self._refused_version = seen
                self.stats.refused += 1
                self.stats.last_error = exc.message
                log.error("policy change refused; the previous policy stays in force: %s", exc)
                self._changed()
                return False
            old = self.version
            self.trust.policy = engine  # atomic: running requests keep the set they began with
            self._refused_version = None
            self.stats.applied += 1
            self.stats.last_error = None
            log.info("policy %s in force (was %s)", engine.version, old)
            self._changed()
            await self._record(old, engine.version)
            return True

    def _changed(self) -> None:
        if self.on_change is not None:
            try:
                self.on_change()
            except Exception:  # counting must never undo a reload
                log.exception("could not count the policy reload")

    async def _record(self, old: str | None, new: str | None) -> None:
        if self.ledger is None:
            return
        entry = Entry(
            timestamp=timestamp(),
            outcome=Outcome.POLICY_CHANGE,
            transport="internal",
            policy_version=new,
            previous_policy_version=old,
        )
        try:
            await self.ledger.append(entry)
        except LedgerUnavailable:
            log.exception("could not record the policy change %s -> %s", old, new)

    async def watch(self, interval: float = POLL_SECONDS) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await self.reload()
            except Exception:  # keep watching whatever one attempt met
                log.exception("policy reload failed")

    def start(self) -> None:
        """Poll in the background and reload on SIGHUP (in the running loop)."""
        loop = asyncio.get_running_loop()
        if self.poll_s > 0:
            self._task = loop.create_task(self.watch(self.poll_s), name="policy-watch")
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(signal.SIGHUP, self._on_hangup)

    def _on_hangup(self) -> None:
        asyncio.get_running_loop().create_task(self.reload(force=True))

    async def stop(self) -> None:
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None


def live_policies(trust: Any, schema: Any, ledger: Any) -> LivePolicies:
    """The trust's live policy set, trusted documents included (checked at start too)."""
    from ..documents import load_documents

    graphql_schema = schema._schema

    def documents(engine: PolicyEngine) -> Any:
        return load_documents(engine.agreements, graphql_schema)

    trust.policy.documents = documents(trust.policy)
    settings = trust.settings
    return LivePolicies(
        trust,
        settings.policies_dir,
        ledger=ledger,
        documents=documents,
        poll_s=settings.policies_poll_s,
    )
