"""Agreements amended under load: a broken edit, a suspension and a restoration while
concurrent clients run the reliability mix against `gql-trust serve --workers 2`.

    python -m bench.reliability_agreements --clients 16 --seconds 24   # what CI runs

Procedure (loopback only, bounded in time): the reliability runner's trust (a demo
trust with the DWP claimants in a throwaway PostgreSQL, its own policies folder),
served by two workers. Every request carries an X-Request-Id of its own, and each
client connection is traced to the worker process that holds its other end. After a
warm-up, at 1/8 of the run ``agreements.yaml`` is made invalid (an unknown status), at
1/3 the agreement DSA-LMDT-001 is suspended, at 2/3 it is restored. Afterwards: every request had a
response; every response has exactly one ledger entry (matched by its request id)
whose outcome is the response's; the only other entries are the two policy changes;
on each worker, requests under the agreement were served through the broken edit,
refused (FORBIDDEN, naming the agreement as suspended) from 5 s after the suspension,
and served again from 5 s after the restoration; the refusal of the broken edit was
counted in `/metrics` by both workers.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import re
import shutil
import sqlite3
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import psutil

from bench.load import encode_post
from bench.reliability import REQUEST_TIMEOUT_S, Served, prepare
from bench.reliability_client import Timeline, _headers, _Once
from bench.reliability_mix import AGREEMENT, WORKLOADS, Workload

IN_FORCE_S = 5.0  # the contract: a change is in force within 5 s, on every worker
AGREEMENT_WORKLOADS = frozenset(w.name for w in WORKLOADS if w.budgeted and not w.codes)


@dataclass
class Reply:
    workload: str
    request_id: str
    worker: int | None  # pid of the worker process that answered
    started: float  # seconds since the load began
    finished: float
    status: int | None  # None: no response
    codes: tuple[str, ...] = ()
    reason: str = ""  # the first error's extensions.reason
    has_data: bool = False


class Traced(_Once):
    """A keep-alive connection that knows which worker process holds its other end."""

    def __init__(self, host: str, port: int, workers: list[int]) -> None:
        super().__init__(host, port)
        self.workers = workers
        self.worker: int | None = None

    async def _open(self) -> None:
        await super()._open()
        assert self.writer is not None
        local = self.writer.get_extra_info("sockname")[1]
        self.worker = await asyncio.to_thread(worker_of, self.workers, self.port, local)


def listening_workers(find: Any, port: int, count: int = 2, timeout_s: float = 60.0) -> list[int]:
    """The ``count`` worker pids once each listens on ``port``: a worker still starting
    has bound its SO_REUSEPORT socket but not listened, so the kernel would send every
    new connection to the others."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        pids = list(find())
        listening = []
        for pid in pids:
            with contextlib.suppress(psutil.Error):
                if any(
                    c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == port
                    for c in psutil.Process(pid).net_connections(kind="tcp")
                ):
                    listening.append(pid)
        if len(pids) == count and len(listening) == count:
            return sorted(pids)
        time.sleep(0.1)
    raise RuntimeError(f"{count} workers were not listening on port {port} in {timeout_s} s")


def worker_of(workers: list[int], port: int, local_port: int, wait_s: float = 2.0) -> int | None:
    """The worker holding the server end of the connection from ``local_port``."""
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        for pid in workers:
            with contextlib.suppress(psutil.Error):
                for c in psutil.Process(pid).net_connections(kind="tcp"):
                    if c.laddr and c.laddr.port == port and c.raddr and c.raddr.port == local_port:
                        return pid
        time.sleep(0.02)
    return None


def set_status(agreements: Path, budget: int, status: str | None) -> None:
    """The agreement with ``status: ...`` after its budget line, or with none."""
    text = re.sub(r"(?m)^\s*status: \w+\n", "", agreements.read_text(encoding="utf-8"))
    line = re.search(rf"(?m)^(\s*)daily_cell_budget: {budget}\n", text)
    assert line is not None, text
    if status is not None:
        text = text[: line.end()] + f"{line.group(1)}status: {status}\n" + text[line.end() :]
    agreements.write_text(text, encoding="utf-8")


