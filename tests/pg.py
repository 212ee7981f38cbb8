"""A PostgreSQL server for the tests: $GQL_TRUST_TEST_PG_DSN, or a throwaway one.

The throwaway server is started from the local binaries (initdb, pg_ctl). Both
refuse to run as root, so as root they run as the `postgres` user.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

DSN_ENV = "GQL_TRUST_TEST_PG_DSN"


def _binary(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    for candidate in sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), reverse=True):
        return str(candidate)
    raise RuntimeError(f"PostgreSQL's {name} is not installed; install PostgreSQL or set {DSN_ENV}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ThrowawayServer:
    """A PostgreSQL cluster in a temporary folder that a test can stop and start again."""

    def __init__(self) -> None:
        self.as_root = os.geteuid() == 0
        self.base = Path(tempfile.mkdtemp(prefix="gql-trust-pg-"))
        self.data = self.base / "data"
        if self.as_root:
            shutil.chown(self.base, "postgres")
            self.base.chmod(0o755)
        self.port = _free_port()
        self.dsn = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        self._run(
            _binary("initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust", "--no-sync"
        )

    def _run(self, *args: str) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if self.as_root else []
        subprocess.run([*prefix, *args], check=True, capture_output=True)

    def start(self) -> None:
        options = f"-p {self.port} -k {self.base} -h 127.0.0.1 -c fsync=off"
        log = str(self.base / "log")
        self._run(_binary("pg_ctl"), "-D", str(self.data), "-w", "-l", log, "-o", options, "start")

    def stop(self) -> None:
        self._run(_binary("pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def remove(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self.stop()
        shutil.rmtree(self.base, ignore_errors=True)


@contextlib.contextmanager
def throwaway_server() -> Iterator[str]:
    server = ThrowawayServer()
    server.start()
    try:
        yield server.dsn
    finally:
        server.remove()


@contextlib.contextmanager
def server_dsn() -> Iterator[str]:
    dsn = os.environ.get(DSN_ENV)
    if dsn:
        yield dsn
    else:
        with throwaway_server() as started:
            yield started


@contextlib.asynccontextmanager
async def fresh_database(server_dsn: str, prefix: str) -> AsyncIterator[str]:
    """A new, empty database on ``server_dsn``, dropped afterwards; yields its DSN."""
    import uuid

    import asyncpg

    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(server_dsn)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    head, _, _ = server_dsn.rpartition("/")
    try:
        yield f"{head}/{name}"
    finally:
        admin = await asyncpg.connect(server_dsn)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
