"""Source faults and timeouts: the failing part is null with a clear code, the rest is served."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest

from gql_trust.app import create_app
from gql_trust.config import Settings, load_settings
from tests.conftest import TrustUnderTest
from tests.pg import ThrowawayServer

MIXED = (
    "{ claimants(geography: COUNTRY) { area { code } claimants } "
    "  payrolledEmployees(geography: COUNTRY) { employees } "
    "  vacancies(geography: COUNTRY) { area { code } vacancies } }"
)


class Client:
    def __init__(self, client: httpx.AsyncClient, trust: TrustUnderTest) -> None:
        self.client, self.trust = client, trust

    async def ask(self, query: str = MIXED, who: str = "dwp") -> dict[str, Any]:
        response = await self.client.post(
            "/graphql", json={"query": query}, headers=self.trust.headers(who)
        )
        assert response.status_code == 200, response.text
        return response.json()


async def running(settings: Settings, trust: TrustUnderTest) -> AsyncIterator[Client]:
    app = create_app(settings)
    await app.state.trust.start()
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            yield Client(client, trust)
    finally:
        await app.state.trust.close()


def with_source(settings: Settings, name: str, **changes: Any) -> Settings:
    sources = dict(settings.sources)
    sources[name] = replace(sources[name], **changes)
    return replace(settings, sources=sources)


def codes(body: dict[str, Any]) -> dict[str, str]:
    return {e["path"][0]: e["extensions"]["code"] for e in body.get("errors", [])}


def assert_no_leak(body: dict[str, Any], *secrets: str) -> None:
    text = str(body)
    for secret in ("SELECT", "Traceback", ".parquet", ".csv", "postgresql://", *secrets):
        assert secret not in text


async def test_unreachable_database_fails_only_its_fields(duckdb_trust: TrustUnderTest) -> None:
    settings = with_source(
        duckdb_trust.settings, "dwp", kind="postgres", dsn="postgresql://x@127.0.0.1:1/none"
    )
    async for client in running(settings, duckdb_trust):
        body = await client.ask()
        assert codes(body) == {"claimants": "SOURCE_UNAVAILABLE"}
        assert body["data"]["claimants"] is None
        assert len(body["data"]["vacancies"]) == 3 and body["data"]["payrolledEmployees"]
        assert "claimants" in body["errors"][0]["message"]
        assert_no_leak(body, "127.0.0.1:1")
        ready = await client.client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["failing"] == ["dwp"]


async def test_missing_parquet_files_name_the_dataset(
    duckdb_trust: TrustUnderTest, tmp_path: Path
) -> None:
    relation = duckdb_trust.settings.sources["hmrc"].relations[0]
    empty = replace(relation, path=str(tmp_path / "missing" / "*.parquet"))
    settings = with_source(duckdb_trust.settings, "hmrc", relations=(empty,))
    async for client in running(settings, duckdb_trust):
        body = await client.ask()
        assert codes(body) == {"payrolledEmployees": "SOURCE_UNAVAILABLE"}
        assert "payrolledEmployees" in body["errors"][0]["message"]
        assert body["data"]["claimants"] and body["data"]["vacancies"]
        assert_no_leak(body, str(tmp_path))
        # Readiness touches the relation: `SELECT 1` alone said "ok" here.
        ready = await client.client.get("/readyz")
        assert ready.status_code == 503 and ready.json()["failing"] == ["hmrc"]


async def test_corrupt_csv_is_a_clear_error(duckdb_trust: TrustUnderTest, tmp_path: Path) -> None:
    corrupt = tmp_path / "vacancies.csv"
    corrupt.write_bytes(
        b"month,area_code,sic_section,vacancies\n2025-01-01,E08000025,A,many\n\x00\xff"
    )
    relation = replace(duckdb_trust.settings.sources["ons"].relations[0], path=str(corrupt))
    settings = with_source(duckdb_trust.settings, "ons", relations=(relation,))
    async for client in running(settings, duckdb_trust):
        body = await client.ask()
        assert codes(body) == {"vacancies": "SOURCE_UNAVAILABLE"}
        assert "vacancies" in body["errors"][0]["message"]
        assert body["data"]["claimants"]


async def test_duckdb_statement_timeout_interrupts_the_query(duckdb_trust: TrustUnderTest) -> None:
    settings = with_source(duckdb_trust.settings, "hmrc", statement_timeout_s=0.000001)
    heavy = (
        "{ payrolledEmployees(limit: 100000) { period area { code } sector { code } ageBand sex "
        "employees } claimants(geography: COUNTRY) { claimants } }"
    )
    async for client in running(settings, duckdb_trust):
        body = await client.ask(heavy)
        assert codes(body) == {"payrolledEmployees": "SOURCE_TIMEOUT"}
        assert body["data"]["claimants"]
        # the source is usable again right after
        again = await client.ask("{ vacancies(geography: COUNTRY) { vacancies } }")
        assert again["data"]["vacancies"]


async def test_postgres_statement_timeout_cancels_at_the_server(
    postgres_trust: TrustUnderTest,
) -> None:
    settings = with_source(postgres_trust.settings, "dwp", statement_timeout_s=0.001)
    async for client in running(settings, postgres_trust):
        body = await client.ask()
        assert codes(body) == {"claimants": "SOURCE_TIMEOUT"}
        assert body["data"]["vacancies"]


async def test_request_deadline_bounds_every_source(duckdb_trust: TrustUnderTest) -> None:
    settings = replace(
        duckdb_trust.settings,
        limits=replace(duckdb_trust.settings.limits, request_timeout_s=0.000001),
    )
    async for client in running(settings, duckdb_trust):
        body = await client.ask()
        assert set(codes(body).values()) == {"SOURCE_TIMEOUT"}


async def test_database_that_goes_down_and_comes_back(
    duckdb_trust: TrustUnderTest, tmp_path: Path
) -> None:
    """Down: its fields fail fast and /readyz names it. Back: served again, no restart."""
    from gql_trust.demo import generate

    server = ThrowawayServer()
    server.start()
    try:
        directory = tmp_path / "trust"
        generate(directory, scale=0.005, seed=3, postgres_dsn=server.dsn)
        own = load_settings(directory / "gql-trust.toml")
        settings = replace(own, auth=duckdb_trust.settings.auth)  # tokens from the shared keys
        async for client in running(settings, duckdb_trust):
            assert "errors" not in await client.ask()
            server.stop()
            down = await client.ask()
            assert codes(down) == {"claimants": "SOURCE_UNAVAILABLE"}
            assert down["data"]["vacancies"]
            assert (await client.client.get("/readyz")).status_code == 503
            server.start()
            for _ in range(60):  # the pool reconnects after its backoff
                body = await client.ask()
                if "errors" not in body:
                    break
                await asyncio.sleep(0.5)
            assert "errors" not in body, body
            assert (await client.client.get("/readyz")).status_code == 200
    finally:
        server.remove()


@pytest.fixture(autouse=True)
def _keep_demo_files(duckdb_trust_dir: Path) -> None:
    """These tests only ever point at copies or missing files, never edit the demo trust."""
    assert shutil.which("true")
