"""`/metrics`: Prometheus text with requests, outcomes, sources, plan cache and readiness."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from gql_trust.app import create_app
from gql_trust.config import load_settings
from tests.conftest import TrustUnderTest

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]

VACANCIES = (
    '{ vacancies(geography: COUNTRY, where: {period: {gte: "2025-01"}}) { period vacancies } }'
)


async def scrape(client: httpx.AsyncClient) -> Samples:
    response = await client.get("/metrics")
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
    before = await scrape(client)
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
    after = await scrape(client)

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
    before = await scrape(duckdb_trust.client)
    rows = (await duckdb_trust.data(VACANCIES, who="public"))["vacancies"]
    after = await scrape(duckdb_trust.client)
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
    before = await scrape(duckdb_trust.client)
    await duckdb_trust.data(query.replace("2025-03", "2025-04"), who="public")  # same shape
    after = await scrape(duckdb_trust.client)
    hits = "gql_trust_plan_cache_hits_total"
    assert value(after, hits) - value(before, hits) == 1
    info = duckdb_trust.app.state.trust.compile.cache_info()
    assert value(after, "gql_trust_plan_cache_size") == info.currsize > 0
    assert value(after, "gql_trust_plan_cache_misses_total") == info.misses


async def test_disclosure_cells_are_counted(duckdb_trust: TrustUnderTest) -> None:
    before = await scrape(duckdb_trust.client)
    body = await duckdb_trust.query(
        "{ claimants(geography: REGION) { period area { code } claimants } }", who="hmrc"
    )
    after = await scrape(duckdb_trust.client)
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
    samples = await scrape(broken_app)
    assert value(samples, "gql_trust_source_ready", source="dwp") == 0
    assert value(samples, "gql_trust_source_ready", source="hmrc") == 1
    assert value(samples, "gql_trust_source_ready", source="ons") == 1
    assert value(samples, "gql_trust_http_requests_total", route="/metrics", method="GET",
                 status="200") == 0  # fmt: skip
    assert await scrape(duckdb_trust.client)


async def test_openmetrics_when_asked(duckdb_trust: TrustUnderTest) -> None:
    response = await duckdb_trust.client.get(
        "/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"}
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/openmetrics-text")
    assert response.text.rstrip().endswith("# EOF")