async def metric(url: str, token: str, name: str) -> float | None:
    conn = _Once("127.0.0.1", int(url.rsplit(":", 1)[1]))
    request = f"GET /metrics HTTP/1.1\r\nHost: {url[7:]}\r\nAuthorization: Bearer {token}\r\n\r\n"
    try:
        _, body = await asyncio.wait_for(conn.send(request.encode()), timeout=10)
    finally:
        await conn.close()
    found = re.search(rf"^{name} ([0-9.e+]+)$", body.decode(), flags=re.MULTILINE)
    return float(found.group(1)) if found else None


async def load(
    url: str, settings: Any, workers: list[int], clients: int, seconds: float, t: Timeline
) -> list[Reply]:
    import random

    headers = {w.who: _headers(w.who, settings) for w in WORKLOADS}
    mix = [w for w in WORKLOADS if not w.fresh_connection]  # every request on a traced one
    replies: list[Reply] = []
    port = int(url.rsplit(":", 1)[1])

    async def one(conn: Traced, workload: Workload) -> Reply:
        rid = uuid.uuid4().hex
        request = encode_post(
            f"{url}/graphql", workload.body, {**headers[workload.who], "X-Request-Id": rid}
        )
        started = t.now()
        try:
            status, body = await asyncio.wait_for(conn.send(request), timeout=3 * REQUEST_TIMEOUT_S)
        except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError):
            await conn.close()
            return Reply(workload.name, rid, conn.worker, started, t.now(), None)
        reply = Reply(workload.name, rid, conn.worker, started, t.now(), status)
        with contextlib.suppress(orjson.JSONDecodeError, TypeError, AttributeError):
            parsed = orjson.loads(body)
            errors = parsed.get("errors") or []
            reply.codes = tuple(str((e.get("extensions") or {}).get("code", "-")) for e in errors)
            reply.reason = (
                str((errors[0].get("extensions") or {}).get("reason", "")) if errors else ""
            )
            data = parsed.get("data")
            reply.has_data = isinstance(data, dict) and any(v is not None for v in data.values())
        return reply

    async def client(index: int) -> None:
        rng = random.Random(index)
        conn = Traced("127.0.0.1", port, workers)
        try:
            while t.now() < seconds:
                (workload,) = rng.choices(mix, [w.weight for w in mix])
                replies.append(await one(conn, workload))
        finally:
            await conn.close()

    await asyncio.gather(*(client(i) for i in range(clients)))
    return replies


def ledger_entries(ledger: Path) -> list[dict[str, Any]]:
    with sqlite3.connect(f"file:{ledger}?mode=ro", uri=True) as conn:
        conn.row_factory = sqlite3.Row
        return [dict(r) for r in conn.execute("SELECT * FROM ledger_entries ORDER BY id")]


def outcome_of(reply: Reply) -> set[str]:
    """The ledger outcomes that say what this response said."""
    if reply.status == 401:
        return {"UNAUTHENTICATED"}
    if reply.status != 200:
        return {"INVALID"}
    codes = set(reply.codes)
    if not codes:
        return {"OK"}
    if codes <= {"BAD_USER_INPUT", "QUERY_TOO_COSTLY"}:
        return {"INVALID"}
    if codes == {"FORBIDDEN"}:
        return {"PARTIAL"} if reply.has_data else {"DENIED"}
    if "EXTRACTION_BUDGET_EXCEEDED" in codes:
        return {"BUDGET_EXCEEDED"}
    return {"PARTIAL"} if reply.has_data else {"ERROR", "PARTIAL"}


def suspended_refusal(reply: Reply) -> bool:
    return (
        reply.status == 200
        and set(reply.codes) == {"FORBIDDEN"}
        and not reply.has_data
        and f"agreement {AGREEMENT} is suspended" in reply.reason
    )


