"""`/metrics`: Prometheus text with requests, outcomes, sources, plan cache and readiness."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Protocol

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from gql_trust.app import create_app
from gql_trust.config import MetricsConfig, load_settings
from gql_trust.identity import mint_token
from tests.conftest import TrustUnderTest


class HasHeaders(Protocol):
    def headers(self, who: str) -> dict[str, str]: ...


Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]

VACANCIES = (
    '{ vacancies(geography: COUNTRY, where: {period: {gte: "2025-01"}}) { period vacancies } }'
)


async def scrape(client: httpx.AsyncClient, trust: HasHeaders) -> Samples:
    """Scraped as the trust's operator (the role `/metrics` needs)."""
    response = await client.get("/metrics", headers=trust.headers("operator"))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


async def test_requests_by_status_and_outcome(duckdb_trust: TrustUnderTest) -> None:
    client = duckdb_trust.client
    before = await scrape(client, duckdb_trust)
    await duckdb_trust.data(VACANCIES, who="public")
    await duckdb_trust.query("{ claimants { period claimants } }", who="public")  # denied
    await duckdb_trust.query(
        "{ vacancies(limit: 1) { vacancies } claimants { claimants } }", who="public"
    )  # one field served, one refused
    await duckdb_trust.query("{ vacancies { nope } }", who="public")  # invalid
    refused = await client.post(
        "/graphql", json={"query": VACANCIES}, headers={"Authorization": "Bearer not-a-jwt"}
    )
    assert refused.status_code == 401
    assert (await client.get("/no-such-page")).status_code == 404
    after = await scrape(client, duckdb_trust)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    ops = "gql_trust_graphql_operations_total"
    assert delta(ops, outcome="OK") == 1
    assert delta(ops, outcome="DENIED") == 1
    assert delta(ops, outcome="PARTIAL") == 1
    assert delta(ops, outcome="INVALID") == 1
    assert delta(ops, outcome="UNAUTHENTICATED") == 1
    http = "gql_trust_http_requests_total"
    assert delta(http, route="/graphql", method="POST", status="200") == 4
    assert delta(http, route="/graphql", method="POST", status="401") == 1
    assert delta(http, route="other", method="GET", status="404") == 1
    assert delta(http, route="/metrics", method="GET", status="200") == 1  # the first scrape
    latency = "gql_trust_http_request_duration_seconds"
    assert delta(f"{latency}_count", route="/graphql") == 5
    assert delta(f"{latency}_sum", route="/graphql") > 0
    denied = "gql_trust_denied_fields_total"
    assert delta(denied, dataset="claimants", field="claimants", action="read") == 1
    assert delta("gql_trust_source_query_duration_seconds_count", source="ons") == 2


async def test_source_queries_and_rows_read(duckdb_trust: TrustUnderTest) -> None:
    before = await scrape(duckdb_trust.client, duckdb_trust)
    rows = (await duckdb_trust.data(VACANCIES, who="public"))["vacancies"]
    after = await scrape(duckdb_trust.client, duckdb_trust)
    assert (
        value(after, "gql_trust_source_queries_total", source="ons")
        - value(before, "gql_trust_source_queries_total", source="ons")
        == 1
    )  # readiness pings are not counted: only what callers' queries read
    assert value(after, "gql_trust_source_rows_read_total", source="ons") - value(
        before, "gql_trust_source_rows_read_total", source="ons"
    ) == len(rows)
    for name, source in duckdb_trust.sources.items():
        assert value(after, "gql_trust_source_queries_total", source=name) == source.stats.queries
        assert value(after, "gql_trust_source_rows_read_total", source=name) == source.stats.rows
        assert value(after, "gql_trust_source_ready", source=name) == 1


async def test_plan_cache_hits_and_size(duckdb_trust: TrustUnderTest) -> None:
    query = '{ vacancies(geography: REGION, where: {period: {eq: "2025-03"}}) { sector { code } } }'
    await duckdb_trust.data(query, who="public")
    before = await scrape(duckdb_trust.client, duckdb_trust)
    await duckdb_trust.data(query.replace("2025-03", "2025-04"), who="public")  # same shape
    after = await scrape(duckdb_trust.client, duckdb_trust)
    hits = "gql_trust_plan_cache_hits_total"
    assert value(after, hits) - value(before, hits) == 1
    info = duckdb_trust.app.state.trust.compile.cache_info()
    assert value(after, "gql_trust_plan_cache_size") == info.currsize > 0
    assert value(after, "gql_trust_plan_cache_misses_total") == info.misses


async def test_disclosure_cells_are_counted(duckdb_trust: TrustUnderTest) -> None:
    before = await scrape(duckdb_trust.client, duckdb_trust)
    body = await duckdb_trust.query(
        "{ claimants(geography: REGION) { period area { code } claimants } }", who="hmrc"
    )
    after = await scrape(duckdb_trust.client, duckdb_trust)
    perturbed = body["extensions"]["disclosure"]["perturbed"]
    assert perturbed > 0
    name = "gql_trust_disclosure_cells_total"
    assert value(after, name, method="perturbed") - value(before, name, method="perturbed") == (
        perturbed
    )
    released = "gql_trust_cells_released_total"
    assert value(after, released) - value(before, released) == len(body["data"]["claimants"])


