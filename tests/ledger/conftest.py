"""Apps with a ledger of their own, so each test can count exactly what it wrote."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from gql_trust.app import create_app
from gql_trust.config import Settings, load_settings
from gql_trust.ledger import AuditQuery, Entry, Ledger
from tests.conftest import auth_headers
from tests.pg import fresh_database

DEMO_LEDGER = '[ledger]\nkind = "sqlite"\npath = "ledger/ledger.sqlite"\n'


def trust_config(
    trust_dir: Path,
    ledger: dict[str, str],
    *,
    policies: Path | None = None,
    extra: str = "",
) -> Path:
    """A settings file next to the demo's (its relative paths still work) with its own
    ``[ledger]`` table, and optionally another policies folder."""
    text = (trust_dir / "gql-trust.toml").read_text(encoding="utf-8")
    assert DEMO_LEDGER in text
    table = "[ledger]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in ledger.items())
    text = text.replace(DEMO_LEDGER, table)
    if policies is not None:
        text += f"\n[policies]\ndir = {json.dumps(str(policies))}\n"
    text += extra
    path = trust_dir / f"gql-trust-{uuid.uuid4().hex[:8]}.toml"
    path.write_text(text, encoding="utf-8")
    return path


def sqlite_config(trust_dir: Path, tmp_path: Path, **kwargs: Any) -> Path:
    return trust_config(
        trust_dir, {"kind": "sqlite", "path": str(tmp_path / "ledger.sqlite")}, **kwargs
    )


@dataclass
class Running:
    app: Any
    settings: Settings
    client: httpx.AsyncClient

    @property
    def ledger(self) -> Ledger:
        return self.app.state.ledger  # type: ignore[no-any-return]

    def headers(self, who: str) -> dict[str, str]:
        return auth_headers(self.settings, who)

    async def post(
        self, query: str, who: str = "dwp", *, variables: Any = None, **body: Any
    ) -> httpx.Response:
        payload = {"query": query, "variables": variables, **body}
        return await self.client.post("/graphql", json=payload, headers=self.headers(who))

    async def entries(self) -> list[Entry]:
        """Every entry, oldest first."""
        return list(reversed(await self.ledger.entries(AuditQuery(limit=1_000_000))))

    async def last(self) -> Entry:
        (entry,) = await self.ledger.entries(AuditQuery(limit=1))
        return entry


@contextlib.asynccontextmanager
async def running(config: Path) -> AsyncIterator[Running]:
    """The app with its lifespan (which opens and closes the ledger)."""
    settings = load_settings(config)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield Running(app, settings, client)


@pytest.fixture
async def trust_app(duckdb_trust_dir: Path, tmp_path: Path) -> AsyncIterator[Running]:
    async with running(sqlite_config(duckdb_trust_dir, tmp_path)) as app:
        yield app


@pytest.fixture
async def ledger_pg_dsn(pg_server: str) -> AsyncIterator[str]:
    """A fresh PostgreSQL database per test: a ledger of its own."""
    async with fresh_database(pg_server, "gql_trust_ledger") as dsn:
        yield dsn


@pytest.fixture(scope="session")
def small_trust_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A demo trust of its own at scale 0.01, for tests that run real server processes."""
    from gql_trust.demo import generate

    directory = tmp_path_factory.mktemp("trust-small")
    generate(directory, scale=0.01, seed=11)
    yield directory


def cli(*args: str | Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """The installed `gql-trust` command, as an operator runs it."""
    executable = Path(sys.executable).with_name("gql-trust")
    return subprocess.run(
        [str(executable), *(str(a) for a in args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