def served(reply: Reply) -> bool:
    return reply.status == 200 and not reply.codes and reply.has_data


def judge_phases(
    replies: list[Reply], marks: dict[str, float], workers: list[int]
) -> dict[str, Any]:
    """Per worker: served through the broken edit, refused after the suspension, served
    again after the restoration; and the lag of each change on each worker."""
    problems: list[str] = []
    per_worker: dict[str, Any] = {}
    ours = [r for r in replies if r.workload in AGREEMENT_WORKLOADS]
    for pid in workers:
        mine = [r for r in ours if r.worker == pid]
        windows = {
            "before": (0.0, marks["broken"]),
            "broken": (marks["broken"], marks["suspended"]),
            "suspended": (marks["suspended"] + IN_FORCE_S, marks["restored"]),
            "restored": (marks["restored"] + IN_FORCE_S, marks["end"]),
        }
        figures: dict[str, Any] = {}
        for name, (start, end) in windows.items():
            inside = [r for r in mine if start <= r.started and r.finished < end]
            good = suspended_refusal if name == "suspended" else served
            bad = [r for r in inside if not good(r)]
            figures[name] = {"requests": len(inside), "not_as_designed": len(bad)}
            if not inside:
                problems.append(f"worker {pid}: no request under the agreement in {name}")
            for r in bad[:3]:
                problems.append(f"worker {pid}, {name}: {r.workload} got {r.codes or r.status}")
        # How long each change took on this worker: the last request that still had the
        # old answer, counted from the change.
        after_suspend = [r for r in mine if marks["suspended"] <= r.started < marks["restored"]]
        after_restore = [r for r in mine if marks["restored"] <= r.started]
        figures["suspension_lag_s"] = round(
            max((r.started - marks["suspended"] for r in after_suspend if served(r)), default=0.0),
            2,
        )
        figures["restoration_lag_s"] = round(
            max(
                (r.started - marks["restored"] for r in after_restore if not served(r)), default=0.0
            ),
            2,
        )
        per_worker[str(pid)] = figures
    return {"per_worker": per_worker, "problems": problems}


def reconcile(replies: list[Reply], entries: list[dict[str, Any]], first_id: int) -> dict[str, Any]:
    """Every response has one entry saying what it said; no other entry but policy changes."""
    problems: list[str] = []
    new = [e for e in entries if e["id"] >= first_id]
    by_request: dict[str, list[dict[str, Any]]] = {}
    for entry in new:
        if entry["client_request_id"]:
            by_request.setdefault(entry["client_request_id"], []).append(entry)
    answered = [r for r in replies if r.status is not None]
    for reply in answered:
        found = by_request.pop(reply.request_id, [])
        if len(found) != 1:
            problems.append(f"{reply.workload} {reply.request_id}: {len(found)} ledger entries")
        elif found[0]["outcome"] not in outcome_of(reply):
            problems.append(
                f"{reply.workload}: answered {reply.codes or reply.status}, "
                f"recorded {found[0]['outcome']}"
            )
    others = [e for e in new if e["client_request_id"] in by_request or not e["client_request_id"]]
    changes = [e for e in others if e["outcome"] == "POLICY_CHANGE"]
    strays = [e for e in others if e["outcome"] != "POLICY_CHANGE"]
    if strays:
        problems.append(
            f"{len(strays)} entries match no response: ids {[e['id'] for e in strays][:5]}"
        )
    return {
        "responses": len(answered),
        "entries_added": len(new),
        "policy_changes": [(e["previous_policy_version"], e["policy_version"]) for e in changes],
        "problems": problems,
    }


