"""Shared fixtures: a small demo trust (claimants in DuckDB and in PostgreSQL) and clients."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from gql_trust.app import create_app
from gql_trust.config import Settings, load_settings
from gql_trust.identity import mint_token
from tests.pg import fresh_database, server_dsn

# The demo principals of DESIGN.md, as token claims (plus variants for denial tests).
PRINCIPALS: dict[str, dict[str, Any]] = {
    "public": {},
    "dwp": {
        "dept": "DWP",
        "roles": ["analyst"],
        "purpose": "labour-market-analysis",
        "agreement": "DSA-LMDT-001",
    },
    "dwp-no-agreement": {"dept": "DWP", "roles": ["analyst"], "purpose": "research"},
    "dwp-wrong-purpose": {
        "dept": "DWP",
        "roles": ["analyst"],
        "purpose": "marketing",
        "agreement": "DSA-LMDT-001",
    },
    "hmrc": {"dept": "HMRC", "roles": ["analyst"]},
    "dfe": {"dept": "DfE", "roles": ["analyst"]},
    "la": {"dept": "LA", "roles": ["la-officer"], "area": "E08000025"},
    "auditor": {"dept": "TRUST", "roles": ["auditor"]},
    "operator": {"dept": "TRUST", "roles": ["operator"]},
}

SCALE = 0.02  # about 24,000 claimant rows: small cells exist, tests stay fast
SEED = 7


def auth_headers(settings: Settings, who: str) -> dict[str, str]:
    """The Authorization header of a demo principal (none for the public)."""
    claims = PRINCIPALS[who]
    if not claims:
        return {}
    token = mint_token(settings.auth, sub=f"test-{who}", **claims)  # type: ignore[arg-type]
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    with server_dsn() as dsn:
        yield dsn


@pytest.fixture(scope="session")
async def pg_dsn(pg_server: str) -> AsyncIterator[str]:
    """A fresh database on the test server, dropped afterwards."""
    async with fresh_database(pg_server, "gql_trust_test") as dsn:
        yield dsn


@pytest.fixture(scope="session")
def duckdb_trust_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from gql_trust.demo import generate

    directory = tmp_path_factory.mktemp("trust-duckdb")
    generate(directory, scale=SCALE, seed=SEED)
    return directory


@pytest.fixture(scope="session")
def postgres_trust_dir(tmp_path_factory: pytest.TempPathFactory, pg_dsn: str) -> Path:
    from gql_trust.demo import generate

    directory = tmp_path_factory.mktemp("trust-postgres")
    generate(directory, scale=SCALE, seed=SEED, postgres_dsn=pg_dsn)
    return directory


@dataclass
class TrustUnderTest:
    """A running app over demo data, with what an oracle needs to check it."""

    kind: str  # where claimants live: "duckdb" or "postgres"
    directory: Path
    settings: Settings
    client: httpx.AsyncClient
    app: Any
    pg_dsn: str | None

    def headers(self, who: str) -> dict[str, str]:
        return auth_headers(self.settings, who)

    async def query(
        self, query: str, variables: dict[str, Any] | None = None, who: str = "dwp"
    ) -> dict[str, Any]:
        """Ask as one of the demo principals (the DWP analyst unless told)."""
        response = await self.client.post(
            "/graphql",
            json={"query": query, "variables": variables or {}},
            headers=self.headers(who),
        )
        assert response.status_code == 200, response.text
        return response.json()

    async def data(
        self, query: str, variables: dict[str, Any] | None = None, who: str = "dwp"
    ) -> dict[str, Any]:
        body = await self.query(query, variables, who)
        assert "errors" not in body, body["errors"]
        return body["data"]

    @property
    def sources(self) -> dict[str, Any]:
        return self.app.state.trust.sources


async def _running(kind: str, directory: Path, pg_dsn: str | None) -> AsyncIterator[TrustUnderTest]:
    settings = load_settings(directory / "gql-trust.toml")
    app = create_app(settings)
    await app.state.trust.start()
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield TrustUnderTest(kind, directory, settings, client, app, pg_dsn)
    await app.state.trust.close()
    await app.state.ledger.close()  # started on first use: no lifespan here


@pytest.fixture(scope="session")
async def duckdb_trust(duckdb_trust_dir: Path) -> AsyncIterator[TrustUnderTest]:
    async for running in _running("duckdb", duckdb_trust_dir, None):
        yield running


@pytest.fixture(scope="session")
async def postgres_trust(postgres_trust_dir: Path, pg_dsn: str) -> AsyncIterator[TrustUnderTest]:
    async for running in _running("postgres", postgres_trust_dir, pg_dsn):
        yield running


@pytest.fixture(params=["duckdb", "postgres"])
def trust(request: pytest.FixtureRequest) -> TrustUnderTest:
    """Every test using this runs against both claimant sources."""
    return request.getfixturevalue(f"{request.param}_trust")


@pytest.fixture(scope="session")
def live_server(duckdb_trust_dir: Path) -> Iterator[str]:
    """The real app over the demo trust, on a real port (for the browser)."""
    from tests.servers import serving

    with serving(create_app(load_settings(duckdb_trust_dir / "gql-trust.toml"))) as url:
        yield url
