"""The Dockerfile's invariants, checked on its text (no Docker engine needed).

The image must install the package non-editably, fetch the pinned GraphiQL
bundles at build time (so the served page works offline), run as a non-root
user, probe ``/healthz`` without curl, and bind ``0.0.0.0`` by default.
"""

from __future__ import annotations

import fnmatch
import json
import shlex
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from gql_trust.cli import main

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
BASE_IMAGE = "python:3.11-slim"
DEFAULT_CMD = [
    "gql-trust",
    "demo",
    "--host",
    "0.0.0.0",
    "--port",
    "8000",
    "--data-dir",
    "/home/trust/demo-trust",
]


@dataclass(frozen=True)
class Instruction:
    keyword: str  # upper case: FROM, RUN, ...
    args: str  # everything after the keyword, continuation lines joined
    line: int


@dataclass
class Stage:
    image: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]

    def run_text(self) -> str:
        return "\n".join(i.args for i in self.all("RUN"))


def parse(text: str) -> list[Stage]:
    """Split a Dockerfile into stages of instructions (comments dropped, `\\` lines joined)."""
    logical: list[tuple[int, str]] = []
    buffer: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if not buffer and (not stripped or stripped.startswith("#")):
            continue
        if buffer and stripped.startswith("#"):
            continue  # comment lines inside a continuation are ignored by Docker too
        if not buffer:
            start = number
        if stripped.endswith("\\"):
            buffer.append(stripped[:-1].strip())
            continue
        buffer.append(stripped)
        logical.append((start, " ".join(part for part in buffer if part)))
        buffer = []
    assert not buffer, "the Dockerfile ends inside a line continuation"

    stages: list[Stage] = []
    for number, line in logical:
        keyword, _, args = line.partition(" ")
        instruction = Instruction(keyword.upper(), args.strip(), number)
        if instruction.keyword == "FROM":
            words = args.split()
            words = [w for w in words if not w.startswith("--platform")]
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            stages.append(Stage(words[0], name))
        elif instruction.keyword == "ARG" and not stages:
            continue  # global build args before the first FROM
        else:
            assert stages, f"line {number}: {keyword} before any FROM"
            stages[-1].instructions.append(instruction)
    return stages


def exec_form(instruction: Instruction, prefix: str = "") -> list[str]:
    """The JSON exec-form argv of CMD / HEALTHCHECK ... CMD (shell form is not accepted)."""
    args = instruction.args
    if prefix:
        assert prefix in args, f"line {instruction.line}: expected {prefix!r}"
        args = args.split(prefix, 1)[1]
    argv = json.loads(args)
    assert isinstance(argv, list), f"line {instruction.line}: use the JSON exec form"
    assert all(isinstance(a, str) for a in argv)
    return argv


