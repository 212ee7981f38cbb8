"""A PostgreSQL source that stops answering without closing its connections (frozen,
or behind a partition that drops packets) cannot hold a request past its deadline.

Stopped PostgreSQL refuses connections and resets them, which fails fast; a frozen one
accepts bytes and never replies. asyncpg's statement timeout then fires, but returning
the connection to the pool waits for the cancel request, which the frozen server never
answers: without a bound around the whole pool call, requests hung until it thawed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from gql_trust.app import create_app
from gql_trust.config import load_settings
from gql_trust.identity import mint_token
from tests.pg import ThrowawayServer

DEADLINE_S = 2.0
QUERY = (
    "{ claimants(geography: REGION) { period claimants } "
    "  vacancies(geography: COUNTRY) { period vacancies } }"
)


def _children(parent: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, ValueError, IndexError):
                stat = (entry / "stat").read_text()
                if int(stat[stat.rindex(")") + 2 :].split()[1]) == parent:
                    found.append(int(entry.name))
    return found


@contextlib.contextmanager
def frozen(server: ThrowawayServer) -> Iterator[None]:
    """SIGSTOP the cluster's postmaster and backends; SIGCONT them whatever happens."""
    postmaster = int((server.data / "postmaster.pid").read_text().split()[0])
    pids = [postmaster, *_children(postmaster)]
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)


async def test_a_frozen_database_cannot_hold_requests_past_the_deadline(tmp_path: Path) -> None:
    from gql_trust.demo import generate

    server = ThrowawayServer()
    server.start()
    try:
        config = generate(tmp_path / "trust", scale=0.005, seed=3, postgres_dsn=server.dsn)
        config.write_text(
            config.read_text(encoding="utf-8") + f"\n[limits]\nrequest_timeout_s = {DEADLINE_S}\n",
            encoding="utf-8",
        )
        settings = load_settings(config)
        token = mint_token(settings.auth, sub="t", dept="HMRC", roles=["analyst"])  # type: ignore[arg-type]
        app = create_app(settings)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(
                transport=transport, base_url="http://t", timeout=60
            ) as client:

                async def ask() -> tuple[float, dict[str, Any]]:
                    started = time.perf_counter()
                    response = await client.post(
                        "/graphql",
                        json={"query": QUERY},
                        headers={"Authorization": f"Bearer {token}"},
                    )
                    assert response.status_code == 200, response.text
                    return time.perf_counter() - started, response.json()

                assert "errors" not in (await ask())[1]
                with frozen(server):
                    answers = await asyncio.wait_for(
                        asyncio.gather(*(ask() for _ in range(8))), timeout=30
                    )
                    assert (await client.get("/readyz")).status_code == 503
                for elapsed, body in answers:
                    assert elapsed < DEADLINE_S + 3, elapsed
                    codes = {e["path"][0]: e["extensions"]["code"] for e in body["errors"]}
                    assert codes == {"claimants": "SOURCE_TIMEOUT"}, body["errors"]
                    assert body["data"]["claimants"] is None and body["data"]["vacancies"]
                # Thawed: served again, without a restart.
                for _ in range(20):
                    elapsed, body = await ask()
                    if "errors" not in body:
                        break
                    await asyncio.sleep(0.5)
                assert "errors" not in body, body
    finally:
        server.remove()
