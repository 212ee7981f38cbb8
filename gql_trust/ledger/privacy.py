"""Privacy-loss accounting: rho reserved, and released values kept, in one transaction.

A zCDP release (disclosure/dp.py) hands the ledger candidate values for its cells. In
one write transaction (SQLite's ``BEGIN IMMEDIATE``, PostgreSQL's advisory lock, so
every worker and host serialises here) the ledger reads the values the agreement
already holds for those cells, charges the rho of the rest against the day's budget,
and stores them, or refuses the whole release and stores nothing. So concurrent
requests cannot overshoot the budget, and a cell is only ever released with one value:
asking again is free and tells nothing new.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from ..disclosure.dp import Draw, Granted

VALUES = "ledger_privacy_values"  # (agreement, cell) -> the value released, its scale
SPENT = "ledger_privacy_spent"  # (agreement, day) -> rho spent
PG_LOCK = 0x67716C7470727679  # advisory lock: one privacy reservation at a time
EPSILON = 1e-9  # float slack when adding rho


def create_statements() -> list[str]:
    return [
        f"CREATE TABLE IF NOT EXISTS {VALUES} (agreement TEXT NOT NULL, cell TEXT NOT NULL, "
        "value BIGINT NOT NULL, scale DOUBLE PRECISION NOT NULL, PRIMARY KEY (agreement, cell))",
        f"CREATE TABLE IF NOT EXISTS {SPENT} (agreement TEXT NOT NULL, day TEXT NOT NULL, "
        "rho DOUBLE PRECISION NOT NULL, PRIMARY KEY (agreement, day))",
    ]


def settle(
    draw: Draw, held: Mapping[str, tuple[int, float]], used: float
) -> tuple[Granted, dict[str, tuple[int, float]]]:
    """(the answer, the new cells to store): held cells keep their values; the rest cost
    their rho, or the whole release is refused."""
    new = [key for key in draw.values if key not in held]
    cost = draw.cost(new)
    if used + cost > draw.limit + EPSILON:
        return Granted({}, 0.0, used, draw.limit, exceeded=True, wanted=cost), {}
    fresh = {key: (draw.values[key], draw.scale) for key in new}
    values = {key: held.get(key) or fresh[key] for key in draw.values}
    return Granted(values, cost, used + cost, draw.limit), fresh


def _chunks(items: Sequence[str], size: int = 500) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def reserve_sqlite(conn: sqlite3.Connection, draw: Draw) -> Granted:
    conn.execute("BEGIN IMMEDIATE")
    try:
        for statement in create_statements():
            conn.execute(statement)
        held: dict[str, tuple[int, float]] = {}
        keys = list(draw.values)
        for chunk in _chunks(keys):
            marks = ", ".join("?" for _ in chunk)
            for cell, value, scale in conn.execute(
                f"SELECT cell, value, scale FROM {VALUES} "
                f"WHERE agreement = ? AND cell IN ({marks})",
                (draw.agreement, *chunk),
            ):
                held[str(cell)] = (int(value), float(scale))
        row = conn.execute(
            f"SELECT rho FROM {SPENT} WHERE agreement = ? AND day = ?", (draw.agreement, draw.day)
        ).fetchone()
        granted, fresh = settle(draw, held, float(row[0]) if row else 0.0)
        if fresh:
            conn.executemany(
                f"INSERT INTO {VALUES} (agreement, cell, value, scale) VALUES (?, ?, ?, ?)",
                [(draw.agreement, k, v, s) for k, (v, s) in fresh.items()],
            )
            conn.execute(
                f"INSERT INTO {SPENT} (agreement, day, rho) VALUES (?, ?, ?) "
                "ON CONFLICT (agreement, day) DO UPDATE SET rho = excluded.rho",
                (draw.agreement, draw.day, granted.used),
            )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return granted


async def reserve_postgres(conn: Any, draw: Draw) -> Granted:
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", PG_LOCK)
        for statement in create_statements():
            await conn.execute(statement)
        rows = await conn.fetch(
            f"SELECT cell, value, scale FROM {VALUES} WHERE agreement = $1 AND cell = ANY($2)",
            draw.agreement,
            list(draw.values),
        )
        held = {str(r["cell"]): (int(r["value"]), float(r["scale"])) for r in rows}
        used = await conn.fetchval(
            f"SELECT rho FROM {SPENT} WHERE agreement = $1 AND day = $2", draw.agreement, draw.day
        )
        granted, fresh = settle(draw, held, float(used or 0.0))
        if fresh:
            await conn.executemany(
                f"INSERT INTO {VALUES} (agreement, cell, value, scale) VALUES ($1, $2, $3, $4)",
                [(draw.agreement, k, v, s) for k, (v, s) in fresh.items()],
            )
            await conn.execute(
                f"INSERT INTO {SPENT} (agreement, day, rho) VALUES ($1, $2, $3) "
                "ON CONFLICT (agreement, day) DO UPDATE SET rho = excluded.rho",
                draw.agreement,
                draw.day,
                granted.used,
            )
    return granted


def spent_sqlite(conn: sqlite3.Connection, agreement: str, day: str) -> float:
    try:
        row = conn.execute(
            f"SELECT rho FROM {SPENT} WHERE agreement = ? AND day = ?", (agreement, day)
        ).fetchone()
    except sqlite3.OperationalError:  # no release under a privacy budget yet
        return 0.0
    return float(row[0]) if row else 0.0
