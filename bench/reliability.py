"""Load and fault test: concurrent mixed clients against `gql-trust serve --workers 2`
while the PostgreSQL source is stopped and restarted, then a reconciliation.

    python -m bench.reliability --clients 32 --seconds 60     # the full form
    python -m bench.reliability --clients 16 --seconds 15     # what CI runs

Procedure (loopback only, bounded in time): start a throwaway PostgreSQL cluster,
generate a demo trust with the DWP claimants in it, copy the policies with a small
daily budget for agreement DSA-LMDT-001, serve the trust with two workers, warm up,
then run N keep-alive clients for T seconds over the mix of ``bench.reliability_mix``.
PostgreSQL is stopped (immediate mode: connections die mid-query) a third of the way
in and started again two thirds in. Every response is recorded; afterwards the
answers, the ledger (``gql-trust audit verify``, entry count, budget totals) and the
workers' memory are checked. ``run`` returns a report whose ``problems`` lists every
check that failed (empty when all hold); the CLI prints it and exits 1 on problems.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bench.reliability_client import Sample, Timeline, get_status, load, requests_for, warm_up
from bench.reliability_mix import AGREEMENT
from bench.reliability_report import analyse, ledger_count, ledger_figures, markdown, summary

SCALE = 0.02
SEED = 7
REQUEST_TIMEOUT_S = 10.0  # the server's request deadline ([limits] request_timeout_s)
CLIENT_TIMEOUT_S = 3 * REQUEST_TIMEOUT_S  # no answer by then: the request hung


def budget_for(seconds: float) -> int:
    """A daily budget the DWP analyst's share of the mix exhausts well before the end."""
    return int(800 * seconds)


# ---------------------------------------------------------------- the trust and its server


@dataclass
class Trust:
    """A demo trust on a throwaway PostgreSQL, with its settings file."""

    directory: Path
    config: Path
    ledger: Path
    budget: int
    pg: Any  # tests.pg.ThrowawayServer


def prepare(workdir: Path, budget: int) -> Trust:
    from gql_trust.config import bundled_dir
    from gql_trust.demo import generate
    from tests.pg import ThrowawayServer

    pg = ThrowawayServer()
    try:
        pg.start()
        directory = workdir / "trust"
        config = generate(directory, scale=SCALE, seed=SEED, postgres_dsn=pg.dsn)
        policies = workdir / "policies"
        shutil.copytree(bundled_dir("policies"), policies)
        agreements_file = policies / "agreements.yaml"
        raw = yaml.safe_load(agreements_file.read_text(encoding="utf-8"))
        (agreement,) = [a for a in raw["agreements"] if a["id"] == AGREEMENT]
        agreement["daily_cell_budget"] = budget
        agreements_file.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
        text = config.read_text(encoding="utf-8")
        text += (
            f"\n[policies]\ndir = {json.dumps(str(policies))}\n"
            f"\n[limits]\nrequest_timeout_s = {REQUEST_TIMEOUT_S}\n"
        )
        config.write_text(text, encoding="utf-8")
    except BaseException:
        pg.remove()
        raise
    return Trust(directory, config, directory / "ledger" / "ledger.sqlite", budget, pg)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Served:
    """`gql-trust serve --workers 2` in a process group of its own."""

    def __init__(self, config: Path, log: Path, workers: int = 2) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        command = Path(sys.executable).with_name("gql-trust")
        argv = [str(command), "serve", "--config", str(config), "--port", str(self.port)]
        with log.open("wb") as out:
            self.proc = subprocess.Popen(
                [*argv, "--workers", str(workers)],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # stop() ends exactly this group
            )

    async def wait_ready(self, timeout_s: float = 60) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server exited:\n{self.log.read_text()[-3000:]}")
            with contextlib.suppress(OSError, ValueError, IndexError, asyncio.IncompleteReadError):
                if await get_status(self.url, "/readyz") == 200:
                    return
            await asyncio.sleep(0.2)
        raise RuntimeError(f"the server was not ready in {timeout_s} s:\n{self.log.read_text()}")

    def workers(self) -> list[int]:
        return [pid for pid, ppid, cmd in _processes() if ppid == self.proc.pid and "spawn" in cmd]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()  # uvicorn's supervisor stops its workers
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)


def _processes() -> Iterator[tuple[int, int, str]]:
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError, ValueError):
            stat = (entry / "stat").read_text()
            ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            yield int(entry.name), ppid, cmd


