"""The running trust: contracts, reference data, sources and the compiled-plan cache."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache
from typing import Any

from .config import Settings
from .contracts import Contract, load_contracts
from .contracts.model import Conformed
from .disclosure.methods import METHODS
from .disclosure.tables import months
from .errors import ConfigError, SourceTimeout, SourceUnavailable, TrustError
from .ledger.record import policy_version
from .planner import CellQuery, Compiled, compile_coverage, compile_query
from .policy import PolicyEngine
from .reference import Reference, load_reference
from .sources import Source, open_source
from .tracing import span


@dataclass
class SourceCall:
    """One statement sent to a source during a request (for explain and the ledger)."""

    source: str
    dataset: str
    dialect: str
    sql: str
    rows: int
    ms: float
    predicates: tuple[str, ...] = ()  # injected by policy, e.g. the caller's own area
    # For a controlled release the source's row count is the number of non-empty cells,
    # which tells empty cells from small ones: kept for the ledger, not shown to the caller.
    rows_confidential: bool = False


@dataclass(frozen=True)
class Denial:
    dataset: str
    field: str
    action: str
    rule: str | None
    reason: str


@dataclass
class RequestTrace:
    """What a request read, was refused and released: for explain and the ledger."""

    calls: list[SourceCall] = field(default_factory=list)
    fields_read: dict[str, set[str]] = field(default_factory=dict)
    denials: list[Denial] = field(default_factory=list)
    cells: int = 0  # non-null result cells released


class Trust:
    def __init__(
        self,
        settings: Settings,
        contracts: Sequence[Contract],
        reference: Reference,
        sources: dict[str, Source],
    ) -> None:
        self.settings = settings
        self.contracts = {c.name: c for c in contracts}
        self.reference = reference
        self.sources = sources
        for contract in contracts:
            if contract.source not in sources:
                raise ConfigError(
                    f"{contract.path}: source '{contract.source}' is not configured; add "
                    f"[sources.{contract.source}] to {settings.path or 'the settings file'}"
                )
        self.policy = PolicyEngine(settings.policies_dir, self.contracts)
        self.ledger: Any = None  # set by the app: zCDP releases reserve rho in it
        self.policy.version = policy_version(settings.policies_dir)
        self.disclosure_key = _disclosure_key(settings, contracts)
        self._coverage: dict[str, tuple[float, Any]] = {}
        self.compile = lru_cache(maxsize=4096)(self._compile)

    @classmethod
    def from_settings(cls, settings: Settings) -> Trust:
        contracts = load_contracts(settings.contracts_dir)
        reference = load_reference(settings.areas_csv, settings.sectors_csv)
        sources = {name: open_source(cfg) for name, cfg in settings.sources.items()}
        return cls(settings, contracts, reference, sources)

    async def start(self) -> None:
        await asyncio.gather(*(s.start() for s in self.sources.values()))

    async def close(self) -> None:
        await asyncio.gather(*(s.close() for s in self.sources.values()))

    def source_for(self, contract: Contract) -> Source:
        return self.sources[contract.source]

    def _compile(self, shape: CellQuery) -> Compiled:
        contract = self.contracts[shape.dataset]
        source = self.source_for(contract)
        return compile_query(
            contract,
            shape,
            table=source.table(contract.relation),
            dialect=source.dialect,
            reference=self.reference,
            parameters=source.parameters,
        )

    async def run(
        self,
        query: CellQuery,
        trace: RequestTrace | None = None,
        predicates: tuple[str, ...] = (),
        timeout: float | None = None,
        rows_confidential: bool = False,
    ) -> list[tuple[Any, ...]]:
        """Compile (cached by shape), bind the values and fetch from the source."""
        contract = self.contracts[query.dataset]
        compiled = self.compile(query.shape())
        source = self.source_for(contract)
        started = time.perf_counter()
        try:
            with span("source query", source=source.name, dataset=contract.name) as current:
                rows = await source.fetch(compiled.sql, query.params(), timeout)
                if current is not None:
                    current.set_attribute("db.system", compiled.dialect)
        except SourceTimeout as exc:
            raise SourceTimeout(
                f"{contract.name}: its source did not answer in time; try a narrower query",
                dataset=contract.name,
            ) from exc
        except SourceUnavailable as exc:
            raise SourceUnavailable(
                f"{contract.name} is unavailable: its source '{source.name}' cannot be read "
                "right now",
                dataset=contract.name,
            ) from exc
        if trace is not None:
            elapsed = (time.perf_counter() - started) * 1000
            trace.calls.append(
                SourceCall(
                    source.name,
                    contract.name,
                    compiled.dialect,
                    compiled.sql,
                    len(rows),
                    elapsed,
                    predicates,
                    rows_confidential,
                )
            )
        return rows

    async def coverage(self, contract: Contract) -> tuple[Any, Any, int] | None:
        """(first period, last period, count) from the source, cached for a minute."""
        cached = self._coverage.get(contract.name)
        if cached is not None and time.monotonic() - cached[0] < 60:
            covered: tuple[Any, Any, int] | None = cached[1]
            return covered
        source = self.source_for(contract)
        sql = compile_coverage(
            contract, table=source.table(contract.relation), dialect=source.dialect
        )
        try:
            rows = await source.fetch(sql, ())
        except TrustError:
            return None  # the catalog still lists the dataset while its source is down
        first, last, count = rows[0] if rows else (None, None, 0)
        result = (_as_month(first), _as_month(last), int(count)) if first is not None else None
        self._coverage[contract.name] = (time.monotonic(), result)
        return result

    async def periods(
        self, contract: Contract, rows: list[tuple[Any, ...]], dimensions: tuple[str, ...]
    ) -> tuple[date, ...]:
        """Every month the dataset covers (a complete table's periods); while the source
        cannot say, the months present in ``rows``."""
        covered = await self.coverage(contract)
        if covered is not None and isinstance(covered[0], date):
            return months(_day(covered[0]), _day(covered[1]))
        period = contract.conformed(Conformed.PERIOD).name  # type: ignore[union-attr]
        at = dimensions.index(period)
        return tuple(sorted({row[at] for row in rows}))

    async def readiness(self) -> dict[str, str]:
        """'ok' or the reason, per source."""

        async def check(source: Source) -> str:
            try:
                await asyncio.wait_for(source.ping(), timeout=5)
            except (TimeoutError, TrustError):
                return "unavailable"
            return "ok"

        names = list(self.sources)
        results = await asyncio.gather(*(check(self.sources[n]) for n in names))
        return dict(zip(names, results, strict=True))


def _as_month(value: Any) -> Any:
    """A period as a date, also from a source that keeps it as text ("YYYY-MM[-DD]")."""
    if isinstance(value, str) and len(value) >= 7 and value[4] == "-":
        try:
            return date(int(value[:4]), int(value[5:7]), 1)
        except ValueError:
            return value
    return _day(value) if isinstance(value, date) else value


def _day(value: date) -> date:
    return value.date() if isinstance(value, datetime) else value


def _disclosure_key(settings: Settings, contracts: Sequence[Contract]) -> bytes:
    """The secret keying perturbed means; required when a contract uses them."""
    key = settings.disclosure.key()
    if key is not None:
        return key
    users = [
        c.name for c in contracts if any(METHODS[m.disclosure].needs_secret for m in c.measures)
    ]
    if users:
        raise ConfigError(
            f"{', '.join(users)} use keyed disclosure control, which needs a secret key: add "
            f"[disclosure] key_file (32 random bytes, kept private) to "
            f"{settings.path or 'the settings file'}"
        )
    return b""


__all__ = ["Denial", "RequestTrace", "SourceCall", "SourceUnavailable", "Trust"]
