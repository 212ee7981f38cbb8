"""PostgreSQL through an asyncpg pool; asyncpg prepares and caches each statement."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Any

import asyncpg

from ..config import SourceConfig
from ..errors import SourceTimeout, SourceUnavailable
from .base import Source


class PostgresSource(Source):
    kind = "postgres"
    dialect = "postgres"

    def __init__(self, config: SourceConfig) -> None:
        super().__init__(config)
        self._pool: asyncpg.Pool | None = None
        self._connecting = asyncio.Lock()

    async def start(self) -> None:
        # An unavailable source is reported by fetch/ping; the rest of the trust keeps serving.
        with contextlib.suppress(SourceUnavailable):
            await self._get_pool()

    async def _get_pool(self) -> asyncpg.Pool:
        async with self._connecting:
            if self._pool is None:
                timeout_ms = int(self.config.statement_timeout_s * 1000)
                try:
                    self._pool = await asyncpg.create_pool(
                        self.config.dsn,
                        min_size=1,
                        max_size=self.config.pool_size,
                        timeout=10,
                        server_settings={
                            "statement_timeout": str(timeout_ms),
                            "default_transaction_read_only": "on",
                            "application_name": "gql-trust",
                        },
                    )
                except (TimeoutError, OSError, asyncpg.PostgresError) as exc:
                    raise SourceUnavailable(f"source '{self.name}' is unavailable") from exc
            return self._pool

    async def fetch(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        pool = await self._get_pool()
        try:
            records = await pool.fetch(sql, *params)
        except asyncpg.QueryCanceledError as exc:
            raise SourceTimeout(f"source '{self.name}' timed out") from exc
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise SourceUnavailable(f"source '{self.name}' failed to answer") from exc
        return self._count([tuple(r) for r in records])

    async def ping(self) -> None:
        await self.fetch("SELECT 1", ())

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None