def rss_kib(pid: int) -> int:
    with contextlib.suppress(OSError, ValueError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def cpu_seconds(pid: int) -> float:
    with contextlib.suppress(OSError, ValueError, IndexError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        fields = stat[stat.rindex(")") + 2 :].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return 0.0


# ---------------------------------------------------------------- faults and memory


async def faults(pg: Any, url: str, config: Path, seconds: float, timeline: Timeline) -> None:
    """Stop PostgreSQL a third of the way in, verify the ledger half-way (under load),
    start PostgreSQL again two thirds in."""
    await asyncio.sleep(max(0.0, timeline.started + seconds / 3 - time.perf_counter()))
    timeline.pg_stopping = timeline.now()
    await asyncio.to_thread(pg.stop)
    timeline.pg_stopped = timeline.now()
    with contextlib.suppress(OSError, ValueError, IndexError, asyncio.IncompleteReadError):
        timeline.ready_while_down = await get_status(url, "/readyz")
    await asyncio.sleep(max(0.0, timeline.started + seconds / 2 - time.perf_counter()))
    timeline.verify_under_load = await asyncio.to_thread(audit_verify, config)
    await asyncio.sleep(max(0.0, timeline.started + 2 * seconds / 3 - time.perf_counter()))
    timeline.pg_starting = timeline.now()
    await asyncio.to_thread(pg.start)
    timeline.pg_started = timeline.now()


async def sample_memory(server: Served, timeline: Timeline, stop: asyncio.Event) -> None:
    while not stop.is_set():
        pids = await asyncio.to_thread(server.workers)
        timeline.worker_pids.update(pids)
        timeline.samples.append(
            Sample(
                round(timeline.now(), 2),
                sum(rss_kib(pid) for pid in pids),
                len(pids),
                sum(cpu_seconds(pid) for pid in pids),
                os.getloadavg()[0],
            )
        )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=1.0)


# ---------------------------------------------------------------- the ledger afterwards


def audit_verify(config: Path) -> tuple[int, str]:
    command = Path(sys.executable).with_name("gql-trust")
    done = subprocess.run(
        [str(command), "audit", "verify", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return done.returncode, (done.stdout + done.stderr).strip()


# ---------------------------------------------------------------- the whole procedure


async def run(
    clients: int = 32,
    seconds: float = 60,
    workdir: Path | None = None,
    budget: int | None = None,
) -> dict[str, Any]:
    """The load-and-fault test; the report (``problems`` empty when every check held)."""
    from gql_trust.config import load_settings

    own_dir = workdir is None
    base = Path(tempfile.mkdtemp(prefix="gql-trust-reliability-")) if own_dir else workdir
    assert base is not None
    budget = budget if budget is not None else budget_for(seconds)
    stages: dict[str, float] = {}
    mark = time.perf_counter()
    load_before = os.getloadavg()
    trust = await asyncio.to_thread(prepare, base, budget)
    server: Served | None = None
    try:
        server = Served(trust.config, base / "server.log")
        await server.wait_ready()
        stages["setup_s"], mark = round(time.perf_counter() - mark, 2), time.perf_counter()
        timeline = Timeline(started=time.perf_counter())
        requests = requests_for(server.url, load_settings(trust.config))
        warm = await warm_up(server.url, requests, timeline, CLIENT_TIMEOUT_S)
        stages["warm_up_s"] = round(time.perf_counter() - mark, 2)
        before = ledger_count(trust.ledger)
        timeline = Timeline(started=time.perf_counter())
        stop_sampling = asyncio.Event()
        sampler = asyncio.create_task(sample_memory(server, timeline, stop_sampling))
        fault_task = asyncio.create_task(
            faults(trust.pg, server.url, trust.config, seconds, timeline)
        )
        try:
            answers = await load(server.url, requests, clients, seconds, timeline, CLIENT_TIMEOUT_S)
            timeline.ended = timeline.now()
            await fault_task
        finally:
            fault_task.cancel()
            stop_sampling.set()
            await sampler
        after = ledger_count(trust.ledger)
        with contextlib.suppress(OSError, ValueError, IndexError, asyncio.IncompleteReadError):
            timeline.ready_after = await get_status(server.url, "/readyz")
        verify_idle = await asyncio.to_thread(audit_verify, trust.config)
        alive = server.proc.poll() is None
        await asyncio.to_thread(server.stop)
        verify_after = await asyncio.to_thread(audit_verify, trust.config)
        report = analyse(
            answers,
            warm,
            timeline,
            clients=clients,
            seconds=seconds,
            budget=budget,
            entries_added=after - before,
            ledger=ledger_figures(trust.ledger),
            verify=(timeline.verify_under_load, verify_idle, verify_after),
            server_alive=alive,
        )
        report["log"] = str(server.log)
        with (base / "answers.jsonl").open("w", encoding="utf-8") as out:
            for answer in answers:  # every response, for a closer look (--workdir keeps it)
                out.write(json.dumps(dataclasses.asdict(answer)) + "\n")
        report["machine"] = {
            "cpus": os.cpu_count(),
            "load_average_before": [round(x, 2) for x in load_before],
            "load_average_after": [round(x, 2) for x in os.getloadavg()],
        }
        report["stages"] = stages
        return report
    finally:
        if server is not None:
            await asyncio.to_thread(server.stop)
        await asyncio.to_thread(trust.pg.remove)
        if own_dir:
            shutil.rmtree(base, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.reliability", description=__doc__)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--budget", type=int, default=None, help="daily cells for the agreement")
    parser.add_argument("--json", type=Path, default=None, help="write the report here")
    parser.add_argument("--workdir", type=Path, default=None, help="keep the trust and logs")
    parser.add_argument("--markdown", action="store_true", help="also print the docs' tables")
    args = parser.parse_args(argv)
    if args.workdir is not None:
        args.workdir.mkdir(parents=True, exist_ok=True)
    report = asyncio.run(run(args.clients, args.seconds, args.workdir, args.budget))
    print(summary(report))
    if args.markdown:
        print("\n" + markdown(report))
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return 1 if report["problems"] else 0


if __name__ == "__main__":
    sys.exit(main())
