"""Entries say what happened, not what the caller claims. Each test here failed while the
operation name came from a regex, the request id and the transport from the caller's
headers, the area and policy version went unrecorded and only GET and POST reached the
ledger."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

from gql_trust.config import bundled_dir
from gql_trust.ledger.record import Proxies, Requested, policy_version
from tests.ledger.conftest import running, sqlite_config

SMUGGLED = (
    "#\rquery RealExtraction { claimants(limit: 50) { period claimants } "
    'x: __type(name: """\nquery InnocentHealthCheck {""") { name } }'
)


def test_a_smuggled_name_in_a_comment_or_string_is_not_the_operations() -> None:
    # Per the GraphQL spec a lone CR ends a comment: the document's one operation is
    # RealExtraction; "InnocentHealthCheck" is only text inside a block string.
    assert Requested(SMUGGLED).name == "RealExtraction"
    assert Requested("#\rquery A { a }\n# query B {").name == "A"


async def test_the_executed_operation_is_recorded(duckdb_trust_dir: Path, tmp_path: Path) -> None:
    async with running(sqlite_config(duckdb_trust_dir, tmp_path)) as app:
        response = await app.post(SMUGGLED)
        assert response.status_code == 200
        entry = await app.last()
        assert entry.operation_name == "RealExtraction"
        assert entry.cells_returned == len(response.json()["data"]["claimants"]) > 0
        await app.post("query A { vacancies(limit: 1) { vacancies } }", operationName="B")
        assert (await app.last()).operation_name is None  # no operation B was executed


async def test_transport_and_address_count_only_from_a_trusted_proxy(
    duckdb_trust_dir: Path, tmp_path: Path
) -> None:
    forged = {"x-gql-trust-transport": "gateway", "x-forwarded-for": "203.0.113.9"}
    query = "{ vacancies(limit: 1) { vacancies } }"
    async with running(sqlite_config(duckdb_trust_dir, tmp_path)) as app:
        await app.client.post("/graphql", json={"query": query}, headers=forged)
        entry = await app.last()
        assert entry.transport == "http"
        assert entry.client_address == "127.0.0.1"  # httpx's ASGI client: the connection's
    trusted = '\n[server]\ntrusted_proxies = ["127.0.0.0/8"]\n'
    config = sqlite_config(duckdb_trust_dir, tmp_path / "p", extra="")
    text = config.read_text().replace("[server]\n", trusted.lstrip("\n"), 1)
    config.write_text(text)
    async with running(config) as app:
        headers = {**forged, "x-forwarded-for": "198.51.100.7, 203.0.113.9, 127.0.0.5"}
        await app.client.post("/graphql", json={"query": query}, headers=headers)
        entry = await app.last()
        assert entry.transport == "gateway"
        assert entry.client_address == "203.0.113.9"  # the nearest hop not a proxy


def test_forwarded_for_is_walked_from_the_right() -> None:
    proxies = Proxies(["10.0.0.0/8"])
    assert proxies.client_address("10.1.1.1", {"x-forwarded-for": "1.1.1.1, 10.2.2.2"}) == "1.1.1.1"
    assert proxies.client_address("192.0.2.1", {"x-forwarded-for": "1.1.1.1"}) == "192.0.2.1"
    assert proxies.client_address("10.1.1.1", {}) == "10.1.1.1"
    assert proxies.transport("192.0.2.1", {"x-gql-trust-transport": "gateway"}) == "http"
    assert proxies.transport("10.9.9.9", {"x-gql-trust-transport": "gateway"}) == "gateway"
    assert Proxies().client_address("not an ip\n", {}) == "not an ip\\n"


async def test_area_and_policy_version_are_recorded(duckdb_trust_dir: Path, tmp_path: Path) -> None:
    policies = tmp_path / "policies"
    shutil.copytree(bundled_dir("policies"), policies)
    # An independent oracle of "the SHA-256 of the policy files in force".
    digest = hashlib.sha256()
    for path in sorted(p for p in policies.rglob("*") if p.is_file()):
        name, content = path.relative_to(policies).as_posix().encode(), path.read_bytes()
        digest.update(len(name).to_bytes(8, "big") + name + len(content).to_bytes(8, "big"))
        digest.update(content)
    assert policy_version(policies) == digest.hexdigest()
    config = sqlite_config(duckdb_trust_dir, tmp_path, policies=policies)
    async with running(config) as app:
        await app.post("{ claimants(limit: 2) { area { code } claimants } }", "la")
        entry = await app.last()
        assert entry.area == "E08000025" and entry.dept == "LA"
        assert entry.policy_version == digest.hexdigest()
        log = (
            await app.post("{ auditLog(limit: 1) { area policyVersion leafHash } }", "auditor")
        ).json()["data"]["auditLog"]
        assert log == [
            {
                "area": "E08000025",
                "policyVersion": digest.hexdigest(),
                "leafHash": log[0]["leafHash"],
            }
        ]
    with (policies / "policy.csv").open("a") as out:
        out.write("\n# amended\n")
    async with running(sqlite_config(duckdb_trust_dir, tmp_path / "2", policies=policies)) as app:
        await app.post("{ vacancies(limit: 1) { vacancies } }")
        assert (await app.last()).policy_version not in (None, digest.hexdigest())


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH", "OPTIONS", "HEAD", "TRACE"])
async def test_every_method_on_graphql_is_recorded(
    duckdb_trust_dir: Path, tmp_path: Path, method: str
) -> None:
    async with running(sqlite_config(duckdb_trust_dir, tmp_path)) as app:
        response = await app.client.request(method, "/graphql", headers=app.headers("dwp"))
        assert response.status_code == 405
        assert response.headers["allow"] == "GET, POST"
        if method != "HEAD":
            assert response.json()["errors"][0]["extensions"]["code"] == "METHOD_NOT_ALLOWED"
        assert "X-Ledger-Receipt" in response.headers
        (entry,) = await app.entries()
        assert entry.outcome.value == "INVALID"


@pytest.mark.parametrize(
    "since",
    ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "not a time", "2026-13-01"],
)
async def test_audit_log_dates_out_of_range_are_a_clear_error(
    duckdb_trust_dir: Path, tmp_path: Path, since: str
) -> None:
    async with running(sqlite_config(duckdb_trust_dir, tmp_path)) as app:
        body = (
            await app.post(
                "query($s: String) { auditLog(where: {since: $s}) { id } }",
                "auditor",
                variables={"s": since},
            )
        ).json()
        (error,) = body["errors"]
        assert "where.since" in error["message"], error
        assert "Unexpected error" not in error["message"]
