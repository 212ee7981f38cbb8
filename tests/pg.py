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
from collections.abc import Iterator
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


@contextlib.contextmanager
def throwaway_server() -> Iterator[str]:
    as_root = os.geteuid() == 0
    prefix = ["runuser", "-u", "postgres", "--"] if as_root else []
    base = Path(tempfile.mkdtemp(prefix="gql-trust-pg-"))
    data = base / "data"
    if as_root:
        shutil.chown(base, "postgres")
        base.chmod(0o755)
    port = _free_port()
    run = lambda *args: subprocess.run([*prefix, *args], check=True, capture_output=True)  # noqa: E731
    run(_binary("initdb"), "-D", str(data), "-U", "postgres", "-A", "trust", "--no-sync")
    run(
        _binary("pg_ctl"), "-D", str(data), "-w", "-l", str(base / "log"), "-o",
        f"-p {port} -k {base} -h 127.0.0.1 -c fsync=off", "start",
    )  # fmt: skip
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        run(_binary("pg_ctl"), "-D", str(data), "-m", "immediate", "stop")
        shutil.rmtree(base, ignore_errors=True)


@contextlib.contextmanager
def server_dsn() -> Iterator[str]:
    dsn = os.environ.get(DSN_ENV)
    if dsn:
        yield dsn
    else:
        with throwaway_server() as started:
            yield started
