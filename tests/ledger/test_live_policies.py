"""Agreements amended while the trust runs: reloads, refusals, status, trusted documents."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from gql_trust.config import bundled_dir
from gql_trust.ledger import Outcome
from gql_trust.ledger.record import policy_version
from tests.ledger.conftest import Running, running, sqlite_config, trust_config

PAY = "{ payrolledEmployees(geography: COUNTRY) { period meanMonthlyPay } }"
CLAIMANTS = "{ claimants(geography: COUNTRY) { period claimants } }"


@pytest.fixture
def policies(tmp_path: Path) -> Path:
    directory = tmp_path / "policies"
    shutil.copytree(bundled_dir("policies"), directory)
    return directory


def set_agreement(policies: Path, old: str, new: str) -> None:
    path = policies / "agreements.yaml"
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def suspend(policies: Path, status: str = "suspended") -> None:
    set_agreement(
        policies, "    daily_cell_budget: 10000000\n",
        f"    daily_cell_budget: 10000000\n    status: {status}\n",
    )  # fmt: skip


def codes(body: dict[str, Any]) -> set[str]:
    return {e["extensions"]["code"] for e in body.get("errors", ())}


@contextlib.asynccontextmanager
async def app_with(trust_dir: Path, tmp_path: Path, policies: Path) -> AsyncIterator[Running]:
    async with running(sqlite_config(trust_dir, tmp_path, policies=policies)) as app:
        yield app


async def test_a_suspension_refuses_and_restoring_serves_again(
    duckdb_trust_dir: Path, tmp_path: Path, policies: Path
) -> None:
    async with app_with(duckdb_trust_dir, tmp_path, policies) as app:
        first = app.app.state.trust.policy.version
        assert first == policy_version(policies)
        assert not codes((await app.post(PAY)).json())
        suspend(policies)
        assert await app.app.state.policies.reload()
        second = policy_version(policies)
        change = await app.last()
        assert change.outcome is Outcome.POLICY_CHANGE
        assert (change.previous_policy_version, change.policy_version) == (first, second)
        for query in (PAY, CLAIMANTS):  # everything under the agreement, not only pay
            body = (await app.post(query)).json()
            assert body["data"][query.split("(")[0].strip("{ ")] is None
            (error,) = body["errors"]
            assert error["extensions"]["code"] == "FORBIDDEN"
            assert "DSA-LMDT-001" in error["extensions"]["reason"]
            assert "suspended" in error["extensions"]["reason"]
            entry = await app.last()
            assert entry.outcome is Outcome.DENIED and entry.policy_version == second
        # Without the agreement, the same analyst still reads what needs none.
        assert not codes((await app.post(CLAIMANTS, "dwp-no-agreement")).json())
        set_agreement(policies, "    status: suspended\n", "    status: revoked\n")
        assert await app.app.state.policies.reload()
        reason = (await app.post(PAY)).json()["errors"][0]["extensions"]["reason"]
        assert "revoked" in reason
        set_agreement(policies, "    status: revoked\n", "")
        assert await app.app.state.policies.reload()
        assert policy_version(policies) == first
        assert not codes((await app.post(PAY)).json())
        assert (await app.last()).policy_version == first
        changes = [e for e in await app.entries() if e.outcome is Outcome.POLICY_CHANGE]
        assert len(changes) == 3
        assert (await app.ledger.verify()).ok


BROKEN = {
    "invalid YAML": ("agreements.yaml", "agreements: [ {id: x\n"),
    "unknown status": ("agreements.yaml", None),
    "unknown dataset in a rule": (
        "policy.csv",
        "p, *, *, vacancie, *, *, allow, typo-rule,\n",
    ),
    "contradictory dates": ("agreements.yaml", "valid_from"),
    "a model Casbin cannot read": ("model.conf", "[matchers]\nm = (\n"),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
async def test_a_broken_edit_changes_nothing(
    duckdb_trust_dir: Path, tmp_path: Path, policies: Path, case: str
) -> None:
    name, text = BROKEN[case]
    async with app_with(duckdb_trust_dir, tmp_path, policies) as app:
        before = await app.entries()
        in_force = app.app.state.trust.policy
        path = policies / name
        if case == "unknown status":
            suspend(policies, "paused")
        elif case == "contradictory dates":
            set_agreement(policies, "valid_to: 2028-12-31", "valid_to: 2023-12-31")
        elif name == "policy.csv":
            path.write_text(path.read_text() + text)
        else:
            path.write_text(text)
        assert not await app.app.state.policies.reload()
        assert app.app.state.trust.policy is in_force  # the old set stays
        assert app.app.state.policies.stats.refused == 1
        assert not codes((await app.post(PAY)).json())
        assert (await app.last()).policy_version == in_force.version
        after = await app.entries()
        assert not [e for e in after[len(before) :] if e.outcome is Outcome.POLICY_CHANGE]
        metrics = await app.client.get("/metrics", headers=app.headers("auditor"))
        assert "gql_trust_policy_reload_refusals_total 1.0" in metrics.text
        assert not await app.app.state.policies.reload()  # logged once, not every poll


async def test_changes_are_seen_within_five_seconds_without_being_asked(
    duckdb_trust_dir: Path, tmp_path: Path, policies: Path
) -> None:
    async with app_with(duckdb_trust_dir, tmp_path, policies) as app:
        assert not codes((await app.post(PAY)).json())
        suspend(policies)
        loop = asyncio.get_running_loop()
        started = loop.time()
        while "FORBIDDEN" not in codes((await app.post(PAY)).json()):
            assert loop.time() - started < 5, "the suspension was not in force within 5 s"
            await asyncio.sleep(0.2)


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
async def test_many_workers_record_one_change(
    duckdb_trust_dir: Path, tmp_path: Path, policies: Path, kind: str, ledger_pg_dsn: str
) -> None:
    """Workers (and hosts, on PostgreSQL) each see the change; the ledger has it once."""
    if kind == "sqlite":
        ledger = {"kind": "sqlite", "path": str(tmp_path / "shared.sqlite")}
    else:
        ledger = {"kind": "postgres", "dsn": ledger_pg_dsn}
    config = trust_config(duckdb_trust_dir, ledger, policies=policies)
    async with running(config) as one, running(config) as two, running(config) as three:
        suspend(policies)
        done = await asyncio.gather(*(a.app.state.policies.reload() for a in (one, two, three)))
        assert done == [True, True, True]
        for app in (one, two, three):
            assert "FORBIDDEN" in codes((await app.post(PAY)).json())
        changes = [e for e in await one.entries() if e.outcome is Outcome.POLICY_CHANGE]
        assert len(changes) == 1
        assert (await one.ledger.verify()).ok


# ---- trusted documents ---------------------------------------------------------------------

DOCUMENT = "query Pay { payrolledEmployees(geography: COUNTRY) { period meanMonthlyPay } }"


def require_documents(policies: Path, operations: list[dict[str, Any]]) -> None:
    manifest = {"format": "apollo-persisted-query-manifest", "version": 1, "operations": operations}
    (policies / "DSA-LMDT-001.documents.json").write_text(json.dumps(manifest))
    set_agreement(
        policies, "    daily_cell_budget: 10000000\n",
        "    daily_cell_budget: 10000000\n    trusted_documents: DSA-LMDT-001.documents.json\n"
        "    require_trusted_documents: true\n",
    )  # fmt: skip


def operation(body: str) -> dict[str, Any]:
    digest = hashlib.sha256(body.encode()).hexdigest()
    return {"id": digest, "name": "Pay", "type": "query", "body": body}


async def test_trusted_documents_by_post_and_get(
    duckdb_trust_dir: Path, tmp_path: Path, policies: Path
) -> None:
    async with app_with(duckdb_trust_dir, tmp_path, policies) as app:
        require_documents(policies, [operation(DOCUMENT)])
        assert await app.app.state.policies.reload()
        digest = operation(DOCUMENT)["id"]
        headers = app.headers("dwp")
        free = (await app.post(PAY)).json()
        assert free.get("data") is None and codes(free) == {"FORBIDDEN"}  # a request error: no data
        assert "DSA-LMDT-001" in free["errors"][0]["extensions"]["reason"]
        assert (await app.last()).outcome is Outcome.DENIED
        by_post = await app.client.post(
            "/graphql", json={"documentId": f"sha256:{digest}"}, headers=headers
        )
        rows = by_post.json()["data"]["payrolledEmployees"]
        assert rows and "errors" not in by_post.json()
        entry = await app.last()
        assert entry.outcome is Outcome.OK and entry.operation_name == "Pay"
        assert entry.cells_returned == sum(1 for r in rows if r["meanMonthlyPay"] is not None)
        apollo = await app.client.post(
            "/graphql",
            json={"extensions": {"persistedQuery": {"version": 1, "sha256Hash": digest}}},
            headers=headers,
        )
        assert apollo.json()["data"] == by_post.json()["data"]
        by_get = await app.client.get(
            "/graphql", params={"documentId": f"sha256:{digest}"}, headers=headers
        )
        assert by_get.status_code == 200, (by_get.status_code, by_get.text[:300])
        assert by_get.text.startswith("{"), (by_get.headers, by_get.text[:300])
        assert by_get.json()["data"] == by_post.json()["data"]
        # Someone without the agreement may run a known document too, by GET.
        public = await app.client.get("/graphql", params={"documentId": f"sha256:{digest}"})
        assert codes(public.json()) == {"FORBIDDEN"}  # pay needs the agreement
        unknown = await app.client.post(
            "/graphql", json={"documentId": "sha256:" + "0" * 64}, headers=headers
        )
        assert codes(unknown.json()) == {"PERSISTED_QUERY_NOT_FOUND"}
        assert (await app.last()).outcome is Outcome.INVALID
        bad_variables = await app.client.get(
            "/graphql",
            params={"documentId": f"sha256:{digest}", "variables": "{not json"},
            headers=headers,
        )
        assert bad_variables.status_code == 400 and "errors" in bad_variables.json()
        free_get = await app.client.get("/graphql", params={"query": PAY}, headers=headers)
        assert free_get.status_code == 400


async def test_a_manifest_whose_ids_do_not_match_is_refused(
    duckdb_trust_dir: Path, tmp_path: Path, policies: Path
) -> None:
    async with app_with(duckdb_trust_dir, tmp_path, policies) as app:
        wrong = {**operation(DOCUMENT), "body": DOCUMENT.replace("period ", "")}
        require_documents(policies, [wrong])
        assert not await app.app.state.policies.reload()
        assert "SHA-256" in (app.app.state.policies.stats.last_error or "")
        assert not codes((await app.post(PAY)).json())  # the old set (no requirement) stays
        invalid = operation("{ payrolledEmployees { nope } }")
        require_documents(policies, [invalid])
        assert not await app.app.state.policies.reload()
        assert "not valid" in (app.app.state.policies.stats.last_error or "")


async def test_documents_add_puts_an_operation_in_force(
    duckdb_trust_dir: Path, tmp_path: Path, policies: Path
) -> None:
    from click.testing import CliRunner

    from gql_trust.cli import main

    async with app_with(duckdb_trust_dir, tmp_path, policies) as app:
        require_documents(policies, [])
        assert await app.app.state.policies.reload()
        query = tmp_path / "pay.graphql"
        query.write_text(DOCUMENT)
        config = str(app.settings.path)
        result = CliRunner().invoke(
            main,
            ["documents", "add", "--config", config, "--agreement", "DSA-LMDT-001", str(query)],
        )
        assert result.exit_code == 0, result.output
        document_id = result.output.strip()
        assert document_id == "sha256:" + hashlib.sha256(DOCUMENT.encode()).hexdigest()
        assert await app.app.state.policies.reload()
        body = (await app.client.post(
            "/graphql", json={"documentId": document_id}, headers=app.headers("dwp")
        )).json()  # fmt: skip
        assert body["data"]["payrolledEmployees"]
        unknown = CliRunner().invoke(
            main, ["documents", "add", "--config", config, "--agreement", "NOPE", str(query)]
        )
        assert unknown.exit_code == 2 and "NOPE" in unknown.output
