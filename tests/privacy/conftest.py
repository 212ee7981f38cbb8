"""A trust of its own for privacy tests: they spend the agreement's budget."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from gql_trust.identity import mint_token
from tests.conftest import SCALE, SEED, TrustUnderTest, _running

DFE_DP = {"dept": "DfE", "roles": ["analyst"], "purpose": "research", "agreement": "DSA-LMDT-002"}


async def ask_dp(trust: TrustUnderTest, query: str, variables: dict[str, Any]) -> dict[str, Any]:
    """Ask as the DfE analyst under DSA-LMDT-002 (purpose research)."""
    token = mint_token(trust.settings.auth, sub="test-dfe-dp", **DFE_DP)  # type: ignore[arg-type]
    response = await trust.client.post(
        "/graphql",
        json={"query": query, "variables": variables},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


@pytest.fixture
def dp_trust_dir(tmp_path: Path) -> Path:
    from gql_trust.demo import generate

    generate(tmp_path, scale=SCALE, seed=SEED)
    return tmp_path


@pytest.fixture
async def dp_trust(dp_trust_dir: Path) -> AsyncIterator[TrustUnderTest]:
    async for running in _running("duckdb", dp_trust_dir, None):
        yield running
