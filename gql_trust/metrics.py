"""`/metrics`: Prometheus text from a registry per app (so several apps in one process,
as in tests, never collide on the global registry).

Under `gql-trust serve --workers N` every worker writes its counters to files in
``$PROMETHEUS_MULTIPROC_DIR`` (prometheus-client's multiprocess mode) and a scrape,
whichever worker answers it, sums them over all workers. Counts the trust keeps in
memory (source statements and rows, the plan cache) are carried into counters as each
request finishes, so they are summed too.

Request counts and latencies come from an ASGI middleware; what each GraphQL
operation did (outcome, source calls, denials, disclosure) from the `Observe`
schema extension via the request state; source totals, the plan cache and
readiness are read from the trust at scrape time by a custom collector.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import LedgerUnavailable
from .graphql.operation_metrics import STATE_KEY, OperationSummary
from .ledger import Ledger
from .ledger.gate import ENTRY as LEDGER_ENTRY
from .ledger.gate import WRITE_SECONDS as LEDGER_WRITE_SECONDS
from .trust import Trust

ROUTES = frozenset({"/", "/graphql", "/healthz", "/readyz", "/metrics"})
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
LEDGER_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0)
BUDGET_READ_TIMEOUT_S = 2.0  # a slow ledger must not hold up a scrape
MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"


def multiprocess_dir() -> str | None:
    """The folder the workers' counters are kept in, when there are several workers."""
    return os.environ.get(MULTIPROCESS_ENV) or None


class TrustCollector(Collector):
    """Readiness and budgets, read at scrape time by the worker that answers it."""

    def __init__(self, trust: Trust) -> None:
        self.trust = trust
        self.ready: dict[str, bool] = {}  # refreshed by Metrics.render before each scrape
        self.budgets: dict[str, tuple[int, int]] = {}  # agreement -> (used today, daily limit)

    def collect(self) -> Iterator[Metric]:
        ready = GaugeMetricFamily(
            "gql_trust_source_ready", "1 when the source answered a ping.", labels=["source"]
        )
        for name, ok in sorted(self.ready.items()):
            ready.add_metric([name], 1.0 if ok else 0.0)
        yield ready
        if self.budgets:  # absent while the ledger cannot be read: never a made-up 0
            used = GaugeMetricFamily(
                "gql_trust_budget_used_cells",
                "Cells released today (UTC) under each agreement, from the ledger's budget "
                "reservations (all workers and hosts).",
                labels=["agreement"],
            )
            limit = GaugeMetricFamily(
                "gql_trust_budget_limit_cells",
                "Each agreement's daily cell budget (policies/agreements.yaml).",
                labels=["agreement"],
            )
            for agreement, (cells, budget) in sorted(self.budgets.items()):
                used.add_metric([agreement], cells)
                limit.add_metric([agreement], budget)
            yield used
            yield limit


