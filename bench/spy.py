"""py-spy on the real server under load: where each worker's CPU goes.

    python -m bench.spy --workload W1 --clients 16 --seconds 10

Starts `gql-trust serve --workers 2` on the runner's demo trust, loads it with
``--clients`` keep-alive connections, and samples every worker with py-spy (needs
ptrace: root, or CAP_SYS_PTRACE). Each worker's samples are summed by library like
``bench.profile`` does (standard-library frames count for their caller); idle time
(waiting in the event loop) is left out of the percentages. Writes py-spy's collapsed
stacks (flame-graph input) next to the trust's logs, and the summary to
``bench/results/profiles/spy-<workload>.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import shutil
import sys
from collections import Counter
from pathlib import Path

from .load import http_load
from .profile import category
from .run import PRINCIPALS, RESULTS, default_data_dir
from .servers import free_port, gql_trust_server, mint_token

FRAME = re.compile(r"\(([^()]*):\d+\)$")


def summarise(collapsed: Path) -> tuple[Counter[str], int]:
    """(samples per category on the main thread, busy samples) from py-spy's raw output.

    The extra key ``within: GraphQL validation`` counts busy samples under graphql-core's
    ``validate`` whatever their category (it overlaps the others)."""
    counts: Counter[str] = Counter()
    for line in collapsed.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        frames = stack.split(";")
        if not frames[0].startswith("<module>"):
            continue  # other threads: uvicorn's ping thread, ledger and DuckDB pools
        if "select (selectors.py" in frames[-1] or frames[-1].startswith("Runner.run ("):
            # waiting in the event loop (uvloop's is C: the wait shows as Runner.run)
            counts["idle"] += int(n)
            continue
        if "validation/validate.py" in stack:
            counts["within: GraphQL validation"] += int(n)
        current: str | None = None
        for frame in frames:
            match = FRAME.search(frame)
            path = match.group(1) if match else ""
            if path and not path.startswith("/"):  # py-spy shortens to module-relative
                path = "/site-packages/" + path
            if "/asyncio/" in path and current in (None, "starlette / ASGI"):
                current = "asyncio event loop, uvicorn protocol"
                continue
            current = category(path, current)
        counts[current or "python (other)"] += int(n)
    return counts, sum(v for k, v in counts.items() if k != "idle" and not k.startswith("within"))


async def spy(
    config: Path, workload: str, clients: int, seconds: float, out: Path, raw_dir: Path
) -> dict:
    from .baselines import RawSources
    from .workloads import Layout, build

    binary = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    from gql_trust.config import load_settings

    raw_dsn = load_settings(config).sources["dwp"].dsn
    assert raw_dsn is not None
    async with RawSources(raw_dsn, concurrency=1) as raw:
        layout = Layout.read(config.parent, await raw.months())
    chosen = {w.key: w for w in build(layout)}[workload]
    token = mint_token(config, **PRINCIPALS[chosen.principal])  # type: ignore[arg-type]
    port = free_port()
    out.mkdir(parents=True, exist_ok=True)
    raw_dir.mkdir(parents=True, exist_ok=True)
    with gql_trust_server(config, port, 2, raw_dir / "spy-server.log") as server:
        url = f"http://127.0.0.1:{port}/graphql"
        body = json.dumps({"query": chosen.graphql}).encode()
        headers = {"Authorization": f"Bearer {token}"}
        await http_load(
            url,
            body,
            headers,
            concurrency=clients,
            duration_s=2,
            min_requests=1,
            max_requests=10**6,
        )
        load = asyncio.ensure_future(
            http_load(
                url,
                body,
                headers,
                concurrency=clients,
                duration_s=seconds + 2,
                min_requests=1,
                max_requests=10**6,
            )
        )
        await asyncio.sleep(1)
        spread = server.connections_per_process(port)
        workers = [
            p.pid for p in server.processes()[1:] if "resource_tracker" not in " ".join(p.cmdline())
        ]
        recorders = [
            await asyncio.create_subprocess_exec(
                binary,
                "record",
                "-p",
                str(pid),
                "-d",
                str(int(seconds)),
                "-r",
                "200",
                "-f",
                "raw",
                "-o",
                str(raw_dir / f"spy-{workload}-{pid}.txt"),
                "--idle",
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL,
            )
            for pid in workers
        ]
        for recorder in recorders:
            await recorder.wait()
        result = (await load).summary()
    report: dict = {"workload": workload, "load": result, "connections_per_process": spread}
    for pid in workers:
        path = raw_dir / f"spy-{workload}-{pid}.txt"
        if not path.is_file():
            continue
        counts, busy = summarise(path)
        total = busy + counts.get("idle", 0)
        report[f"worker {pid}"] = {
            "busy_percent": round(100 * busy / total, 1) if total else 0.0,
            "percent_of_busy": {
                k: round(100 * v / busy, 1) for k, v in counts.most_common() if k != "idle" and busy
            },
        }
    (out / f"spy-{workload}.json").write_text(json.dumps(report, indent=2) + "\n")
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.spy",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--config", type=Path, help="default: the runner's trust at --scale")
    parser.add_argument("--workload", default="W1")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--out", type=Path, default=RESULTS / "profiles")
    args = parser.parse_args(argv)
    config = args.config or default_data_dir(args.scale) / "gql-trust.toml"
    raw_dir = config.parent / "logs"
    report = asyncio.run(
        spy(config, args.workload.upper(), args.clients, args.seconds, args.out, raw_dir)
    )
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
