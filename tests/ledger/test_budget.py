"""Extraction budgets: per agreement per UTC day, reserved in the ledger's transaction."""

from __future__ import annotations

import asyncio
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from gql_trust.config import bundled_dir
from gql_trust.ledger import Outcome
from tests.ledger.conftest import running, sqlite_config

AGREEMENT = "DSA-LMDT-001"
SEVEN_CELLS = "{ vacancies(limit: 7) { period area { code } vacancies } }"


def policies_with_budget(tmp_path: Path, cells: int) -> Path:
    folder = tmp_path / "policies"
    shutil.copytree(bundled_dir("policies"), folder)
    path = folder / "agreements.yaml"
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    for agreement in raw["agreements"]:
        agreement["daily_cell_budget"] = cells
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return folder


def today() -> str:
    return datetime.now(UTC).date().isoformat()


async def test_the_request_that_would_exceed_gets_no_data(
    duckdb_trust_dir: Path, tmp_path: Path
) -> None:
    config = sqlite_config(duckdb_trust_dir, tmp_path, policies=policies_with_budget(tmp_path, 20))
    async with running(config) as app:
        for _ in range(2):
            body = (await app.post(SEVEN_CELLS)).json()
            assert len(body["data"]["vacancies"]) == 7
        response = await app.post(SEVEN_CELLS)
        assert response.status_code == 200
        body = response.json()
        assert set(body) == {"data", "errors", "extensions"} and body["data"] is None  # no cells
        assert set(body["extensions"]) == {"receipt"}  # only the proof it was recorded
        (error,) = body["errors"]
        assert error["extensions"]["code"] == "EXTRACTION_BUDGET_EXCEEDED"
        assert error["extensions"]["agreement"] == AGREEMENT
        entry = await app.last()
        assert entry.outcome is Outcome.BUDGET_EXCEEDED and entry.cells_returned == 0
        assert entry.agreement == AGREEMENT and entry.sources  # read, but not released
        assert await app.ledger.budget_used(AGREEMENT, today()) == 14
        # A smaller request still fits; callers without an agreement are not budgeted.
        assert len((await app.post("{ vacancies { vacancies } }")).json()["data"]["vacancies"]) == 1
        for who in ("public", "hmrc", "dwp-no-agreement"):
            assert "errors" not in (await app.post(SEVEN_CELLS, who)).json()
        assert await app.ledger.budget_used(AGREEMENT, today()) == 15
        assert (await app.ledger.verify()).ok


async def test_concurrent_requests_on_two_workers_never_overshoot(
    duckdb_trust_dir: Path, tmp_path: Path
) -> None:
    """Two apps on one ledger file stand for two worker processes."""
    config = sqlite_config(duckdb_trust_dir, tmp_path, policies=policies_with_budget(tmp_path, 100))
    async with running(config) as first, running(config) as second:
        responses = await asyncio.gather(
            *((first if n % 2 else second).post(SEVEN_CELLS) for n in range(30))
        )
        bodies = [r.json() for r in responses]
        served = [b for b in bodies if b.get("data")]
        refused = [b for b in bodies if not b.get("data")]
        assert len(served) == 14  # 14 x 7 = 98 <= 100 < 15 x 7
        assert all(
            b["errors"][0]["extensions"]["code"] == "EXTRACTION_BUDGET_EXCEEDED" for b in refused
        )
        used = await first.ledger.budget_used(AGREEMENT, today())
        assert used == 98 == sum(e.cells_returned for e in await first.entries())
        outcomes = [e.outcome for e in await second.entries()]
        assert outcomes.count(Outcome.BUDGET_EXCEEDED) == 16 and len(outcomes) == 30
        assert (await first.ledger.verify()).ok


@pytest.mark.parametrize("cells", [0, 5])
async def test_a_result_larger_than_the_whole_budget_is_refused(
    duckdb_trust_dir: Path, tmp_path: Path, cells: int
) -> None:
    config = sqlite_config(
        duckdb_trust_dir, tmp_path, policies=policies_with_budget(tmp_path, cells)
    )
    async with running(config) as app:
        body = (await app.post(SEVEN_CELLS)).json()
        assert body["errors"][0]["extensions"]["code"] == "EXTRACTION_BUDGET_EXCEEDED"
        assert "errors" not in (await app.post("{ vacancies(limit: 0) { vacancies } }")).json()
        assert await app.ledger.budget_used(AGREEMENT, today()) == 0


async def test_a_batch_is_one_entry_and_refused_whole(
    duckdb_trust_dir: Path, tmp_path: Path
) -> None:
    config = sqlite_config(
        duckdb_trust_dir,
        tmp_path,
        policies=policies_with_budget(tmp_path, 10),
        extra="\n[limits]\nmax_batch = 3\n",
    )
    async with running(config) as app:
        batch = [
            {"query": "query A { vacancies(limit: 4) { period vacancies } }"},
            {"query": "query B { vacancies(limit: 3) { period vacancies } }"},
        ]
        headers = app.headers("dwp")
        first = (await app.client.post("/graphql", json=batch, headers=headers)).json()
        assert [len(r["data"]["vacancies"]) for r in first] == [4, 3]
        (entry,) = await app.entries()
        assert entry.outcome is Outcome.OK and entry.cells_returned == 7
        assert entry.operation_name == "A, B"
        second = (await app.client.post("/graphql", json=batch, headers=headers)).json()
        assert [r["data"] for r in second] == [None, None]
        assert {r["errors"][0]["extensions"]["code"] for r in second} == {
            "EXTRACTION_BUDGET_EXCEEDED"
        }
        assert [e.outcome for e in await app.entries()] == [Outcome.OK, Outcome.BUDGET_EXCEEDED]