class Metrics:
    def __init__(self, trust: Trust, ledger: Ledger | None = None) -> None:
        self.trust = trust
        self.ledger = ledger
        self.registry = CollectorRegistry()
        self.multiprocess = multiprocess_dir() is not None
        # In multiprocess mode values live in the shared files, collected at scrape time.
        registry: CollectorRegistry | None = None if self.multiprocess else self.registry
        self.requests = Counter(
            "gql_trust_http_requests",
            "HTTP requests by route, method and status.",
            ["route", "method", "status"],
            registry=registry,
        )
        self.latency = Histogram(
            "gql_trust_http_request_duration_seconds",
            "Time to answer an HTTP request, by route.",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.operations = Counter(
            "gql_trust_graphql_operations",
            "GraphQL requests by outcome (UNAUTHENTICATED for a refused token).",
            ["outcome"],
            registry=registry,
        )
        # By dataset asked for, not by operation name: names are chosen by clients, so as a
        # label they would be unbounded (docs/governance.md). Datasets come from contracts.
        self.dataset_requests = Counter(
            "gql_trust_dataset_requests",
            "GraphQL requests by dataset asked for and the ledger entry's outcome.",
            ["dataset", "outcome"],
            registry=registry,
        )
        self.ledger_write = Histogram(
            "gql_trust_ledger_write_duration_seconds",
            "Time a request waited for its ledger entry to be committed (group commit included).",
            buckets=LEDGER_BUCKETS,
            registry=registry,
        )
        self.ledger_failures = Counter(
            "gql_trust_ledger_write_failures",
            "Requests whose ledger entry could not be written (answered 503, no data).",
            registry=registry,
        )
        self.source_latency = Histogram(
            "gql_trust_source_query_duration_seconds",
            "Time a source took to answer one statement of a GraphQL request.",
            ["source"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.denied = Counter(
            "gql_trust_denied_fields",
            "Fields refused by policy, by dataset, field and action.",
            ["dataset", "field", "action"],
            registry=registry,
        )
        self.disclosure = Counter(
            "gql_trust_disclosure_cells",
            "Released cells whose value was suppressed or perturbed.",
            ["method"],
            registry=registry,
        )
        self.cells = Counter(
            "gql_trust_cells_released", "Non-null result cells released.", registry=registry
        )
        self.source_queries = Counter(
            "gql_trust_source_queries",
            "Statements run on each source (including readiness pings).",
            ["source"],
            registry=registry,
        )
        self.source_rows = Counter(
            "gql_trust_source_rows_read",
            "Rows read from each source.",
            ["source"],
            registry=registry,
        )
        self.plan_hits = Counter("gql_trust_plan_cache_hits", "Plan cache hits.", registry=registry)
        self.plan_misses = Counter(
            "gql_trust_plan_cache_misses", "Plan cache misses (compiled).", registry=registry
        )
        self.plan_size = Gauge(
            "gql_trust_plan_cache_size",
            "Compiled plans cached (summed over live workers).",
            registry=registry,
            multiprocess_mode="livesum",
        )
        self.policy_reloads = Counter(
            "gql_trust_policy_reloads", "Policy changes that took effect.", registry=registry
        )
        self.policy_refusals = Counter(
            "gql_trust_policy_reload_refusals",
            "Policy changes refused because they failed the check (the old set stayed).",
            registry=registry,
        )
        self.policy_pending = Gauge(
            "gql_trust_policy_refused_pending",
            "1 while the policy files on disk are a refused set (in any live worker).",
            registry=registry,
            multiprocess_mode="livemax",
        )
        self.policy_stats: Any = None  # the worker's ReloadStats (policy/reload.py)
        self._carried: dict[str, int] = {}  # in-memory counts already added to counters
        self.collector = TrustCollector(trust)
        self.registry.register(self.collector)
        if self.multiprocess:
            MultiProcessCollector(self.registry)  # type: ignore[no-untyped-call]

    async def render(self, accept: str = "") -> tuple[bytes, str]:
        """The exposition (and its content type) in the format the scraper asks for."""
        readiness = await self.trust.readiness()
        self.collector.ready = {name: state == "ok" for name, state in readiness.items()}
        self.collector.budgets = await self._budgets()
        self.carry()
        encoder, content_type = choose_encoder(accept)
        return encoder(self.registry), content_type

    async def _budgets(self) -> dict[str, tuple[int, int]]:
        """Today's reservations per agreement, read from the ledger (where the budget check
        counts them, across workers and hosts); empty if the ledger is not open or slow."""
        ledger, agreements = self.ledger, self.trust.policy.agreements
        if ledger is None or not ledger.is_open or not agreements:
            return {}
        day = datetime.now(UTC).date().isoformat()  # the key the gate reserves under
        ids = sorted(agreements)
        try:
            async with asyncio.timeout(BUDGET_READ_TIMEOUT_S):
                used = await asyncio.gather(*(ledger.budget_used(a, day) for a in ids))
        except (LedgerUnavailable, TimeoutError):
            return {}
        return {
            a: (cells, agreements[a].daily_cell_budget) for a, cells in zip(ids, used, strict=True)
        }

    def carry(self) -> None:
        """Add what the trust counted in memory since last time to the counters."""
        info = self.trust.compile.cache_info()
        self._add(self.plan_hits, "hits", info.hits)
        self._add(self.plan_misses, "misses", info.misses)
        for name, source in self.trust.sources.items():
            self._add(self.source_queries.labels(name), f"queries:{name}", source.stats.queries)
            self._add(self.source_rows.labels(name), f"rows:{name}", source.stats.rows)
        self.plan_size.set(info.currsize)
        stats = self.policy_stats
        if stats is not None:
            self._add(self.policy_reloads, "policy:applied", stats.applied)
            self._add(self.policy_refusals, "policy:refused", stats.refused)
            self.policy_pending.set(1.0 if stats.last_error else 0.0)

    def _add(self, counter: Counter, key: str, total: int) -> None:
        delta = total - self._carried.get(key, 0)
        if delta > 0:
            counter.inc(delta)
            self._carried[key] = total

    def observe(self, scope: Scope, status: int, seconds: float) -> None:
        self.carry()
        route = _route(scope.get("path", ""))
        self.requests.labels(route, scope.get("method", ""), str(status)).inc()
        self.latency.labels(route).observe(seconds)
        state = scope.get("state", {})
        entry = state.get(LEDGER_ENTRY)
        if entry is not None:  # the ledger's outcome is the one of record
            self.operations.labels(entry.outcome.value).inc()
            for dataset in entry.datasets:
                if dataset in self.trust.contracts:  # a bounded label
                    self.dataset_requests.labels(dataset, entry.outcome.value).inc()
        write = state.get(LEDGER_WRITE_SECONDS)
        if write is not None:
            self.ledger_write.observe(write)
            if entry is None:
                self.ledger_failures.inc()
        summary = state.get(STATE_KEY)
        if isinstance(summary, OperationSummary):
            self._operation(summary)

    def _operation(self, summary: OperationSummary) -> None:
        trace = getattr(summary.context, "trace", None)
        if trace is not None:
            for call in trace.calls:
                self.source_latency.labels(call.source).observe(call.ms / 1000)
            for denial in trace.denials:
                self.denied.labels(denial.dataset, denial.field, denial.action).inc()
            self.cells.inc(trace.cells)
        tally = getattr(summary.context, "disclosure", None)
        if tally is not None:
            self.disclosure.labels("suppressed").inc(tally.suppressed)
            self.disclosure.labels("perturbed").inc(tally.perturbed)


class MetricsMiddleware:
    """Times every HTTP request and counts it by status once its response has started."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        scope.setdefault("state", {})  # shared with request.state, where Observe writes
        started = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            self.metrics.observe(scope, status, time.perf_counter() - started)


def _route(path: str) -> str:
    """A bounded label: a known route, the static folder, or `other`."""
    if path in ROUTES:
        return path
    return "/static" if path.startswith("/static/") else "other"


__all__ = ["Metrics", "MetricsMiddleware", "TrustCollector"]
