"""PostgreSQL through an asyncpg pool; asyncpg prepares and caches each statement."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import asyncpg

from ..config import SourceConfig
from ..errors import ConfigError, SourceTimeout, SourceUnavailable
from .base import Source
from .registry import register

CANCEL_GRACE_S = 0.5  # past a statement's timeout, for its cancel to reach the server


@register
class PostgresSource(Source):
    kind = "postgres"
    dialect = "postgres"

    @classmethod
    def settings(
        cls, name: str, body: dict[str, Any], resolve: Callable[[str], Path], table: str
    ) -> SourceConfig:
        dsn = body.get("dsn")
        if not dsn:
            raise ConfigError(f"{table} of kind 'postgres' needs a 'dsn'")
        return SourceConfig(
            name=name,
            kind=cls.kind,
            dsn=str(dsn),
            schema=body.get("schema"),
            pool_size=int(body.get("pool_size", 8)),
            statement_timeout_s=float(body.get("statement_timeout_s", 30.0)),
        )

    def __init__(self, config: SourceConfig) -> None:
        super().__init__(config)
        self._pool: asyncpg.Pool | None = None
        self._connecting = asyncio.Lock()
        self._retry_at = 0.0
        self._backoff = 0.0

    async def start(self) -> None:
        # An unavailable source is reported by fetch/ping; the rest of the trust keeps serving.
        with contextlib.suppress(SourceUnavailable):
            await self._get_pool()

    async def _get_pool(self) -> asyncpg.Pool:
        async with self._connecting:
            if self._pool is None:
                # Back off after a failed connect, so a source that is down answers fast
                # instead of every request waiting on a doomed connection attempt.
                if time.monotonic() < self._retry_at:
                    raise SourceUnavailable(f"source '{self.name}' is unavailable")
                # A server-side backstop; the client-side timeout below cancels sooner.
                timeout_ms = int(max(self.config.statement_timeout_s, 1.0) * 1000)
                try:
                    self._pool = await asyncpg.create_pool(
                        self.config.dsn,
                        min_size=1,
                        max_size=self.config.pool_size,
                        timeout=5.0,  # connecting; statements have their own timeout
                        # Also bounds asyncpg's background cancel request, which would
                        # otherwise wait forever on a server that accepts but never answers.
                        command_timeout=max(self.config.statement_timeout_s, 1.0),
                        server_settings={
                            "statement_timeout": str(timeout_ms),
                            "default_transaction_read_only": "on",
                            "application_name": "gql-trust",
                        },
                        reset=_keep_session,
                    )
                except (TimeoutError, OSError, asyncpg.PostgresError) as exc:
                    self._backoff = min(self._backoff * 2 or 0.5, 10.0)
                    self._retry_at = time.monotonic() + self._backoff
                    raise SourceUnavailable(f"source '{self.name}' is unavailable") from exc
                self._backoff = 0.0
            return self._pool

    async def fetch(
        self, sql: str, params: Sequence[Any], timeout: float | None = None
    ) -> list[tuple[Any, ...]]:
        pool = await self._get_pool()
        try:
            # asyncpg cancels the statement on the server when the timeout passes;
            # the pool's statement_timeout bounds it too.
            limit = min(self.config.statement_timeout_s, timeout or float("inf"))
            # The statement's own timeout only covers the statement: waiting for a pooled
            # connection, and returning it after a timed-out statement (asyncpg waits for
            # its cancel request to be answered), are bounded here, so a server that has
            # stopped answering (frozen, partitioned) cannot hold a request past its deadline.
            async with asyncio.timeout(limit + CANCEL_GRACE_S):
                records = await pool.fetch(sql, *params, timeout=limit)
        except (asyncpg.QueryCanceledError, TimeoutError) as exc:
            raise SourceTimeout(f"source '{self.name}' timed out") from exc
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise SourceUnavailable(f"source '{self.name}' failed to answer") from exc
        return self._count([tuple(r) for r in records])

    async def ping(self) -> None:
        # Not through fetch: stats count what callers' queries read, not health checks.
        pool = await self._get_pool()
        try:
            await pool.fetchval("SELECT 1")
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise SourceUnavailable(f"source '{self.name}' failed to answer") from exc

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None


async def _keep_session(connection: asyncpg.Connection) -> None:
    """What a connection returning to the pool needs beyond asyncpg's own rollback of an
    open transaction: nothing. The trust only reads, with the session settings it
    connected with (no SET, LISTEN, cursors or advisory locks), so asyncpg's default
    reset (`RESET ALL; UNLISTEN *; ...`: one more round trip per query) has nothing to do."""
