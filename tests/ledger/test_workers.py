"""`gql-trust serve --workers 2`: two processes, one unbroken chain, one entry per request,
and connections spread across both workers."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import psutil

from bench.reliability_agreements import listening_workers
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


@contextlib.asynccontextmanager
async def serving_workers(
    config: Path, tmp_path: Path, workers: int = 2
) -> AsyncIterator[tuple[str, subprocess.Popen[bytes]]]:
    """`gql-trust serve --workers N` as an operator starts it: (its URL, the process)."""
    port, log = free_port(), tmp_path / "server.log"
    command = Path(sys.executable).with_name("gql-trust")
    with log.open("wb") as out:
        server = subprocess.Popen(
            [command, "serve", "--config", config, "--port", str(port), "--workers", str(workers)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        await wait_until_up(url, server, log)
        yield url, server
    finally:
        server.terminate()
        server.wait(timeout=30)
    started = log.read_text().count("Started server process")
    assert started == workers, log.read_text()


async def test_two_workers_append_one_chain(small_trust_dir: Path, tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.sqlite"
    config = trust_config(small_trust_dir, {"kind": "sqlite", "path": str(ledger)})
    settings = load_settings(config)
    async with serving_workers(config, tmp_path) as (url, _):
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


async def test_connections_spread_across_workers(small_trust_dir: Path, tmp_path: Path) -> None:
    """Each worker accepts on its own SO_REUSEPORT socket, so the kernel divides new
    connections between the workers whichever of them is awake when they arrive. (With
    one shared socket, the first worker to wake takes a whole burst of keep-alive
    connections and keeps them.) One worker is paused while 64 connections arrive."""
    config = trust_config(
        small_trust_dir, {"kind": "sqlite", "path": str(tmp_path / "ledger.sqlite")}
    )
    async with serving_workers(config, tmp_path) as (url, server):
        port = int(url.rsplit(":", 1)[1])

        def spawned() -> list[int]:
            return [
                child.pid
                for child in psutil.Process(server.pid).children()
                if "spawn_main" in " ".join(child.cmdline())  # not the resource tracker
            ]

        # Both listening first: a worker still starting has bound its socket but not
        # listened yet, and the kernel would send every connection to the other.
        pids = await asyncio.to_thread(listening_workers, spawned, port)
        workers = [psutil.Process(pid) for pid in pids]

        def held() -> list[int]:
            return [
                sum(
                    1
                    for c in w.net_connections(kind="tcp")
                    if c.laddr and c.laddr.port == port and c.status == "ESTABLISHED"
                )
                for w in workers
            ]

        async def settled(deadline_s: float = 10) -> list[int]:
            """Each worker's connections once they stop changing."""
            deadline, last = time.monotonic() + deadline_s, held()
            while time.monotonic() < deadline:
                await asyncio.sleep(0.3)
                now = held()
                if now == last and sum(now) > 0:
                    return now
                last = now
            return last

        workers[0].suspend()
        try:
            burst = [socket.create_connection(("127.0.0.1", port)) for _ in range(64)]
            await settled()  # the running worker has taken all it will
        finally:
            workers[0].resume()
        try:
            counts = await settled()
        finally:
            for connection in burst:
                connection.close()
    assert sum(counts) == len(burst), counts
    # By a hash of each client's port: about half each (fewer than 16 of 64: p < 1e-4).
    assert min(counts) >= 16, counts


def test_a_taken_address_stops_the_server_at_once(small_trust_dir: Path, tmp_path: Path) -> None:
    config = trust_config(
        small_trust_dir, {"kind": "sqlite", "path": str(tmp_path / "ledger.sqlite")}
    )
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = cli("serve", "--config", config, "--port", str(port), "--workers", "2")
    assert result.returncode == 3, result.stdout + result.stderr
    assert "Address already in use" in result.stderr
    assert "Started server process" not in result.stderr
