"""Node.js tools for the tests, installed with ``npm ci`` from committed lock files.

``python -m tests.npm`` installs every folder in ``FOLDERS`` (``scripts/test`` runs it,
so CI downloads from npm during setup only); the fixtures call :func:`install` too,
which does nothing when ``node_modules`` already matches the lock file.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NODE_DIR = ROOT / "tests" / "node"  # graphql-http's audit, the loopback OpenID provider
BROWSER_DIR = ROOT / "tests" / "browser" / "node"  # axe-core, for the accessibility audit
FOLDERS = (NODE_DIR, ROOT / "tests" / "federation" / "gateway", BROWSER_DIR)
NPM_TIMEOUT_S = 300
_STAMP = ".gql-trust-lock.sha256"


class NpmError(RuntimeError):
    """Node.js or a package the tests need could not be set up."""


def missing_tools() -> list[str]:
    return [tool for tool in ("node", "npm") if shutil.which(tool) is None]


def install(folder: Path) -> None:
    """``npm ci`` in ``folder`` unless its node_modules matches its lock; serialised with a
    file lock, since test sessions running side by side share node_modules."""
    missing = missing_tools()
    if missing:
        raise NpmError(f"the tests need Node.js 20+ and npm; missing: {', '.join(missing)}")
    name = hashlib.sha256(str(folder).encode()).hexdigest()[:12]
    with (Path(tempfile.gettempdir()) / f"gql-trust-npm-ci-{name}.lock").open("w") as guard:
        fcntl.flock(guard, fcntl.LOCK_EX)
        _install(folder)


def _install(folder: Path) -> None:
    lock = hashlib.sha256((folder / "package-lock.json").read_bytes()).hexdigest()
    stamp = folder / "node_modules" / _STAMP
    if stamp.is_file() and stamp.read_text(encoding="utf-8").strip() == lock:
        return
    env = {**os.environ, "npm_config_update_notifier": "false"}
    cmd = ["npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"]
    try:
        proc = subprocess.run(
            cmd, cwd=folder, env=env, capture_output=True, text=True, timeout=NPM_TIMEOUT_S
        )
    except subprocess.TimeoutExpired as exc:
        raise NpmError(f"`npm ci` in {folder} took over {NPM_TIMEOUT_S} s") from exc
    if proc.returncode != 0:
        raise NpmError(f"`npm ci` in {folder} failed:\n{proc.stderr[-2000:]}")
    stamp.write_text(lock + "\n", encoding="utf-8")


def main() -> int:
    for folder in FOLDERS:
        install(folder)
        print(f"npm ci: {folder.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
