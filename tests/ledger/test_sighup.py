"""SIGHUP to `gql-trust serve --workers 2` re-reads the policies in both workers.

Polling is turned off (`[policies] poll_s = 0`), so only the signal can make an edit
take effect: a suspension written to disk changes nothing until SIGHUP, then every
connection, on either worker, is refused within 5 s; the ledger has the change once.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import sqlite3
import time
from pathlib import Path

import orjson
import psutil

from bench.load import encode_post
from bench.reliability_agreements import Traced, listening_workers
from gql_trust.config import bundled_dir, load_settings
from tests.conftest import auth_headers
from tests.ledger.conftest import trust_config
from tests.ledger.test_live_policies import PAY, suspend
from tests.ledger.test_workers import serving_workers

CONNECTIONS = 12


async def ask(conn: Traced, request: bytes) -> str:
    """OK, or the first error's code."""
    status, body = await asyncio.wait_for(conn.send(request), timeout=30)
    assert status == 200, body
    errors = orjson.loads(body).get("errors") or []
    return errors[0]["extensions"]["code"] if errors else "OK"


async def test_sighup_reloads_every_worker(small_trust_dir: Path, tmp_path: Path) -> None:
    policies = tmp_path / "policies"
    shutil.copytree(bundled_dir("policies"), policies)
    ledger = tmp_path / "ledger.sqlite"
    config = trust_config(
        small_trust_dir, {"kind": "sqlite", "path": str(ledger)}, policies=policies,
        extra="poll_s = 0\n",
    )  # fmt: skip
    settings = load_settings(config)
    assert settings.policies_poll_s == 0
    async with serving_workers(config, tmp_path) as (url, server):
        port = int(url.rsplit(":", 1)[1])
        workers = listening_workers(
            lambda: [
                c.pid
                for c in psutil.Process(server.pid).children()
                if "spawn_main" in " ".join(c.cmdline())  # not the resource tracker
            ],
            port,
        )
        request = encode_post(
            f"{url}/graphql", orjson.dumps({"query": PAY}), auth_headers(settings, "dwp")
        )
        connections = [Traced("127.0.0.1", port, workers) for _ in range(CONNECTIONS)]
        try:
            assert (
                await asyncio.gather(*(ask(c, request) for c in connections))
                == ["OK"] * CONNECTIONS
            )
            assert {c.worker for c in connections} == set(workers)  # both workers are asked

            suspend(policies)
            await asyncio.sleep(3)  # three times the usual poll: nothing polls here
            assert (
                await asyncio.gather(*(ask(c, request) for c in connections))
                == ["OK"] * CONNECTIONS
            )

            os.kill(server.pid, signal.SIGHUP)  # to the supervisor, as an operator sends it
            started = time.monotonic()
            while True:
                answers = await asyncio.gather(*(ask(c, request) for c in connections))
                if answers == ["FORBIDDEN"] * CONNECTIONS:
                    break
                assert time.monotonic() - started < 5, answers
                await asyncio.sleep(0.1)
            assert {c.worker for c in connections} == set(workers)  # the same two workers
        finally:
            for conn in connections:
                await conn.close()
        assert server.poll() is None  # reloaded, not restarted
    log = (tmp_path / "server.log").read_text()
    assert "Received SIGHUP" in log and log.count(" in force (was ") == 2, log
    with sqlite3.connect(f"file:{ledger}?mode=ro", uri=True) as db:
        (changes,) = db.execute(
            "SELECT count(*) FROM ledger_entries WHERE outcome = 'POLICY_CHANGE'"
        ).fetchone()
    assert changes == 1


def test_poll_s_out_of_range_is_a_clear_error(small_trust_dir: Path, tmp_path: Path) -> None:
    from gql_trust.errors import ConfigError

    for bad in ("10", "-1", '"soon"', "true"):
        config = trust_config(
            small_trust_dir, {"kind": "sqlite", "path": str(tmp_path / "l.sqlite")},
            policies=tmp_path, extra=f"poll_s = {bad}\n",
        )  # fmt: skip
        try:
            load_settings(config)
        except ConfigError as exc:
            assert "poll_s must be a number of seconds from 0 to 5" in str(exc)
        else:
            raise AssertionError(f"poll_s = {bad} was accepted")
