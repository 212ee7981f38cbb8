"""Start and stop the servers under test as subprocesses; sample their memory.

Each server runs in its own process group, which the runner created, so stopping
it ends exactly the processes it started (the uvicorn or PostGraphile master and
its workers) and nothing else.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import psutil

POSTGRAPHILE_DIR = Path(__file__).resolve().parent / "postgraphile"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """A server process group, with a log file and peak-RSS sampling of its processes."""

    def __init__(
        self,
        name: str,
        argv: list[str],
        log: Path,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.name, self.argv, self.log_path = name, argv, log
        self.env, self.cwd = env, cwd
        self.proc: subprocess.Popen[bytes] | None = None
        self.peak_worker_rss = 0  # bytes, the largest single process seen
        self.peak_total_rss = 0  # bytes, all the server's processes together

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            self.argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **(self.env or {})},
            cwd=self.cwd,
            start_new_session=True,  # its own process group: stop() ends exactly this group
        )
        log.close()

    def wait_ready(self, url: str, body: bytes | None = None, timeout_s: float = 60) -> None:
        deadline = time.monotonic() + timeout_s
        last: Exception | None = None
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited early; see {self.log_path}:\n{self.tail()}")
            try:
                request = urllib.request.Request(url, data=body, method="POST" if body else "GET")
                request.add_header("Content-Type", "application/json")
                with urllib.request.urlopen(request, timeout=5) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError) as exc:
                last = exc
            time.sleep(0.2)
        raise RuntimeError(
            f"{self.name} not ready after {timeout_s}s ({last}); see {self.log_path}"
        )

    def processes(self) -> list[psutil.Process]:
        if self.proc is None:
            return []
        try:
            root = psutil.Process(self.proc.pid)
            return [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def sample(self) -> tuple[int, int]:
        """(largest process RSS, total RSS) now, in bytes; updates the peaks."""
        sizes = []
        for p in self.processes():
            with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
                sizes.append(p.memory_info().rss)
        largest, total = (max(sizes), sum(sizes)) if sizes else (0, 0)
        self.peak_worker_rss = max(self.peak_worker_rss, largest)
        self.peak_total_rss = max(self.peak_total_rss, total)
        return largest, total

    def cpu_seconds(self) -> float:
        """User + system CPU time used so far by the server's processes."""
        total = 0.0
        for p in self.processes():
            with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
                times = p.cpu_times()
                total += times.user + times.system
        return total

    def connections_per_process(self, port: int) -> list[int]:
        """Established client connections held by each of the server's processes."""
        counts = []
        for p in self.processes():
            with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
                n = sum(
                    1
                    for c in p.net_connections(kind="tcp")
                    if c.status == psutil.CONN_ESTABLISHED and c.laddr and c.laddr.port == port
                )
                if n:
                    counts.append(n)
        return sorted(counts, reverse=True)

    def reset_peaks(self) -> None:
        self.peak_worker_rss = self.peak_total_rss = 0

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        pgid = self.proc.pid  # start_new_session: the group id is the leader's pid
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        # workers left behind in the group (the master exited first)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)


@contextlib.contextmanager
def gql_trust_server(config: Path, port: int, workers: int, log: Path) -> Iterator[Server]:
    argv = [
        sys.executable,
        "-m",
        "gql_trust.cli",
        "serve",
        "--config",
        str(config),
        "--port",
        str(port),
        "--workers",
        str(workers),
    ]
    server = Server("gql-trust", argv, log)
    server.start()
    try:
        server.wait_ready(f"http://127.0.0.1:{port}/readyz")
        yield server
    finally:
        server.stop()


def mint_token(
    config: Path, dept: str, role: str, purpose: str | None = None, agreement: str | None = None
) -> str:
    """A bearer token from the real CLI, as a user would get one."""
    argv = [
        sys.executable,
        "-m",
        "gql_trust.cli",
        "token",
        "--config",
        str(config),
        "--sub",
        f"bench-{dept.lower()}",
        "--dept",
        dept,
        "--role",
        role,
        "--ttl",
        "14400",
    ]
    if purpose:
        argv += ["--purpose", purpose]
    if agreement:
        argv += ["--agreement", agreement]
    out = subprocess.run(argv, check=True, capture_output=True, text=True, timeout=60)
    return out.stdout.strip()


def npm_ci() -> Path:
    """Install PostGraphile from the committed lock file (once per lock file version)."""
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        raise RuntimeError("Node.js and npm are needed for the PostGraphile baseline")
    lock = POSTGRAPHILE_DIR / "package-lock.json"
    digest = hashlib.sha256(lock.read_bytes()).hexdigest()
    marker = POSTGRAPHILE_DIR / "node_modules" / ".installed-lock-sha256"
    binary = POSTGRAPHILE_DIR / "node_modules" / ".bin" / "postgraphile"
    if not (marker.is_file() and marker.read_text() == digest and binary.exists()):
        subprocess.run(
            [npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=POSTGRAPHILE_DIR,
            check=True,
            timeout=600,
            env={**os.environ, "npm_config_update_notifier": "false"},
        )
        marker.write_text(digest)
    return binary


@contextlib.contextmanager
def postgraphile_server(
    dsn: str, schema: str, port: int, workers: int, log: Path
) -> Iterator[Server]:
    binary = npm_ci()
    argv = [
        str(binary),
        "--connection",
        dsn,
        "--schema",
        schema,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--append-plugins",
        "@graphile/pg-aggregates,postgraphile-plugin-connection-filter",
        "--disable-default-mutations",
        "--disable-query-log",
        "--dynamic-json",
    ]
    if workers > 1:
        argv += ["--cluster-workers", str(workers)]
    server = Server("postgraphile", argv, log, cwd=POSTGRAPHILE_DIR, env={"NODE_ENV": "production"})
    server.start()
    try:
        server.wait_ready(
            f"http://127.0.0.1:{port}/graphql", body=b'{"query":"{ __typename }"}', timeout_s=90
        )
        yield server
    finally:
        server.stop()