async def run(
    clients: int = 16, seconds: float = 24, workdir: Path | None = None
) -> dict[str, Any]:
    from gql_trust.config import load_settings
    from gql_trust.identity import mint_token
    from gql_trust.ledger.record import policy_version

    own_dir = workdir is None
    base = Path(tempfile.mkdtemp(prefix="gql-trust-agreements-")) if own_dir else workdir
    assert base is not None
    budget = 10_000_000  # refusals here are the suspension's, never the budget's
    trust = await asyncio.to_thread(prepare, base, budget)
    agreements = base / "policies" / "agreements.yaml"
    server: Served | None = None
    try:
        settings = load_settings(trust.config)
        assert settings.auth is not None
        operator = mint_token(
            settings.auth, sub="reliability-operator", dept="TRUST", roles=["operator"]
        )
        server = Served(trust.config, base / "server.log")
        await server.wait_ready()
        workers = await asyncio.to_thread(listening_workers, server.workers, server.port)
        # Warm up (plans compiled, sources connected in both workers); not counted.
        warm = Timeline(started=time.perf_counter())
        await load(server.url, settings, workers, clients, 2.0, warm)
        first_id = len(ledger_entries(trust.ledger)) + 1
        versions = {"active": policy_version(base / "policies")}
        t = Timeline(started=time.perf_counter())
        marks = {"end": seconds}
        figures: dict[str, Any] = {}

        async def changes() -> None:
            async def at(fraction: float) -> None:
                await asyncio.sleep(max(0.0, seconds * fraction - t.now()))

            await at(1 / 8)
            marks["broken"] = t.now()
            set_status(agreements, budget, "paused")  # not a status: check refuses it
            await at(1 / 3 - 1 / 32)
            name = "gql_trust_policy_reload_refusals_total"
            figures["refusals_counted"] = await metric(server.url, operator, name)
            await at(1 / 3)
            marks["suspended"] = t.now()
            set_status(agreements, budget, "suspended")
            versions["suspended"] = policy_version(base / "policies")
            await at(2 / 3)
            marks["restored"] = t.now()
            set_status(agreements, budget, None)

        replies, _ = await asyncio.gather(
            load(server.url, settings, workers, clients, seconds, t), changes()
        )
        await asyncio.sleep(0.5)
        alive = server.proc.poll() is None
        await asyncio.to_thread(server.stop)
        phases = judge_phases(replies, marks, workers)
        ledger = reconcile(replies, ledger_entries(trust.ledger), first_id)
        problems = phases["problems"] + ledger["problems"]
        dropped = [r for r in replies if r.status is None]
        if dropped:
            problems.append(f"{len(dropped)} requests had no response")
        if not alive:
            problems.append("the server was not running at the end")
        untraced = sum(1 for r in replies if r.worker is None)
        if untraced:
            problems.append(f"{untraced} responses could not be traced to a worker")
        expected = [
            (versions["active"], versions["suspended"]),
            (versions["suspended"], versions["active"]),
        ]
        if ledger["policy_changes"] != expected:
            problems.append(f"policy changes {ledger['policy_changes']}, expected {expected}")
        if figures.get("refusals_counted") != len(workers):
            problems.append(f"/metrics counted {figures.get('refusals_counted')} refusals")
        return {
            "clients": clients,
            "seconds": seconds,
            "workers": len(workers),
            "requests": len(replies),
            "under_agreement": sum(1 for r in replies if r.workload in AGREEMENT_WORKLOADS),
            "marks_s": {k: round(v, 2) for k, v in marks.items()},
            "refusals_counted": figures.get("refusals_counted"),
            "phases": phases["per_worker"],
            "ledger": {k: v for k, v in ledger.items() if k != "problems"},
            "problems": problems,
        }
    finally:
        if server is not None:
            await asyncio.to_thread(server.stop)
        await asyncio.to_thread(trust.pg.remove)
        if own_dir:
            shutil.rmtree(base, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.reliability_agreements", description=__doc__
    )
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=24)
    parser.add_argument("--workdir", type=Path, default=None, help="keep the trust and logs")
    args = parser.parse_args(argv)
    if args.workdir is not None:
        args.workdir.mkdir(parents=True, exist_ok=True)
    report = asyncio.run(run(args.clients, args.seconds, args.workdir))
    print(json.dumps(report, indent=2))
    return 1 if report["problems"] else 0


if __name__ == "__main__":
    sys.exit(main())
