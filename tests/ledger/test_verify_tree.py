"""`audit verify` beyond the hash chain: the head, the signed checkpoints and the budgets.
Each attack here passed verification while the ledger was only a hash chain."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from gql_trust.errors import LedgerUnavailable
from gql_trust.ledger import BudgetClaim, Ledger
from gql_trust.ledger.note import Signer
from gql_trust.ledger.sqlite import SqliteSink
from tests.ledger.test_chain import entry

SIGNER = Signer.generate("gql-trust.demo/ledger")


async def written(path: Path, count: int = 20) -> None:
    ledger = Ledger(SqliteSink(path, signer=SIGNER))
    claim = BudgetClaim("DSA-1", "2026-01-01", cells=5, limit=10_000)
    for n in range(1, count + 1):  # one commit each: a checkpoint at every size
        await ledger.append(entry(n, agreement="DSA-1", cells_returned=5), claim)
    await ledger.close()


async def verdict(path: Path) -> tuple[bool, int | None, str | None]:
    ledger = Ledger(SqliteSink(path, read_only=True, verifier=SIGNER.verifier))
    try:
        result = await ledger.verify()
    finally:
        await ledger.close()
    return result.ok, result.first_bad, result.problem


def run(path: Path, *statements: str) -> None:
    with sqlite3.connect(path) as conn:
        for statement in statements:
            conn.execute(statement)


async def test_an_honest_ledger_verifies(tmp_path: Path) -> None:
    await written(tmp_path / "l.sqlite")
    assert await verdict(tmp_path / "l.sqlite") == (True, None, None)


@pytest.mark.parametrize(
    ("attack", "first_bad", "says"),
    [
        (  # the newest rows and the head row deleted
            ["DELETE FROM ledger_entries WHERE id > 15", "DELETE FROM ledger_head"],
            16,
            "the ledger head is missing",
        ),
        (  # the newest rows deleted and the head moved back onto the last one kept
            [
                "DELETE FROM ledger_entries WHERE id > 15",
                "UPDATE ledger_head SET last_id = 15, last_hash = "
                "(SELECT hash FROM ledger_entries WHERE id = 15)",
            ],
            16,
            "a checkpoint of 20 entries was signed, but the ledger ends at entry 15",
        ),
        (  # a day's budget reset
            ["UPDATE ledger_budgets SET cells = 0"],
            1,
            "the budget of DSA-1 on 2026-01-01 records 0 cells, but its entries add up to 100",
        ),
        (["DELETE FROM ledger_budgets"], 1, "records 0 cells, but its entries add up to 100"),
        (  # an entry taken off the budget: its hash covers the flag
            ["UPDATE ledger_entries SET budgeted = 0 WHERE id = 3"],
            3,
            "its contents do not match its hash",
        ),
        (  # a checkpoint's root replaced
            [
                "UPDATE ledger_checkpoints SET root = replace(root, substr(root, 1, 1), 'f') "
                "WHERE size = 7 AND substr(root, 1, 1) != 'f'",
                "UPDATE ledger_checkpoints SET root = replace(root, 'f', 'e') "
                "WHERE size = 7 AND substr(root, 1, 1) = 'f'",
            ],
            7,
            "the signed checkpoint of 7 entries has another root",
        ),
        (  # the newest checkpoint's note re-signed by someone else
            [],
            20,
            "the newest checkpoint does not verify",
        ),
    ],
)
async def test_tampering_outside_the_chain_is_named(
    tmp_path: Path, attack: list[str], first_bad: int, says: str
) -> None:
    path = tmp_path / "l.sqlite"
    await written(path)
    if not attack:
        forged = Signer.generate("gql-trust.demo/ledger")
        with sqlite3.connect(path) as conn:
            (note,) = conn.execute("SELECT note FROM ledger_checkpoints WHERE size = 20").fetchone()
            text = note.partition("\n\n")[0] + "\n"
            conn.execute(
                "UPDATE ledger_checkpoints SET note = ? WHERE size = 20", (forged.sign(text),)
            )
    run(path, *attack)
    ok, bad, problem = await verdict(path)
    assert not ok and bad == first_bad and problem is not None and says in problem, problem


async def test_a_writer_refuses_to_append_after_the_head_was_deleted_or_moved(
    tmp_path: Path,
) -> None:
    """The server used to recreate the head and reuse the deleted ids."""
    for attack in (
        ["DELETE FROM ledger_entries WHERE id > 15", "DELETE FROM ledger_head"],
        [
            "DELETE FROM ledger_entries WHERE id > 15",
            "UPDATE ledger_head SET last_id = 15, last_hash = "
            "(SELECT hash FROM ledger_entries WHERE id = 15)",
        ],
    ):
        path = tmp_path / f"l{len(attack[1])}.sqlite"
        await written(path)
        run(path, *attack)
        ledger = Ledger(SqliteSink(path, signer=SIGNER))
        with pytest.raises(LedgerUnavailable):
            await ledger.append(entry(99))
        await ledger.close()
        with sqlite3.connect(path) as conn:
            assert conn.execute("SELECT MAX(id) FROM ledger_entries").fetchone() == (15,)


async def test_concurrent_appends_sign_once_per_commit(tmp_path: Path) -> None:
    path = tmp_path / "l.sqlite"
    ledger = Ledger(SqliteSink(path, signer=SIGNER))
    receipts = await asyncio.gather(*(ledger.append(entry(n)) for n in range(200)))
    await ledger.close()
    with sqlite3.connect(path) as conn:
        (commits,) = conn.execute("SELECT COUNT(*) FROM ledger_checkpoints").fetchone()
    assert commits < 40  # group commit: one signature for many entries
    assert len({r.checkpoint for r in receipts}) == commits
    assert all(r.tree_size >= r.entry.id for r in receipts)
    assert await verdict(path) == (True, None, None)
