"""`gql-trust serve --workers 2`: two processes, one unbroken chain, one entry per request."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx

from gql_trust.config import load_settings
from gql_trust.identity import mint_token
from tests.conftest import PRINCIPALS
from tests.ledger.conftest import cli, trust_config
from tests.servers import free_port

REQUESTS = 200


async def wait_until_up(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    async with httpx.AsyncClient() as client:
        while time.monotonic() < deadline:
            assert process.poll() is None, log.read_text()
            try:
                if (await client.get(f"{url}/healthz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.2)
    raise AssertionError(f"the server did not start:\n{log.read_text()}")


async def test_two_workers_append_one_chain(small_trust_dir: Path, tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.sqlite"
    config = trust_config(small_trust_dir, {"kind": "sqlite", "path": str(ledger)})
    settings = load_settings(config)
    port, log = free_port(), tmp_path / "server.log"
    command = Path(sys.executable).with_name("gql-trust")
    with log.open("wb") as out:
        server = subprocess.Popen(
            [command, "serve", "--config", config, "--port", str(port), "--workers", "2"],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        await wait_until_up(url, server, log)
        who = ["dwp", "public", "hmrc", "auditor"]
        tokens = {
            w: mint_token(settings.auth, sub=f"load-{w}", **PRINCIPALS[w])  # type: ignore[arg-type]
            for w in who
            if PRINCIPALS[w]
        }
        queries = [
            "{ vacancies(limit: 5) { period vacancies } }",
            "{ claimants(limit: 5) { period claimants } }",
            "{ auditLog(limit: 3) { id hash } }",
        ]

        async def one(client: httpx.AsyncClient, n: int) -> int:
            headers = (
                {"Authorization": f"Bearer {tokens[who[n % 4]]}"} if who[n % 4] in tokens else {}
            )
            if n % 25 == 0:
                headers = {"Authorization": "Bearer not-a-token"}
            response = await client.post(
                f"{url}/graphql", json={"query": queries[n % 3]}, headers=headers, timeout=60
            )
            return response.status_code

        limits = httpx.Limits(max_connections=REQUESTS)
        async with httpx.AsyncClient(limits=limits) as client:
            load = asyncio.gather(*(one(client, n) for n in range(REQUESTS)))
            during = asyncio.to_thread(cli, "audit", "verify", "--config", config)
            statuses, verified_during = await asyncio.gather(load, during)
        assert set(statuses) <= {200, 401} and statuses.count(401) == REQUESTS // 25
        assert verified_during.returncode == 0, verified_during.stdout + verified_during.stderr

        after = await asyncio.to_thread(cli, "audit", "verify", "--config", config)
        assert after.returncode == 0, after.stdout + after.stderr
        assert after.stdout.startswith(f"ledger intact: {REQUESTS} entries")
        with sqlite3.connect(f"file:{ledger}?mode=ro", uri=True) as conn:
            (count,) = conn.execute("SELECT count(*) FROM ledger_entries").fetchone()
        assert count == REQUESTS
    finally:
        server.terminate()
        server.wait(timeout=30)
    started = log.read_text().count("Started server process")
    assert started == 2, log.read_text()


async def test_the_cli_names_a_tampered_entry(small_trust_dir: Path, tmp_path: Path) -> None:
    from tests.ledger.conftest import running

    config = trust_config(
        small_trust_dir, {"kind": "sqlite", "path": str(tmp_path / "ledger.sqlite")}
    )
    async with running(config) as app:
        for _ in range(6):
            await app.post("{ vacancies(limit: 1) { vacancies } }")
    ok = await asyncio.to_thread(cli, "audit", "verify", "--config", config)
    assert ok.returncode == 0 and ok.stdout.startswith("ledger intact: 6 entries"), ok.stderr
    with sqlite3.connect(tmp_path / "ledger.sqlite") as conn:
        conn.execute("UPDATE ledger_entries SET outcome = 'DENIED' WHERE id = 4")
    broken = await asyncio.to_thread(cli, "audit", "verify", "--config", config)
    assert broken.returncode == 1
    assert broken.stdout.startswith("ledger broken at entry 4:"), broken.stdout
    missing = trust_config(small_trust_dir, {"kind": "sqlite", "path": str(tmp_path / "no")})
    absent = await asyncio.to_thread(cli, "audit", "verify", "--config", missing)
    assert absent.returncode == 2 and "no ledger" in absent.stderr
