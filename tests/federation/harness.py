"""Run the federation stack for tests: the trust, the DfE example and a real Hive Gateway.

The gateway is Node.js code (``gateway/gateway.mjs``) over npm packages pinned by the
committed ``gateway/package-lock.json``; :func:`install_gateway` runs ``npm ci`` once and
keeps ``node_modules`` (git-ignored) until the lock file changes.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from tests.servers import free_port

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
GATEWAY_DIR = HERE / "gateway"
DFE_DIR = ROOT / "examples" / "partner_dfe"
STAMP = GATEWAY_DIR / "node_modules" / ".gql-trust-lock.sha256"
NPM_TIMEOUT_S = 300
START_TIMEOUT_S = 60


class StackError(RuntimeError):
    """Something the federation tests need could not be set up."""


def missing_tools() -> list[str]:
    return [tool for tool in ("node", "npm") if shutil.which(tool) is None]


def install_gateway() -> None:
    """``npm ci`` from the committed lock file, unless node_modules already matches it.

    Serialised with a file lock: test sessions running side by side share node_modules."""
    with (Path(tempfile.gettempdir()) / "gql-trust-gateway-npm-ci.lock").open("w") as guard:
        fcntl.flock(guard, fcntl.LOCK_EX)
        _install_gateway()


def _install_gateway() -> None:
    lock = hashlib.sha256((GATEWAY_DIR / "package-lock.json").read_bytes()).hexdigest()
    if STAMP.is_file() and STAMP.read_text(encoding="utf-8").strip() == lock:
        return
    env = {**os.environ, "npm_config_update_notifier": "false"}
    cmd = ["npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"]
    try:
        proc = subprocess.run(
            cmd,
            cwd=GATEWAY_DIR,
            env=env,
            capture_output=True,
            text=True,
            timeout=NPM_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise StackError(f"`npm ci` for the test gateway took over {NPM_TIMEOUT_S} s") from exc
    if proc.returncode != 0:
        raise StackError(f"`npm ci` for the test gateway failed:\n{proc.stderr[-2000:]}")
    STAMP.write_text(lock + "\n", encoding="utf-8")


@contextlib.contextmanager
def process(name: str, cmd: list[str], cwd: Path, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A child process whose output goes to ``log``; terminated (then killed) at exit."""
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
        try:
            yield proc
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


def wait_for_sdl(name: str, url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    """Until the subgraph at ``url`` answers ``{ _service { sdl } }``."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise StackError(f"{name} exited with {proc.returncode}:\n{_tail(log)}")
        with contextlib.suppress(httpx.HTTPError):
            response = httpx.post(url, json={"query": "{ _service { sdl } }"}, timeout=5)
            if response.status_code == 200:
                return
        time.sleep(0.1)
    raise StackError(f"{name} did not start within {START_TIMEOUT_S} s:\n{_tail(log)}")


def wait_for_line(name: str, text: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if text in log.read_text(encoding="utf-8", errors="replace"):
            return
        if proc.poll() is not None:
            raise StackError(f"{name} exited with {proc.returncode}:\n{_tail(log)}")
        time.sleep(0.1)
    raise StackError(f"{name} did not start within {START_TIMEOUT_S} s:\n{_tail(log)}")


@contextlib.contextmanager
def dfe_subgraph(logs: Path) -> Iterator[str]:
    """The DfE example subgraph (uvicorn in a child process); yields its /graphql URL."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/graphql"
    log = logs / "dfe.log"
    cmd = [sys.executable, "-m", "uvicorn", "app:app", "--app-dir", str(DFE_DIR)]
    cmd += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    with process("the DfE subgraph", cmd, ROOT, log) as proc:
        wait_for_sdl("the DfE subgraph", url, proc, log)
        yield url


@contextlib.contextmanager
def gateway(subgraphs: dict[str, str], logs: Path) -> Iterator[str]:
    """Hive Gateway over ``subgraphs`` (name -> URL), in Node.js; yields its /graphql URL."""
    port = free_port()
    log = logs / "gateway.log"
    cmd = ["node", "gateway.mjs", "--port", str(port)]
    for name, url in subgraphs.items():
        cmd += ["--subgraph", f"{name}={url}"]
    with process("the gateway", cmd, GATEWAY_DIR, log) as proc:
        wait_for_line("the gateway", "gateway ready", proc, log)
        yield f"http://127.0.0.1:{port}/graphql"


def _tail(log: Path) -> str:
    return log.read_text(encoding="utf-8", errors="replace")[-3000:]
