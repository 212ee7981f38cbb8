"""docs/agreements.md, run as written: its console blocks are the commands and outputs.

Each ```console LABEL``` block is a terminal session: lines starting with ``$ `` are
commands (continued by a trailing backslash or a here-document), the lines after a
command are what it prints. ``...`` stands for any text within a line, or on a line
of its own for any number of lines. The commands run in order, in one folder, against
a real ``gql-trust serve --workers 2`` on 127.0.0.1 (the doc's port 8000 replaced by
a free one); so the doc cannot drift from what the trust does.
"""

from __future__ import annotations

import os
import re
import shlex
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from gql_trust.ledger.entry import Outcome
from tests.servers import free_port

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "agreements.md"
DOC_ADDRESS = "127.0.0.1:8000"


@dataclass
class Command:
    text: str
    expected: list[str] = field(default_factory=list)


def blocks(kind: str = "console") -> dict[str, str]:
    text = DOC.read_text(encoding="utf-8")
    found = re.findall(rf"```{kind} ([\w-]+)\n(.*?)```", text, flags=re.DOTALL)
    labels = [label for label, _ in found]
    assert len(labels) == len(set(labels)), f"docs/agreements.md repeats a label: {labels}"
    return dict(found)


def commands(block: str) -> list[Command]:
    parsed: list[Command] = []
    lines = iter(block.splitlines())
    for line in lines:
        if not line.startswith("$ "):
            assert parsed, f"output before any command: {line!r}"
            parsed[-1].expected.append(line)
            continue
        text = line[2:]
        while text.endswith("\\"):
            text += "\n" + next(lines)
        if "<<'EOF'" in text:
            body = []
            for more in lines:
                body.append(more)
                if more == "EOF":
                    break
            text += "\n" + "\n".join(body)
        parsed.append(Command(text))
    return parsed


def matches(expected: list[str], output: str) -> bool:
    """Whether ``output`` is ``expected``, with ``...`` as a wildcard."""
    pattern = ""
    for line in expected:
        if line == "...":
            pattern += r"(?:[^\n]*\n)*?"
        else:
            pattern += r"[^\n]*".join(re.escape(part) for part in line.split("...")) + r"\n"
    return re.fullmatch(pattern, output if output.endswith("\n") else output + "\n") is not None


def run(command: Command, cwd: Path, env: dict[str, str], port: int) -> str:
    text = command.text.replace(DOC_ADDRESS, f"127.0.0.1:{port}")
    done = subprocess.run(
        ["bash", "-o", "pipefail", "-c", text],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"{command.text}\nexit {done.returncode}:\n{output}"
    if command.expected:
        assert matches(command.expected, output), (
            f"{command.text}\nprinted:\n{output}\nthe doc says:\n" + "\n".join(command.expected)
        )
    return output


def wait_until_ready(url: str, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert server.poll() is None, log.read_text()
        try:
            if httpx.get(f"{url}/readyz", timeout=5).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"the server was not ready:\n{log.read_text()}")


def test_matches_reads_wildcards() -> None:
    assert matches(["a ... c"], "a b c\n")
    assert matches(["x", "...", "z"], "x\ny\ny\nz\n")
    assert matches(["x", "...", "z"], "x\nz")
    assert not matches(["a ... c"], "a b d\n")
    assert not matches(["x", "z"], "x\ny\nz\n")


def uncovered_field_is_refused(url: str, token_file: Path) -> None:
    """What the doc says besides its outputs: the agreement does not cover `sex`, so
    claimants by sex stay at region level or coarser for DfE."""
    headers = {"Authorization": f"Bearer {token_file.read_text().strip()}"}
    query = "{ claimants(geography: %s) { period sex claimants } }"
    local = httpx.post(f"{url}/graphql", json={"query": query % "LOCAL_AUTHORITY"}, headers=headers)
    (error,) = local.json()["errors"]
    assert error["extensions"]["code"] == "FORBIDDEN", error
    assert "REGION or coarser" in error["extensions"]["reason"], error
    regional = httpx.post(f"{url}/graphql", json={"query": query % "REGION"}, headers=headers)
    assert "errors" not in regional.json() and regional.json()["data"]["claimants"]


def test_the_walkthrough_runs_as_written(tmp_path: Path) -> None:
    console = blocks()
    order = list(console)
    assert order[:2] == ["setup", "server"], order
    for step in ("agreement", "rule", "check", "in-force", "dry-run", "first-query"):
        assert step in order, f"docs/agreements.md lost its {step!r} step"
    assert order.index("receipt") < order.index("suspend"), order
    bin_dir = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    env.pop("GQL_TRUST_CONFIG", None)
    port = free_port()
    for command in commands(console["setup"]):
        run(command, tmp_path, env, port)

    (serve,) = commands(console["server"])
    argv = [*shlex.split(serve.text), "--port", str(port)]
    assert argv[:2] == ["gql-trust", "serve"]
    log = tmp_path / "server.log"
    with log.open("wb") as out:
        server = subprocess.Popen(argv, cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_ready(url, server, log)
        for label in order[2:]:
            if label == "suspend":
                uncovered_field_is_refused(url, tmp_path / "dfe.token")
            for command in commands(console[label]):
                run(command, tmp_path, env, port)
            if label == "suspend":
                agreements = tmp_path / "demo-trust" / "policies" / "agreements.yaml"
                assert blocks("yaml")["suspension"] in agreements.read_text(encoding="utf-8")
    finally:
        server.terminate()
        server.wait(timeout=30)
    text = log.read_text()
    assert text.count("Started server process") == 2, text
    # Both workers took both changes (the agreement, then its suspension) ...
    assert text.count(" in force (was ") == 4, text
    # ... and the ledger has each change once, and verifies.
    config = tmp_path / "demo-trust" / "gql-trust.toml"
    verified = subprocess.run(
        ["gql-trust", "audit", "verify", "--config", str(config)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert verified.returncode == 0, verified.stdout + verified.stderr
    ledger = tmp_path / "demo-trust" / "ledger" / "ledger.sqlite"
    with sqlite3.connect(f"file:{ledger}?mode=ro", uri=True) as conn:
        outcomes = [row[0] for row in conn.execute("SELECT outcome FROM ledger_entries")]
    assert outcomes.count(Outcome.POLICY_CHANGE.value) == 2, outcomes