@pytest.fixture(scope="module")
def stages() -> list[Stage]:
    return parse(DOCKERFILE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def build(stages: list[Stage]) -> Stage:
    return stages[0]


@pytest.fixture(scope="module")
def final(stages: list[Stage]) -> Stage:
    return stages[-1]


def test_multi_stage_on_pinned_python_slim(stages: list[Stage]) -> None:
    assert len(stages) >= 2, "expected a build stage and a runtime stage"
    assert [s.image for s in stages] == [BASE_IMAGE] * len(stages)
    assert stages[0].name, "the build stage needs a name for COPY --from"


def test_build_stage_installs_node_and_npm_lean(build: Stage) -> None:
    runs = build.run_text()
    assert "apt-get update" in runs
    install = next(line for line in runs.split("&&") if "apt-get install" in line)
    words = install.split()
    assert "--no-install-recommends" in words
    assert {"nodejs", "npm"} <= set(words)
    assert "rm -rf /var/lib/apt/lists/*" in runs


def test_build_stage_installs_the_package_non_editably_then_fetches_assets(build: Stage) -> None:
    commands = [c.strip() for i in build.all("RUN") for c in i.args.split("&&")]
    assert any(c.split()[:3] == ["python", "-m", "venv"] and "/opt/venv" in c for c in commands)
    pip = [c for c in commands if c.startswith("/opt/venv/bin/pip install")]
    assert len(pip) == 1, commands
    pip_args = shlex.split(pip[0])[2:]
    assert "--no-cache-dir" in pip_args
    assert "." in pip_args
    fetch = commands.index("/opt/venv/bin/gql-trust assets fetch")
    assert fetch > commands.index(pip[0]), "assets fetch must run on the installed package"
    assert any(
        i.keyword == "COPY" and i.args.split()[-1] in (".", "./") for i in build.instructions
    )


def test_no_editable_install_anywhere(stages: list[Stage]) -> None:
    for stage in stages:
        for instruction in stage.all("RUN"):
            words = shlex.split(instruction.args)
            assert "-e" not in words and "--editable" not in words, instruction


def test_final_stage_copies_only_the_venv_and_runs_as_non_root(final: Stage) -> None:
    copies = final.all("COPY")
    assert copies, "the runtime stage must copy the venv from the build stage"
    assert all(c.args.startswith("--from=") for c in copies)
    assert any(c.args.split()[1:] == ["/opt/venv", "/opt/venv"] for c in copies)
    assert not final.all("ADD")
    users = final.all("USER")
    assert users, "the runtime stage needs a USER"
    user = users[-1].args.split(":")[0]
    assert user not in ("root", "0", "")
    assert user == "10001" or "--uid 10001" in final.run_text()


def test_final_stage_environment(final: Stage) -> None:
    env = " ".join(i.args for i in final.all("ENV"))
    assert "PATH=/opt/venv/bin:$PATH" in env
    assert "PYTHONUNBUFFERED=1" in env
    assert [i.args for i in final.all("WORKDIR")][-1] == "/home/trust"
    assert "8000" in " ".join(i.args for i in final.all("EXPOSE")).split()


def test_healthcheck_probes_healthz_with_urllib(final: Stage) -> None:
    checks = final.all("HEALTHCHECK")
    assert len(checks) == 1
    argv = exec_form(checks[0], prefix=" CMD ")
    text = " ".join(argv)
    assert "http://127.0.0.1:8000/healthz" in text
    assert "urllib" in text
    assert "curl" not in text and "wget" not in text
    assert argv[0] in ("python", "python3", "/opt/venv/bin/python")
    assert argv[1] == "-c"
    compile(argv[2], "<healthcheck>", "exec")  # the probe is valid Python


def test_default_command_serves_the_demo_on_all_interfaces(final: Stage) -> None:
    cmds = final.all("CMD")
    assert cmds, "the runtime stage needs a default CMD"
    argv = exec_form(cmds[-1])
    assert argv == DEFAULT_CMD
    assert argv[argv.index("--host") + 1] == "0.0.0.0"
    assert not final.all("ENTRYPOINT")


def test_default_command_parses_with_the_real_cli() -> None:
    """The CMD's options exist on `gql-trust demo` (parsed by click, nothing runs)."""
    command = main.commands[DEFAULT_CMD[1]]
    ctx = command.make_context(DEFAULT_CMD[1], DEFAULT_CMD[2:])
    assert ctx.params["host"] == "0.0.0.0"
    assert ctx.params["port"] == 8000
    assert str(ctx.params["data_dir"]) == "/home/trust/demo-trust"


def _ignored(path: str, patterns: list[str]) -> bool:
    """Roughly Docker's rule: a pattern matches a path or one of its parent folders, from
    the context root (``**/`` at any depth); the last matching pattern wins (``!`` keeps)."""
    parts = path.split("/")
    ignored = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        body = (pattern[1:] if negate else pattern).strip("/")
        if body.startswith("**/"):
            candidates = [
                "/".join(parts[i:j])
                for i in range(len(parts))
                for j in range(i + 1, len(parts) + 1)
            ]
            body = body[3:]
        else:
            candidates = ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]
        if any(fnmatch.fnmatchcase(c, body) for c in candidates):
            ignored = not negate
    return ignored


def test_dockerignore_keeps_the_build_inputs_and_drops_the_rest() -> None:
    patterns = [
        line.strip()
        for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    for needed in (
        "pyproject.toml",
        "README.md",
        "gql_trust/cli.py",
        "gql_trust/graphiql_assets/package-lock.json",
        "gql_trust/static/graphiql/init.js",
        "schema/claimants.yaml",
        "policies/model.conf",
    ):
        assert not _ignored(needed, patterns), f".dockerignore drops {needed}"
    for junk in (
        ".git/HEAD",
        ".venv/bin/python",
        "gql_trust/static/vendor/graphiql.min.js",
        "gql_trust/graphiql_assets/node_modules/react/index.js",
        "node_modules/x/index.js",
        "gql_trust/__pycache__/cli.cpython-311.pyc",
        "demo-trust/gql-trust.toml",
    ):
        assert _ignored(junk, patterns), f".dockerignore keeps {junk}"
