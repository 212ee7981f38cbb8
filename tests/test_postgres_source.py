"""The PostgreSQL source's connection pool, against a real server."""

from __future__ import annotations

import asyncpg
import pytest

from tests.conftest import TrustUnderTest


async def test_connections_return_to_the_pool_without_a_reset_round_trip(
    postgres_trust: TrustUnderTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The trust only reads with the settings it connected with, so asyncpg's default
    reset (`RESET ALL; UNLISTEN *; ...`, one more round trip per query) is not sent,
    and the session keeps its read-only, time-limited settings."""
    resets: list[object] = []
    original = asyncpg.Connection.reset

    async def counting(self: asyncpg.Connection, **kwargs: object) -> None:
        resets.append(self)
        await original(self, **kwargs)

    monkeypatch.setattr(asyncpg.Connection, "reset", counting)
    source = postgres_trust.sources["dwp"]
    timeout_ms = int(source.config.statement_timeout_s * 1000)
    for _ in range(5):
        settings = await source.fetch(
            "SELECT current_setting('default_transaction_read_only'), setting "
            "FROM pg_settings WHERE name = 'statement_timeout'",
            [],
        )
        assert settings == [("on", str(timeout_ms))]
    assert resets == []
    with pytest.raises(Exception, match="failed to answer"):
        await source.fetch("CREATE TABLE nope (x int)", [])
