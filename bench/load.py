"""A small, cheap load generator: keep-alive HTTP/1.1 over asyncio streams.

A general-purpose client (httpx) spends a few hundred microseconds of CPU per
request, which on a 2-core machine is taken from the server being measured.
This client pre-encodes the request once and only parses the status line and
``Content-Length`` (or chunked) framing, so nearly all the CPU goes to the server.

Every run is bounded: it stops at ``max_requests`` or when ``duration_s`` has passed
and at least ``min_requests`` have completed, whichever comes first.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit


@dataclass
class LoadResult:
    concurrency: int
    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0
    first_error: str | None = None
    wall_s: float = 0.0

    @property
    def requests(self) -> int:
        return len(self.latencies_ms)

    def summary(self) -> dict[str, Any]:
        return {
            "concurrency": self.concurrency,
            "requests": self.requests,
            "errors": self.errors,
            "first_error": self.first_error,
            "wall_s": round(self.wall_s, 3),
            "p50_ms": percentile(self.latencies_ms, 50),
            "p95_ms": percentile(self.latencies_ms, 95),
            "rps": round(self.requests / self.wall_s, 2) if self.wall_s > 0 else None,
        }


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile, rounded to 0.01 ms."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))  # ceil(n * q / 100)
    return round(ordered[int(rank) - 1], 2)


class _Connection:
    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def _open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(OSError):
                await self.writer.wait_closed()
            self.writer = None

    async def send(self, request: bytes) -> tuple[int, bytes]:
        for attempt in (1, 2):  # a keep-alive connection the server closed: reconnect once
            if self.writer is None:
                await self._open()
            assert self.reader is not None and self.writer is not None
            try:
                self.writer.write(request)
                await self.writer.drain()
                return await self._response()
            except (ConnectionError, asyncio.IncompleteReadError):
                await self.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    async def _response(self) -> tuple[int, bytes]:
        assert self.reader is not None
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        if "content-length" in headers:
            body = await self.reader.readexactly(int(headers["content-length"]))
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            parts = []
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                if size == 0:
                    await self.reader.readuntil(b"\r\n")
                    break
                parts.append(await self.reader.readexactly(size))
                await self.reader.readexactly(2)
            body = b"".join(parts)
        else:
            body = await self.reader.read()
            await self.close()
        if headers.get("connection", "").lower() == "close":
            await self.close()
        return status, body


def encode_post(url: str, body: bytes, headers: dict[str, str] | None = None) -> bytes:
    parts = urlsplit(url)
    lines = [
        f"POST {parts.path or '/'} HTTP/1.1",
        f"Host: {parts.netloc}",
        "Content-Type: application/json",
        "Accept: application/json",
        f"Content-Length: {len(body)}",
        *(f"{k}: {v}" for k, v in (headers or {}).items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def _is_error(status: int, body: bytes) -> bool:
    return status != 200 or b'"errors":' in body


async def http_load(
    url: str,
    body: bytes,
    headers: dict[str, str] | None,
    *,
    concurrency: int,
    duration_s: float,
    min_requests: int,
    max_requests: int,
    warmup: int = 0,
) -> LoadResult:
    """POST ``body`` to ``url`` from ``concurrency`` keep-alive clients."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    request = encode_post(url, body, headers)
    result = LoadResult(concurrency)
    connections = [_Connection(host, port) for _ in range(concurrency)]

    def sender(conn: _Connection) -> Send:
        async def send() -> str | None:
            status, reply = await conn.send(request)
            return reply[:500].decode(errors="replace") if _is_error(status, reply) else None

        return send

    try:
        for i in range(warmup):  # also opens connections
            await connections[i % concurrency].send(request)
        await _bounded(
            result,
            [sender(c) for c in connections],
            duration_s=duration_s,
            min_requests=min_requests,
            max_requests=max_requests,
        )
    finally:
        for conn in connections:
            await conn.close()
    return result


async def call_load(
    call: Any,
    *,
    concurrency: int,
    duration_s: float,
    min_requests: int,
    max_requests: int,
    warmup: int = 0,
) -> LoadResult:
    """The same bounded loop around an async callable (for the raw-source baselines)."""
    result = LoadResult(concurrency)
    for _ in range(warmup):
        await call()

    async def send() -> None:
        await call()

    await _bounded(
        result,
        [send] * concurrency,
        duration_s=duration_s,
        min_requests=min_requests,
        max_requests=max_requests,
    )
    return result


Send = Callable[[], Awaitable[str | None]]  # one request; an error's text, or None


async def _bounded(
    result: LoadResult,
    clients: list[Send],
    *,
    duration_s: float,
    min_requests: int,
    max_requests: int,
) -> None:
    """Each client sends one request after another until the time is up and the minimum
    is reached, or the maximum is. A request that raises is an error without a latency;
    one that returns an error's text is an error with its latency."""
    started = time.perf_counter()
    deadline = started + duration_s
    issued = 0

    async def client(send: Send) -> None:
        nonlocal issued
        while issued < max_requests and (time.perf_counter() < deadline or issued < min_requests):
            issued += 1
            t0 = time.perf_counter()
            try:
                error = await send()
            except Exception as exc:
                result.errors += 1
                result.first_error = result.first_error or repr(exc)
                continue
            result.latencies_ms.append((time.perf_counter() - t0) * 1000)
            if error is not None:
                result.errors += 1
                result.first_error = result.first_error or error

    await asyncio.gather(*(client(send) for send in clients))
    result.wall_s = time.perf_counter() - started
