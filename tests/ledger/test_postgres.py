"""The PostgreSQL sink: several hosts append to one chain and share one budget count."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg

from gql_trust.config import load_settings
from gql_trust.ledger import BudgetClaim, Ledger, Outcome
from gql_trust.ledger.postgres import PostgresSink
from tests.ledger.conftest import cli, running, trust_config
from tests.ledger.test_chain import entry


async def test_two_hosts_append_one_chain_within_one_budget(ledger_pg_dsn: str) -> None:
    hosts = [Ledger(PostgresSink(ledger_pg_dsn)) for _ in range(2)]
    await asyncio.gather(*(h.start() for h in hosts))  # both create the tables at once
    claim = BudgetClaim("DSA-X", "2026-01-01", cells=7, limit=500)
    written = await asyncio.gather(
        *(
            hosts[n % 2].append(entry(n, cells_returned=7, agreement="DSA-X"), claim)
            for n in range(200)
        )
    )
    assert sorted(w.entry.id for w in written) == list(range(1, 201))
    served = [w.entry for w in written if w.entry.outcome is Outcome.OK]
    assert len(served) == 71  # 71 x 7 = 497 <= 500 < 72 x 7
    assert await hosts[0].budget_used("DSA-X", "2026-01-01") == 497
    result = await hosts[1].verify()
    assert result.ok and result.entries == 200 and result.head.id == 200
    for host in hosts:
        await host.close()


async def test_tampering_in_postgres_is_named_by_the_cli(
    ledger_pg_dsn: str, duckdb_trust_dir: Path
) -> None:
    config = trust_config(duckdb_trust_dir, {"kind": "postgres", "dsn": ledger_pg_dsn})
    ledger = Ledger.from_config(load_settings(config).ledger)  # signs with the trust's key
    await asyncio.gather(*(ledger.append(entry(n)) for n in range(30)))
    await ledger.close()
    intact = await asyncio.to_thread(cli, "audit", "verify", "--config", config)
    assert intact.returncode == 0, intact.stderr
    assert intact.stdout.startswith("ledger intact: 30 entries")
    assert "postgres@" not in intact.stdout  # the DSN's user never shows
    conn = await asyncpg.connect(ledger_pg_dsn)
    await conn.execute("UPDATE ledger_entries SET cells_returned = 0 WHERE id = 17")
    await conn.close()
    broken = await asyncio.to_thread(cli, "audit", "verify", "--config", config)
    assert broken.returncode == 1
    assert "ledger broken at entry 17" in broken.stdout


async def test_the_app_records_to_a_postgres_ledger(
    ledger_pg_dsn: str, duckdb_trust_dir: Path
) -> None:
    config = trust_config(duckdb_trust_dir, {"kind": "postgres", "dsn": ledger_pg_dsn})
    async with running(config) as app:
        responses = await asyncio.gather(
            *(app.post("{ vacancies(limit: 2) { period vacancies } }") for _ in range(20))
        )
        assert {r.status_code for r in responses} == {200}
        entries = await app.entries()
        assert len(entries) == 20 and {e.cells_returned for e in entries} == {2}
        assert (await app.ledger.verify()).ok