@pytest.fixture
async def broken_app(duckdb_trust_dir: Path, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    """A trust whose DWP database is missing: every other source still answers."""
    settings = load_settings(duckdb_trust_dir / "gql-trust.toml")
    dwp = replace(settings.sources["dwp"], database=tmp_path / "missing.duckdb")
    settings = replace(settings, sources={**settings.sources, "dwp": dwp})
    app = create_app(settings)
    await app.state.trust.start()
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client
    finally:
        await app.state.trust.close()


async def test_readiness_per_source_and_a_registry_per_app(
    broken_app: httpx.AsyncClient, duckdb_trust: TrustUnderTest
) -> None:
    # Two apps in one process each keep their own registry (no duplicate timeseries).
    samples = await scrape(broken_app, duckdb_trust)
    assert value(samples, "gql_trust_source_ready", source="dwp") == 0
    assert value(samples, "gql_trust_source_ready", source="hmrc") == 1
    assert value(samples, "gql_trust_source_ready", source="ons") == 1
    assert value(samples, "gql_trust_http_requests_total", route="/metrics", method="GET",
                 status="200") == 0  # fmt: skip
    assert await scrape(duckdb_trust.client, duckdb_trust)


async def test_openmetrics_when_asked(duckdb_trust: TrustUnderTest) -> None:
    response = await duckdb_trust.client.get(
        "/metrics",
        headers={
            "Accept": "application/openmetrics-text; version=1.0.0",
            **duckdb_trust.headers("auditor"),
        },
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/openmetrics-text")
    assert response.text.rstrip().endswith("# EOF")


@pytest.mark.parametrize(
    ("who", "status"),
    [
        ("public", 401),  # no token
        ("dwp", 403),
        ("hmrc", 403),
        ("la", 403),
        ("auditor", 200),
        ("operator", 200),
    ],
)
async def test_metrics_need_the_operator_or_auditor_role(
    duckdb_trust: TrustUnderTest, who: str, status: int
) -> None:
    response = await duckdb_trust.client.get("/metrics", headers=duckdb_trust.headers(who))
    assert response.status_code == status
    if status == 200:
        assert "gql_trust_http_requests_total" in response.text
    else:
        assert "gql_trust" not in response.text  # nothing of the exposition leaks
        assert response.json()["errors"][0]["message"].startswith("/metrics needs")


async def test_a_bad_or_roleless_token_is_refused_and_public_metrics_are_open(
    duckdb_trust: TrustUnderTest,
) -> None:
    client = duckdb_trust.client
    bad = await client.get("/metrics", headers={"Authorization": "Bearer not-a-jwt"})
    assert bad.status_code == 401
    assert bad.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    # The role is what counts: an operator of any department; the department alone is not.
    settings = duckdb_trust.settings
    other = mint_token(settings.auth, sub="x", dept="DWP", roles=["operator"])  # type: ignore[arg-type]
    trust_only = mint_token(settings.auth, sub="y", dept="TRUST", roles=["analyst"])  # type: ignore[arg-type]
    ok = await client.get("/metrics", headers={"Authorization": f"Bearer {other}"})
    assert ok.status_code == 200
    no = await client.get("/metrics", headers={"Authorization": f"Bearer {trust_only}"})
    assert no.status_code == 403
    open_settings = replace(settings, metrics=MetricsConfig(public=True))
    app = create_app(open_settings)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as open_client:
        response = await open_client.get("/metrics")
    assert response.status_code == 200 and "gql_trust_http_requests_total" in response.text


async def test_two_workers_counters_are_summed(
    duckdb_trust_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`serve --workers 2`: whichever worker answers a scrape, it counts both workers'
    requests; checked against each worker's own counter file."""
    from prometheus_client.multiprocess import MultiProcessCollector

    from tests.ledger.test_workers import serving_workers

    folder = tmp_path / "metrics"
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(folder))
    (folder).mkdir()
    (folder / "counter_1.db").write_bytes(b"stale")  # a previous run's file is cleared
    settings = load_settings(duckdb_trust_dir / "gql-trust.toml")
    token = mint_token(settings.auth, sub="op", dept="TRUST", roles=["operator"])  # type: ignore[arg-type]
    headers = {"Authorization": f"Bearer {token}"}
    config = duckdb_trust_dir / "gql-trust.toml"
    async with serving_workers(config, tmp_path) as (url, _):
        requests = 60
        for _ in range(requests):  # a new connection each: the kernel spreads them
            async with httpx.AsyncClient() as client:
                response = await client.post(f"{url}/graphql", json={"query": VACANCIES})
                assert response.status_code == 200
        per_worker = {}
        for path in sorted(folder.glob("counter_*.db")):
            merged = MultiProcessCollector.merge([str(path)], accumulate=True)
            per_worker[path.name] = sum(
                s.value
                for m in merged
                if m.name == "gql_trust_http_requests"
                for s in m.samples
                if s.name == "gql_trust_http_requests_total" and s.labels["route"] == "/graphql"
            )
        served = {name: n for name, n in per_worker.items() if n}
        assert len(served) == 2, per_worker  # both workers answered some
        assert sum(served.values()) == requests
        for _ in range(6):  # each scrape, from either worker, sums both
            async with httpx.AsyncClient() as client:
                text = (await client.get(f"{url}/metrics", headers=headers)).text
            samples = {
                (s.name, frozenset(s.labels.items())): s.value
                for family in text_string_to_metric_families(text)
                for s in family.samples
            }
            graphql = value(
                samples, "gql_trust_http_requests_total", route="/graphql", method="POST",
                status="200",
            )  # fmt: skip
            assert graphql == requests
            assert value(samples, "gql_trust_graphql_operations_total", outcome="OK") == requests
            assert value(samples, "gql_trust_source_queries_total", source="ons") >= requests
