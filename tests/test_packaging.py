"""A non-editable install works: the wheel ships the contracts, policies and asset pins.

The wheel is built from a copy of the project (so stray build inputs can be planted
without touching the checkout), opened as a zip, installed with ``pip --target``
and imported from there in a fresh interpreter, away from the editable install.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "gql_trust"
BUNDLED = f"{PACKAGE}/_bundled"

# Never part of a wheel: VCS, environments, caches, generated data, fetched bundles.
_NOT_SOURCES = shutil.ignore_patterns(
    ".git",
    ".venv",
    "venv",
    "__pycache__",
    "*.pyc",
    ".pytest_cache",
    ".ruff_cache",
    ".mypy_cache",
    ".hypothesis",
    "node_modules",
    "demo-trust",
    "build",
    "dist",
    "*.egg-info",
)


def _pip(*args: str | Path, cwd: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "pip", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
    )
    assert proc.returncode == 0, f"pip {' '.join(map(str, args))}:\n{proc.stdout}\n{proc.stderr}"


def _files(folder: Path) -> list[str]:
    return sorted(
        p.relative_to(folder).as_posix()
        for p in folder.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    )


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    assert importlib.util.find_spec("hatchling"), (
        "hatchling is needed to build the wheel offline: pip install -e '.[dev]'"
    )
    work = tmp_path_factory.mktemp("packaging")
    source = work / "src"
    shutil.copytree(ROOT, source, ignore=_NOT_SOURCES, symlinks=True)
    # What a developer's checkout holds after `gql-trust assets fetch` and a stray npm run:
    # none of it may reach the wheel.
    planted = (
        source / PACKAGE / "static" / "vendor" / "graphiql.min.js",
        source / PACKAGE / "graphiql_assets" / "node_modules" / "react" / "index.js",
        source / "node_modules" / "left-pad" / "index.js",
    )
    for path in planted:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("/* planted */\n", encoding="utf-8")
    dist = work / "dist"
    _pip(
        "wheel",
        "--no-deps",
        "--no-build-isolation",
        "--no-index",
        "-q",
        "-w",
        dist,
        ".",
        cwd=source,
    )
    wheels = sorted(dist.glob("gql_trust-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


@pytest.fixture(scope="module")
def names(wheel: Path) -> set[str]:
    with zipfile.ZipFile(wheel) as archive:
        return set(archive.namelist())


def test_wheel_ships_the_dataset_contracts_and_schema(wheel: Path, names: set[str]) -> None:
    contracts = sorted(p.name for p in (ROOT / "schema").glob("*.yaml"))
    assert contracts, "the repository has no dataset contracts"
    for name in [*contracts, "schema.graphql"]:
        assert f"{BUNDLED}/schema/{name}" in names, name
    with zipfile.ZipFile(wheel) as archive:
        shipped = archive.read(f"{BUNDLED}/schema/schema.graphql").decode("utf-8")
    assert shipped == (ROOT / "schema" / "schema.graphql").read_text(encoding="utf-8")


def test_wheel_ships_the_policies(names: set[str]) -> None:
    policies = _files(ROOT / "policies") if (ROOT / "policies").is_dir() else []
    for name in policies:
        assert f"{BUNDLED}/policies/{name}" in names, name


def test_wheel_ships_the_asset_pins_page_files_and_typing_marker(names: set[str]) -> None:
    for name in (
        f"{PACKAGE}/graphiql_assets/package.json",
        f"{PACKAGE}/graphiql_assets/package-lock.json",
        f"{PACKAGE}/static/graphiql/init.js",
        f"{PACKAGE}/py.typed",
    ):
        assert name in names, name


def test_wheel_leaves_out_fetched_bundles_and_build_junk(names: set[str]) -> None:
    assert not [n for n in names if "static/vendor/" in n]
    assert not [n for n in names if "node_modules" in n]
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    assert all(n.startswith((f"{PACKAGE}/", "gql_trust-")) for n in names), sorted(names)


def test_wheel_declares_the_console_script(wheel: Path, names: set[str]) -> None:
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    with zipfile.ZipFile(wheel) as archive:
        text = archive.read(entry_points).decode("utf-8")
    assert "gql-trust = gql_trust.cli:main" in text


_PROBE = """
import json
import gql_trust
from gql_trust import graphiql
from gql_trust.cli import schema_sdl
from gql_trust.config import bundled_dir
print(json.dumps({
    "package": gql_trust.__file__,
    "schema": str(bundled_dir("schema")),
    "policies": str(bundled_dir("policies")),
    "asset_pins": str(graphiql.ASSETS_PKG_DIR),
    "sdl": schema_sdl(),
}))
"""


def test_a_non_editable_install_works_from_package_data(
    wheel: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    target = tmp_path_factory.mktemp("site")
    _pip("install", "--no-deps", "--no-index", "-q", "--target", target, wheel, cwd=target)
    elsewhere = tmp_path_factory.mktemp("elsewhere")  # not the repository: '' on sys.path is here
    env = {k: v for k, v in os.environ.items() if k not in ("GQL_TRUST_CONFIG", "PYTHONHOME")}
    env.update(PYTHONPATH=str(target), PYTHONDONTWRITEBYTECODE="1", COLUMNS="500")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, *args],
            cwd=elsewhere,
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )

    probe = run("-c", _PROBE)
    assert probe.returncode == 0, probe.stderr
    found = json.loads(probe.stdout)
    installed = target.resolve()
    for key in ("package", "schema", "policies", "asset_pins"):
        path = Path(found[key]).resolve()
        assert path.is_relative_to(installed), f"{key} comes from {path}, not the wheel"
    assert Path(found["schema"]) == installed / BUNDLED / "schema"
    assert Path(found["policies"]) == installed / BUNDLED / "policies"
    assert (Path(found["asset_pins"]) / "package-lock.json").is_file()
    assert found["sdl"] == (ROOT / "schema" / "schema.graphql").read_text(encoding="utf-8")

    # The installed CLI end to end: write a small demo trust, then check it with the
    # contracts and policies that shipped in the wheel.
    data_dir = elsewhere / "demo"
    made = run("-m", "gql_trust.cli", "demo-data", "--data-dir", str(data_dir), "--scale", "0.01")
    assert made.returncode == 0, made.stderr
    config = Path(made.stdout.strip())
    assert config.is_file()
    checked = run("-m", "gql_trust.cli", "check", "--config", str(config))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "Traceback" not in checked.stderr
    assert str(installed / BUNDLED / "schema" / "claimants.yaml") in checked.stderr
