"""Fixtures: the trust served on a real port, the DfE example subgraph and Hive Gateway.

Node.js and npm are needed for the gateway. Locally the gateway tests skip without them;
in CI (``CI`` set) they fail, so the gateway tests always run there.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from gql_trust.app import create_app
from gql_trust.config import Settings, load_settings
from tests.conftest import auth_headers
from tests.federation import harness
from tests.servers import serving


def skip_or_fail(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


@dataclass
class Stack:
    """The running federation: our subgraph (with its app, to count source queries),
    the DfE subgraph and the gateway in front of both."""

    app: Any
    settings: Settings
    trust_url: str
    dfe_url: str
    gateway_url: str

    def headers(self, who: str) -> dict[str, str]:
        return auth_headers(self.settings, who)

    def post(
        self,
        url: str,
        query: str,
        variables: dict[str, Any] | None = None,
        who: str = "public",
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        return httpx.post(
            url,
            json={"query": query, "variables": variables or {}},
            headers={**self.headers(who), **(headers or {})},
            timeout=60,
        )

    def source_queries(self) -> int:
        return sum(s.stats.queries for s in self.app.state.trust.sources.values())


@pytest.fixture(scope="session")
def gateway_installed() -> None:
    missing = harness.missing_tools()
    if missing:
        skip_or_fail(f"the federation gateway tests need Node.js and npm; missing: {missing}")
    harness.install_gateway()


@pytest.fixture(scope="session")
def stack(
    gateway_installed: None, duckdb_trust_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    logs = tmp_path_factory.mktemp("federation-logs")
    settings = load_settings(duckdb_trust_dir / "gql-trust.toml")
    # Its own ledger file: the federation tests read back the entries they caused.
    ledger = dataclasses.replace(settings.ledger, path=logs / "ledger.sqlite")
    # The gateway runs on loopback: its transport header counts only from a trusted proxy.
    server = dataclasses.replace(settings.server, trusted_proxies=("127.0.0.1",))
    settings = dataclasses.replace(settings, ledger=ledger, server=server)
    app = create_app(settings)
    with (
        serving(app) as trust_base,
        harness.dfe_subgraph(logs) as dfe_url,
        harness.gateway({"trust": f"{trust_base}/graphql", "dfe": dfe_url}, logs) as gateway_url,
    ):
        yield Stack(app, settings, f"{trust_base}/graphql", dfe_url, gateway_url)
