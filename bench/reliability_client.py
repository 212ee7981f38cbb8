"""The clients of the load-and-fault test: keep-alive HTTP/1.1 connections (the cheap
client of ``bench.load``) that send each request exactly once and time it."""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass, field
from typing import Any

from bench.load import _Connection, encode_post
from bench.reliability_mix import PRINCIPALS, WORKLOADS, Answer, Workload, judge, no_response


@dataclass(frozen=True)
class Sample:
    t: float  # seconds since the start
    rss_kib: int  # resident memory of the worker processes together
    workers: int  # how many worker processes there were
    cpu_s: float  # CPU time the workers have used so far (user + system)
    load1: float  # the machine's one-minute load average


@dataclass
class Timeline:
    started: float = 0.0  # perf_counter at t = 0
    pg_stopping: float | None = None  # seconds since start
    pg_stopped: float | None = None
    pg_starting: float | None = None
    pg_started: float | None = None
    ended: float | None = None
    ready_while_down: int | None = None  # /readyz status with PostgreSQL stopped
    ready_after: int | None = None  # and after the run
    verify_under_load: tuple[int, str] = (-1, "not run")  # `gql-trust audit verify` mid-run
    samples: list[Sample] = field(default_factory=list)  # the workers, about once a second
    worker_pids: set[int] = field(default_factory=set)

    def now(self) -> float:
        return time.perf_counter() - self.started


async def get_status(url: str, path: str) -> int:
    conn = _Connection("127.0.0.1", int(url.rsplit(":", 1)[1]))
    try:
        request = f"GET {path} HTTP/1.1\r\nHost: {url[7:]}\r\n\r\n".encode()
        status, _ = await asyncio.wait_for(conn.send(request), timeout=10)
        return status
    finally:
        await conn.close()


def _headers(who: str, settings: Any) -> dict[str, str]:
    from gql_trust.identity import mint_token

    if who == "bad-token":
        return {"Authorization": "Bearer not-a-token"}
    claims = PRINCIPALS[who]
    if not claims:
        return {}
    token = mint_token(settings.auth, sub=f"reliability-{who}", ttl_s=3 * 3600, **claims)
    return {"Authorization": f"Bearer {token}"}


class _Once(_Connection):
    """One request, one answer: never resent (a resent request would be a second ledger
    entry the count could not account for). A connection idle for longer than
    ``IDLE_S`` is replaced before it is used, as HTTP clients do: uvicorn closes
    keep-alive connections after 5 idle seconds, and a request written as it closes
    them is lost without an answer."""

    IDLE_S = 3.0

    def __init__(self, host: str, port: int) -> None:
        super().__init__(host, port)
        self.last_used = 0.0
        self.used = 0

    async def send(self, request: bytes) -> tuple[int, bytes]:
        now = time.perf_counter()
        stale = self.reader is not None and self.reader.at_eof()
        if self.writer is not None and (stale or now - self.last_used > self.IDLE_S):
            await self.close()
        if self.writer is None:
            await self._open()
            self.used = 0
        assert self.writer is not None
        self.used += 1
        idle = now - self.last_used if self.used > 1 else 0.0
        try:
            self.writer.write(request)
            await self.writer.drain()
            answer = await self._response()
        except asyncio.IncompleteReadError as exc:
            raise ConnectionClosed(
                f"closed with {len(exc.partial)} bytes read; request {self.used} on the "
                f"connection, idle {idle:.2f} s before it"
            ) from exc
        finally:
            self.last_used = time.perf_counter()
        return answer


class ConnectionClosed(ConnectionError):
    pass


async def ask(
    conn: _Once, workload: Workload, request: bytes, timeline: Timeline, timeout_s: float
) -> Answer:
    t0 = time.perf_counter()
    started = t0 - timeline.started
    own = _Once(conn.host, conn.port) if workload.fresh_connection else conn
    try:
        status, body = await asyncio.wait_for(own.send(request), timeout=timeout_s)
    except TimeoutError:
        await own.close()
        return no_response(workload, started, timeout_s * 1000, f"no answer in {timeout_s} s")
    except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
        await own.close()
        why = f"at {started:.2f} s: {exc!r}"[:300]
        return no_response(workload, started, (time.perf_counter() - t0) * 1000, why)
    finally:
        if own is not conn:
            await own.close()
    return judge(workload, started, (time.perf_counter() - t0) * 1000, status, body)


def requests_for(url: str, settings: Any) -> dict[str, bytes]:
    headers = {who: _headers(who, settings) for who in {w.who for w in WORKLOADS}}
    return {w.name: encode_post(f"{url}/graphql", w.body, headers[w.who]) for w in WORKLOADS}


async def load(
    url: str,
    requests: dict[str, bytes],
    clients: int,
    seconds: float,
    timeline: Timeline,
    timeout_s: float,
    seed: int = 1,
) -> list[Answer]:
    host, port = "127.0.0.1", int(url.rsplit(":", 1)[1])
    weights = [w.weight for w in WORKLOADS]
    answers: list[Answer] = []
    deadline = timeline.started + seconds

    async def client(index: int) -> None:
        rng = random.Random(seed * 1_000 + index)
        conn = _Once(host, port)
        try:
            while time.perf_counter() < deadline:
                (workload,) = rng.choices(WORKLOADS, weights)
                answer = await ask(conn, workload, requests[workload.name], timeline, timeout_s)
                answers.append(answer)
        finally:
            await conn.close()

    await asyncio.gather(*(client(i) for i in range(clients)))
    return answers


async def warm_up(
    url: str, requests: dict[str, bytes], timeline: Timeline, timeout_s: float
) -> list[Answer]:
    """Each workload twice, concurrently, on connections of their own (so both workers
    have parsed, planned and cached it before memory is first sampled)."""
    host, port = "127.0.0.1", int(url.rsplit(":", 1)[1])

    async def once(workload: Workload) -> Answer:
        conn = _Once(host, port)
        try:
            return await ask(conn, workload, requests[workload.name], timeline, timeout_s)
        finally:
            await conn.close()

    answers = []
    for _ in range(2):
        answers.extend(await asyncio.gather(*(once(w) for w in WORKLOADS)))
    return answers
