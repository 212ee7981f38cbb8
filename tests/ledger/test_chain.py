"""The hash chain: sealing, verification, and every kind of tampering with the store."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest

from gql_trust.ledger import (
    GENESIS,
    AuditQuery,
    Entry,
    FieldDenied,
    Ledger,
    Outcome,
    SourceRead,
)
from gql_trust.ledger.chain import Head, verify
from gql_trust.ledger.entry import canonical_json, escape_text, operation_name
from gql_trust.ledger.rows import NAMES, to_row
from gql_trust.ledger.sqlite import SqliteSink


def entry(n: int = 0, **fields: object) -> Entry:
    base = Entry(
        timestamp=f"2026-01-01T00:00:{n % 60:02d}.000000Z",
        outcome=Outcome.OK,
        sub=f"user-{n}",
        dept="DWP",
        roles=("analyst",),
        datasets=("vacancies",),
        fields_read={"vacancies": ("period", "vacancies")},
        sources=(SourceRead("ons", "vacancies", "SELECT 1", n),),
        cells_returned=n,
    )
    return replace(base, **fields)  # type: ignore[arg-type]


def test_the_hash_covers_every_field_and_the_chain_starts_at_genesis() -> None:
    first = entry(1).sealed(1, GENESIS)
    second = entry(2).sealed(2, first.hash)
    assert first.prev_hash == "0" * 64 and second.prev_hash == first.hash
    assert verify([first, second], Head(2, second.hash)).ok
    for name in set(NAMES) - {"hash"}:
        value = getattr(first, name)
        changed = {
            str: lambda v: v + "x",
            int: lambda v: v + 1,
            bool: lambda v: not v,
            float: lambda v: v + 1.0,
            tuple: lambda v: (*v, "x") if not v or isinstance(v[0], str) else v[:-1],
            dict: lambda v: {**v, "x": ("y",)},
            type(None): lambda v: "x",
            Outcome: lambda v: Outcome.DENIED,
        }[type(value)](value)
        if name == "fields_denied":
            changed = (FieldDenied("claimants", "sex", "group", None, "no rule"),)
        tampered = replace(first, **{name: changed})
        assert tampered.compute_hash() != first.hash, name


def test_canonical_json_is_one_text_per_value() -> None:
    assert canonical_json({"b": 1, "a": [1, "é"]}) == '{"a":[1,"\\u00e9"],"b":1}'
    assert canonical_json({"a": 1, "b": 1}) == canonical_json({"b": 1, "a": 1})


def test_control_characters_are_escaped_and_operation_names_cut() -> None:
    assert escape_text('a\r\n{"id": 1}\\') == 'a\\r\\n{"id": 1}\\\\'
    assert escape_text("\x00\x1b\u2028\ud800") == "\\u0000\\u001b\\u2028\\ud800"
    assert operation_name("x" * 10_000) == "x" * 200
    assert operation_name(None) is None


def test_every_character_is_kept_or_escaped_reversibly() -> None:
    """Across the whole BMP: a character is kept as it is exactly when it is printable and
    no line break, and an escaped one decodes (as JSON) back to itself."""
    for code in range(0x10000):
        char = chr(code)
        text = f"a{char}b"
        out = escape_text(text)
        unsafe = char == "\\" or code < 0x20 or 0x7F <= code <= 0x9F
        unsafe = unsafe or code in (0x2028, 0x2029) or 0xD800 <= code <= 0xDFFF
        assert (out != text) == unsafe, hex(code)
        assert json.loads(f'"{out}"') == text if unsafe else out is text, hex(code)


async def filled(path: Path, count: int = 10) -> Ledger:
    ledger = Ledger(SqliteSink(path))
    await asyncio.gather(*(ledger.append(entry(n)) for n in range(1, count + 1)))
    return ledger


async def test_concurrent_appends_make_one_chain_in_few_commits(tmp_path: Path) -> None:
    sink = SqliteSink(tmp_path / "ledger.sqlite")
    batches: list[int] = []
    append = sink.append

    async def counting(batch):  # type: ignore[no-untyped-def]
        batches.append(len(batch))
        return await append(batch)

    sink.append = counting  # type: ignore[method-assign]
    ledger = Ledger(sink)
    written = await asyncio.gather(*(ledger.append(entry(n)) for n in range(300)))
    assert sorted(w.entry.id for w in written) == list(range(1, 301))
    assert len(batches) < 30, batches  # group commit: many entries per transaction
    result = await ledger.verify()
    assert result.ok and result.entries == 300 and result.head.id == 300
    newest = await ledger.entries(AuditQuery(limit=5))
    assert [e.id for e in newest] == [300, 299, 298, 297, 296]
    await ledger.close()


def tamper(path: Path, *statements: str) -> None:
    with sqlite3.connect(path) as conn:
        for statement in statements:
            conn.execute(statement)


def forge(path: Path, id: int, prev_hash: str) -> tuple[object, ...]:
    """An entry an attacker who knows the format computes, chained after ``prev_hash``."""
    return to_row(entry(99, sub="forged").sealed(id, prev_hash))


async def broken_at(path: Path) -> tuple[int | None, str | None]:
    ledger = Ledger(SqliteSink(path, read_only=True))
    result = await ledger.verify()
    await ledger.close()
    return result.first_bad, result.problem


@pytest.mark.parametrize(
    ("kind", "statements", "first_bad", "problem"),
    [
        ("changed", ["UPDATE ledger_entries SET cells_returned = 0 WHERE id = 4"], 4, "contents"),
        ("changed", ["UPDATE ledger_entries SET sub = 'someone' WHERE id = 7"], 7, "contents"),
        (
            "changed",
            ["UPDATE ledger_entries SET roles = 'nonsense' WHERE id = 3"],
            3,
            "well-formed",
        ),
        ("deleted", ["DELETE FROM ledger_entries WHERE id = 4"], 5, "entry 4 is missing"),
        (
            "reordered",
            [
                "UPDATE ledger_entries SET id = -4 WHERE id = 4",
                "UPDATE ledger_entries SET id = 4 WHERE id = 5",
                "UPDATE ledger_entries SET id = 5 WHERE id = -4",
            ],
            4,
            "contents",
        ),
        ("truncated", ["DELETE FROM ledger_entries WHERE id = 10"], 10, "missing"),
    ],
)
async def test_verify_names_the_first_tampered_entry(
    tmp_path: Path, kind: str, statements: list[str], first_bad: int, problem: str
) -> None:
    path = tmp_path / "ledger.sqlite"
    ledger = await filled(path)
    assert (await ledger.verify()).ok
    await ledger.close()
    tamper(path, *statements)
    bad, why = await broken_at(path)
    assert bad == first_bad, (kind, why)
    assert why is not None and problem in why


async def test_inserted_entries_are_detected(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    await (await filled(path)).close()
    with sqlite3.connect(path) as conn:
        (last_hash,) = conn.execute("SELECT hash FROM ledger_entries WHERE id = 10").fetchone()
        marks = ", ".join("?" for _ in NAMES)
        # At the end, correctly chained, but not through the ledger (the head disagrees).
        conn.execute(f"INSERT INTO ledger_entries VALUES ({marks})", forge(path, 11, last_hash))
    assert await broken_at(path) == (11, "entries after 10 were not appended by the ledger")
    with sqlite3.connect(path) as conn:
        conn.execute("DELETE FROM ledger_entries WHERE id = 11")
        # In the middle: make room after entry 4 and put a well-chained forgery there.
        (hash4,) = conn.execute("SELECT hash FROM ledger_entries WHERE id = 4").fetchone()
        conn.execute("UPDATE ledger_entries SET id = id + 100 WHERE id > 4")
        conn.execute("UPDATE ledger_entries SET id = id - 99 WHERE id > 100")
        conn.execute(f"INSERT INTO ledger_entries VALUES ({marks})", forge(path, 5, hash4))
    bad, _ = await broken_at(path)
    assert bad == 6  # the entry after the forgery no longer fits


async def test_a_missing_ledger_file_is_not_reported_intact(tmp_path: Path) -> None:
    from gql_trust.errors import LedgerUnavailable

    ledger = Ledger(SqliteSink(tmp_path / "nothing.sqlite", read_only=True))
    with pytest.raises(LedgerUnavailable, match="no ledger"):
        await ledger.verify()
    await ledger.close()
