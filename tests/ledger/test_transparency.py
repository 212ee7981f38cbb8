"""The ledger as a transparency log, attacked the way an operator with database access
would: a witness holding a checkpoint must refuse a truncated, rewritten or forked log
and accept an honest one that grew; receipts from responses verify with the CLI."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import httpx
import pytest

from gql_trust.config import load_settings
from gql_trust.ledger import merkle
from gql_trust.ledger.note import Verifier, open_checkpoint
from tests.conftest import auth_headers
from tests.ledger.conftest import cli, running, sqlite_config, trust_config
from tests.ledger.test_workers import serving_workers, wait_until_up
from tests.servers import free_port

QUERY = "{ vacancies(limit: 3) { period vacancies } }"


def vkey_of(trust_dir: Path) -> Path:
    return trust_dir / "keys" / "ledger.vkey"


async def traffic(url: str, headers: dict[str, str], count: int) -> list[httpx.Response]:
    async with httpx.AsyncClient(timeout=60) as client:
        return list(
            await asyncio.gather(
                *(
                    client.post(f"{url}/graphql", json={"query": QUERY}, headers=headers)
                    for _ in range(count)
                )
            )
        )


def witness(url: str, vkey: Path, state: Path) -> subprocess.CompletedProcess[str]:
    return cli("audit", "witness", "--url", url, "--vkey", vkey, "--state", state)


# -- In process: the endpoints and receipts ----------------------------------------------


async def test_every_response_carries_a_receipt_that_proves_its_entry(
    duckdb_trust_dir: Path, tmp_path: Path
) -> None:
    verifier = Verifier.parse(vkey_of(duckdb_trust_dir).read_text())
    async with running(sqlite_config(duckdb_trust_dir, tmp_path)) as app:
        dwp = app.headers("dwp")
        responses = [
            await app.post(QUERY),  # OK
            await app.post("{ claimants(limit: 2) { period claimants } }", "public"),  # DENIED
            await app.post("{ nope }"),  # INVALID
            await app.client.post("/graphql", json={"query": QUERY}),  # no token
            await app.client.post(
                "/graphql", json={"query": QUERY}, headers={"Authorization": "Bearer x"}
            ),  # 401
            await app.client.put("/graphql", json={"query": QUERY}, headers=dwp),  # 405
            await app.client.post("/graphql", content=b"{not json", headers=dwp),  # 400
        ]
        statuses = [r.status_code for r in responses]
        assert statuses == [200, 200, 200, 200, 401, 405, 400]
        entries = await app.entries()
        assert len(entries) == len(responses)
        for n, (response, entry) in enumerate(zip(responses, entries, strict=True), start=1):
            receipt = response.json()["extensions"]["receipt"]
            header = json.loads(base64.b64decode(response.headers["X-Ledger-Receipt"]))
            assert header == receipt
            assert receipt["entry"] == entry.id == n
            leaf = base64.b64decode(receipt["leafHash"])
            assert leaf == merkle.leaf_hash(entry.leaf_bytes())
            checkpoint = open_checkpoint(receipt["checkpoint"], verifier)
            assert checkpoint.size == receipt["treeSize"] >= n
            proof = (
                await app.client.get("/ledger/proof", params={"entry": n, "size": checkpoint.size})
            ).json()
            assert proof["leafHash"] == receipt["leafHash"]
            hashes = [base64.b64decode(h) for h in proof["inclusion"]]
            merkle.verify_inclusion(n - 1, checkpoint.size, leaf, hashes, checkpoint.root)
        assert [e.outcome.value for e in entries] == [
            "OK",
            "DENIED",
            "INVALID",
            "OK",  # the public may ask for open data
            "UNAUTHENTICATED",
            "INVALID",
            "INVALID",
        ]
        newest = await app.client.get("/ledger/checkpoint")
        assert newest.headers["content-type"].startswith("text/plain")
        head = open_checkpoint(newest.text, verifier)
        assert head.origin == "gql-trust.demo/ledger" and head.size == len(entries)
        roots = [merkle.leaf_hash(e.leaf_bytes()) for e in entries]
        assert head.root == merkle.root_of(merkle.append_leaves(0, [], roots)[1])
        proof = (await app.client.get("/ledger/consistency?from=3&to=7")).json()
        earlier = open_checkpoint(
            responses[2].json()["extensions"]["receipt"]["checkpoint"], verifier
        )
        assert earlier.size == 3
        merkle.verify_consistency(
            3, 7, earlier.root, head.root, [base64.b64decode(h) for h in proof["consistency"]]
        )


@pytest.mark.parametrize(
    ("path", "status", "says"),
    [
        ("/ledger/proof", 400, "give ?entry=N"),
        ("/ledger/proof?entry=0", 400, "between 1 and size"),
        ("/ledger/proof?entry=3&size=2", 400, "between 1 and size"),
        ("/ledger/proof?entry=1&size=99", 404, "has 2 entries"),
        ("/ledger/proof?entry=-1", 400, "whole number"),
        ("/ledger/proof?entry=1e3", 400, "whole number"),
        ("/ledger/proof?entry=" + "9" * 40, 400, "whole number"),
        ("/ledger/consistency?from=3&to=2", 400, "between 0 and to"),
        ("/ledger/consistency?from=1&to=3", 404, "has 2 entries"),
        ("/ledger/consistency", 400, "give ?from=N"),
    ],
)
async def test_bad_proof_requests_get_a_clear_error(
    duckdb_trust_dir: Path, tmp_path: Path, path: str, status: int, says: str
) -> None:
    async with running(sqlite_config(duckdb_trust_dir, tmp_path)) as app:
        empty = await app.client.get("/ledger/checkpoint")
        assert empty.status_code == 404 and "empty" in empty.json()["errors"][0]["message"]
        await app.post(QUERY)
        await app.post(QUERY)
        response = await app.client.get(path)
        assert response.status_code == status
        assert says in response.json()["errors"][0]["message"]


# -- Real servers, the witness and receipt commands ----------------------------------------


async def test_receipts_saved_from_responses_verify_with_the_cli(
    small_trust_dir: Path, tmp_path: Path
) -> None:
    config = sqlite_config(small_trust_dir, tmp_path)
    settings = load_settings(config)
    async with serving_workers(config, tmp_path) as (url, _):
        responses = await traffic(url, auth_headers(settings, "dwp"), 12)
        async with httpx.AsyncClient() as client:
            responses.append(await client.delete(f"{url}/graphql"))
        saved = []
        for n, response in enumerate(responses):
            path = tmp_path / f"response-{n}.json"
            path.write_bytes(response.content)  # the whole response, as a client keeps it
            saved.append(path)
        results = await asyncio.gather(
            *(
                asyncio.to_thread(
                    cli, "audit", "receipt", "--url", url, "--vkey", vkey_of(small_trust_dir), p
                )
                for p in saved
            )
        )
        for result in results:
            assert result.returncode == 0, result.stdout + result.stderr
            assert result.stdout.startswith("receipt verified: entry ")
        # A receipt whose leaf hash was changed, or whose checkpoint was re-signed by
        # anyone else, does not verify.
        receipt = json.loads(saved[0].read_text())["extensions"]["receipt"]
        forged = dict(receipt, leafHash=base64.b64encode(b"\x00" * 32).decode())
        (tmp_path / "forged.json").write_text(json.dumps(forged))
        bad = await asyncio.to_thread(
            cli,
            "audit",
            "receipt",
            "--url",
            url,
            "--vkey",
            vkey_of(small_trust_dir),
            tmp_path / "forged.json",
        )
        assert bad.returncode == 1 and "is not in the signed tree" in bad.stderr, bad.stderr
        other = tmp_path / "other.vkey"
        other.write_text("gql-trust.demo/ledger+00000000+AQ" + "A" * 42 + "\n")
        wrong = await asyncio.to_thread(
            cli, "audit", "receipt", "--url", url, "--vkey", other, saved[0]
        )
        assert wrong.returncode == 2 and "key id" in wrong.stderr, wrong.stderr


def delete_newest(ledger: Path, keep: int) -> int:
    """Truncate as an insider would: entries, tree nodes and checkpoints after the last
    checkpoint up to ``keep``, and the head moved back onto it (so the chain, the tree and
    the remaining checkpoints all still verify). The size kept."""
    with sqlite3.connect(ledger, timeout=30) as conn:
        (keep,) = conn.execute(
            "SELECT MAX(size) FROM ledger_checkpoints WHERE size <= ?", (keep,)
        ).fetchone()
        (last_hash,) = conn.execute(
            "SELECT hash FROM ledger_entries WHERE id = ?", (keep,)
        ).fetchone()
        conn.execute("DELETE FROM ledger_entries WHERE id > ?", (keep,))
        conn.execute("DELETE FROM ledger_checkpoints WHERE size > ?", (keep,))
        for level in range(64):
            conn.execute(
                "DELETE FROM ledger_tree WHERE level = ? AND (idx + 1) * (1 << level) > ?",
                (level, keep),
            )
        conn.execute("UPDATE ledger_head SET last_id = ?, last_hash = ?", (keep, last_hash))
    return int(keep)


async def test_a_witness_under_two_workers_refuses_truncated_rewritten_and_forked_logs(
    small_trust_dir: Path, tmp_path: Path
) -> None:
    ledger = tmp_path / "ledger.sqlite"
    config = sqlite_config(small_trust_dir, tmp_path)
    headers = auth_headers(load_settings(config), "dwp")
    vkey, state = vkey_of(small_trust_dir), tmp_path / "witness" / "checkpoint"
    async with serving_workers(config, tmp_path) as (url, _):
        await traffic(url, headers, 20)
        first = await asyncio.to_thread(witness, url, vkey, state)
        assert first.returncode == 0 and "first checkpoint" in first.stdout, first.stderr
        await traffic(url, headers, 30)  # honest growth, both workers appending
        grew = await asyncio.to_thread(witness, url, vkey, state)
        assert grew.returncode == 0, grew.stderr
        assert "grew from 20 to 50 entries" in grew.stdout
        fork_point = tmp_path / "backup-at-50.sqlite"
        with sqlite3.connect(ledger) as source, sqlite3.connect(fork_point) as copy:
            source.backup(copy)
        await traffic(url, headers, 10)
        assert (await asyncio.to_thread(witness, url, vkey, state)).returncode == 0  # 60 seen

        # 1. Truncated: the newest 15 entries, their tree and checkpoints, head moved back.
        kept = delete_newest(ledger, 45)
        assert 30 < kept <= 45
        verified = await asyncio.to_thread(cli, "audit", "verify", "--config", config)
        assert verified.returncode == 1 and "its entries add up to" in verified.stdout
        with sqlite3.connect(ledger, timeout=30) as conn:  # the insider fixes the budget too
            conn.execute(
                "UPDATE ledger_budgets SET cells = (SELECT COALESCE(SUM(cells_returned), 0) "
                "FROM ledger_entries e WHERE e.budgeted = 1 "
                "AND e.agreement = ledger_budgets.agreement "
                "AND substr(e.timestamp, 1, 10) = ledger_budgets.day)"
            )
        verified = await asyncio.to_thread(cli, "audit", "verify", "--config", config)
        assert verified.returncode == 0, verified.stdout  # consistent: only a witness can tell
        truncated = await asyncio.to_thread(witness, url, vkey, state)
        assert truncated.returncode == 1
        said = f"truncated: it now has {kept} entries, but this witness saw 60"
        assert said in truncated.stderr, truncated.stderr
        # ... and then grown past where the witness was: still not an extension.
        statuses = {r.status_code for r in await traffic(url, headers, 25)}
        assert statuses == {200}
        regrown = await asyncio.to_thread(witness, url, vkey, state)
        assert regrown.returncode == 1, regrown.stdout
        said = f"the log of {kept + 25} entries is not an extension of the 60"
        assert said in regrown.stderr, regrown.stderr
        assert state.read_text().split("\n")[1] == "60"  # the witness kept what it trusted

    # 2. Forked: the operator restores the copy taken at 50 and grows it differently.
    for path in tmp_path.glob("ledger.sqlite*"):
        path.unlink()
    shutil.copy(fork_point, ledger)
    async with serving_workers(config, tmp_path) as (url, _):
        await traffic(url, headers, 40)
        forked = await asyncio.to_thread(witness, url, vkey, state)
        assert forked.returncode == 1
        assert "the log of 90 entries is not an extension of the 60" in forked.stderr
        assert "rewritten or forked" in forked.stderr

    # 3. Rewritten from scratch, with more entries than the witness saw.
    for path in tmp_path.glob("ledger.sqlite*"):
        path.unlink()
    async with serving_workers(config, tmp_path) as (url, _):
        await traffic(url, headers, 60)
        same_size = await asyncio.to_thread(witness, url, vkey, state)
        assert same_size.returncode == 1
        assert "rewritten: two different trees of 60 entries" in same_size.stderr
        await traffic(url, headers, 5)
        rewritten = await asyncio.to_thread(witness, url, vkey, state)
        assert rewritten.returncode == 1
        assert "the log of 65 entries is not an extension of the 60" in rewritten.stderr

        # A fresh witness of this (new) log accepts it, and a log signed by another key
        # is refused outright.
        fresh = tmp_path / "fresh-witness"
        assert (await asyncio.to_thread(witness, url, vkey, fresh)).returncode == 0
        other = tmp_path / "other.vkey"
        from gql_trust.ledger.note import Signer

        other.write_text(str(Signer.generate("gql-trust.demo/ledger").verifier))
        unsigned = await asyncio.to_thread(witness, url, other, fresh)
        assert unsigned.returncode == 1 and "not signed by" in unsigned.stderr


@contextlib.asynccontextmanager
async def serving(config: Path, log: Path) -> AsyncIterator[str]:
    """One `gql-trust serve` process, as one host of a shared ledger."""
    port = free_port()
    command = Path(sys.executable).with_name("gql-trust")
    with log.open("wb") as out:
        server = subprocess.Popen(
            [command, "serve", "--config", config, "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        await wait_until_up(url, server, log)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)


async def test_a_witness_of_two_hosts_sharing_a_postgres_ledger(
    small_trust_dir: Path, tmp_path: Path, ledger_pg_dsn: str
) -> None:
    config = trust_config(small_trust_dir, {"kind": "postgres", "dsn": ledger_pg_dsn})
    headers = auth_headers(load_settings(config), "dwp")
    vkey, state = vkey_of(small_trust_dir), tmp_path / "checkpoint"
    async with (
        serving(config, tmp_path / "a.log") as a,
        serving(config, tmp_path / "b.log") as b,
    ):
        await asyncio.gather(traffic(a, headers, 15), traffic(b, headers, 15))
        assert (await asyncio.to_thread(witness, a, vkey, state)).returncode == 0
        for _ in range(3):  # both hosts grow one tree: each host's view extends the other's
            await asyncio.gather(traffic(a, headers, 10), traffic(b, headers, 10))
            for url in (b, a):
                seen = await asyncio.to_thread(witness, url, vkey, state)
                assert seen.returncode == 0, seen.stderr
        assert "to 90 entries" in seen.stdout or "unchanged: 90 entries" in seen.stdout
        verified = await asyncio.to_thread(cli, "audit", "verify", "--config", config)
        assert verified.returncode == 0 and "90 entries" in verified.stdout, verified.stdout

        conn = await asyncpg.connect(ledger_pg_dsn)
        try:
            keep = await conn.fetchval("SELECT MAX(size) FROM ledger_checkpoints WHERE size <= 70")
            last_hash = await conn.fetchval("SELECT hash FROM ledger_entries WHERE id = $1", keep)
            async with conn.transaction():
                await conn.execute("DELETE FROM ledger_entries WHERE id > $1", keep)
                await conn.execute("DELETE FROM ledger_checkpoints WHERE size > $1", keep)
                await conn.execute(
                    "DELETE FROM ledger_tree WHERE (idx + 1) * (1::bigint << level) > $1", keep
                )
                await conn.execute(
                    "UPDATE ledger_head SET last_id = $1, last_hash = $2", keep, last_hash
                )
        finally:
            await conn.close()
        for url in (a, b):
            truncated = await asyncio.to_thread(witness, url, vkey, state)
            assert truncated.returncode == 1
            said = f"truncated: it now has {keep} entries, but this witness saw 90"
            assert said in truncated.stderr, truncated.stderr
        await asyncio.gather(traffic(a, headers, 15), traffic(b, headers, 15))
        regrown = await asyncio.to_thread(witness, b, vkey, state)
        assert regrown.returncode == 1
        said = f"the log of {keep + 30} entries is not an extension of the 90"
        assert said in regrown.stderr, regrown.stderr
