"""The `gql-trust` command: clear one-line errors, never a traceback."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result

from gql_trust.cli import main
from gql_trust.config import CONFIG_ENV, load_settings

ROOT = Path(__file__).resolve().parents[1]
SCHEMA_DIR = ROOT / "schema"
CHECKED_IN_SDL = SCHEMA_DIR / "schema.graphql"


@pytest.fixture(autouse=True)
def _no_ambient_config(monkeypatch: pytest.MonkeyPatch) -> None:
    """No settings file from the environment, and never a real server from these tests."""
    monkeypatch.delenv(CONFIG_ENV, raising=False)

    def no_server(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the CLI tried to start a server")

    monkeypatch.setattr("uvicorn.run", no_server)


def invoke(*args: str | Path, env: dict[str, str | None] | None = None) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args], env=env)


def one_error_line(result: Result) -> str:
    """The failure message: exactly one non-empty line on stderr, no traceback."""
    assert result.exit_code != 0, result.output
    assert isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    return errors[0]


def write_toml(path: Path, table: dict[str, Any]) -> Path:
    """A minimal TOML writer for settings tables (strings, numbers, booleans, arrays)."""

    def value_of(value: Any) -> str:
        if isinstance(value, dict):
            return "{" + ", ".join(f"{k} = {value_of(v)}" for k, v in value.items()) + "}"
        if isinstance(value, list):
            return "[" + ", ".join(value_of(v) for v in value) + "]"
        return json.dumps(value)  # JSON strings, numbers and booleans are valid TOML

    def emit(table: dict[str, Any], prefix: tuple[str, ...], out: list[str]) -> None:
        scalars = {k: v for k, v in table.items() if not isinstance(v, dict)}
        if prefix and (scalars or not table):
            out.append(f"[{'.'.join(prefix)}]")
        out.extend(f"{key} = {value_of(value)}" for key, value in scalars.items())
        if scalars:
            out.append("")
        for key, value in table.items():
            if isinstance(value, dict):
                emit(value, (*prefix, key), out)

    lines: list[str] = []
    emit(table, (), lines)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def demo_settings(trust_dir: Path, into: Path) -> dict[str, Any]:
    """The demo trust's settings, usable from a settings file written in ``into``.

    The settings' relative paths resolve against ``into``, which links to the demo
    trust's folders (the demo trust itself is shared by the session: never modified).
    """
    into.mkdir(parents=True, exist_ok=True)
    for entry in trust_dir.iterdir():
        if entry.name != "gql-trust.toml":
            (into / entry.name).symlink_to(entry, target_is_directory=entry.is_dir())
    return tomllib.loads((trust_dir / "gql-trust.toml").read_text(encoding="utf-8"))


# ---- missing or absent settings -------------------------------------------------------------


@pytest.mark.parametrize("command", ["serve", "check", "schema"])
def test_missing_settings_file_is_one_line_naming_it(command: str, tmp_path: Path) -> None:
    missing = tmp_path / "a-folder-with-a-long-name-so-that-a-wrapped-line-would-show" / "x.toml"
    result = invoke(command, "--config", missing)
    assert result.exit_code == 2
    line = one_error_line(result)
    assert str(missing) in line
    assert "does not exist" in line


def test_missing_settings_file_named_by_the_environment(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.toml"
    result = invoke("serve", env={CONFIG_ENV: str(missing)})
    assert result.exit_code == 2
    assert str(missing) in one_error_line(result)


def test_settings_file_that_is_not_toml(tmp_path: Path) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text("[server\nport = 8000\n", encoding="utf-8")
    result = invoke("check", "--config", broken)
    assert result.exit_code == 2
    line = one_error_line(result)
    assert str(broken) in line
    assert "TOML" in line


@pytest.mark.parametrize("command", ["serve", "check"])
def test_no_settings_file_says_how_to_get_one(command: str) -> None:
    result = invoke(command, env={CONFIG_ENV: None})
    assert result.exit_code == 2
    line = one_error_line(result)
    assert "--config" in line
    assert CONFIG_ENV in line
    assert "gql-trust demo-data" in line


# ---- contracts ------------------------------------------------------------------------------


def _set_aggregation_avg(contracts: dict[str, Any]) -> None:
    contracts["claimants.yaml"]["measures"][0]["aggregation"] = "avg"


def _drop_dimension_column(contracts: dict[str, Any]) -> None:
    del contracts["vacancies.yaml"]["dimensions"][0]["column"]


def _bad_grain(contracts: dict[str, Any]) -> None:
    contracts["payrolled_employees.yaml"]["grain"] = "rows"


@pytest.mark.parametrize(
    ("breakage", "file", "field", "advice"),
    [
        (_set_aggregation_avg, "claimants.yaml", "measures[0].aggregation", "count_distinct"),
        (_drop_dimension_column, "vacancies.yaml", "dimensions[0].column", "required"),
        (_bad_grain, "payrolled_employees.yaml", "grain", "microdata"),
    ],
)
def test_a_bad_contract_names_the_file_the_field_and_the_fix(
    breakage: Callable[[dict[str, Any]], None],
    file: str,
    field: str,
    advice: str,
    duckdb_trust_dir: Path,
    tmp_path: Path,
) -> None:
    contracts_dir = tmp_path / "contracts"
    contracts_dir.mkdir()
    contracts = {
        path.name: yaml.safe_load(path.read_text(encoding="utf-8"))
        for path in sorted(SCHEMA_DIR.glob("*.yaml"))
    }
    assert file in contracts
    breakage(contracts)
    for name, body in contracts.items():
        (contracts_dir / name).write_text(yaml.safe_dump(body, sort_keys=False), encoding="utf-8")
    settings = demo_settings(duckdb_trust_dir, tmp_path / "trust")
    settings["contracts"] = {"dir": str(contracts_dir)}
    config = write_toml(tmp_path / "trust" / "gql-trust.toml", settings)
    assert load_settings(config).contracts_dir == contracts_dir

    result = invoke("check", "--config", config)
    assert result.exit_code != 0
    line = one_error_line(result)
    assert str(contracts_dir / file) in line
    assert field in line
    assert advice in line


def test_the_demo_trust_checks_clean(duckdb_trust_dir: Path) -> None:
    result = invoke("check", "--config", duckdb_trust_dir / "gql-trust.toml")
    assert result.exit_code == 0, result.output
    for source in ("dwp", "hmrc", "ons"):
        assert re.search(rf"source {source}: ok\b", result.stderr), result.stderr


# ---- sources --------------------------------------------------------------------------------


def test_an_unreachable_postgres_source_is_named_not_dumped(
    duckdb_trust_dir: Path, tmp_path: Path
) -> None:
    settings = demo_settings(duckdb_trust_dir, tmp_path / "trust")
    secret = "s3cret-Passw0rd"
    settings["sources"]["dwp"] = {
        "kind": "postgres",
        "dsn": f"postgresql://nobody:{secret}@127.0.0.1:1/none",
        "schema": "dwp",
    }
    config = write_toml(tmp_path / "trust" / "gql-trust.toml", settings)

    result = invoke("check", "--config", config)
    assert result.exit_code != 0
    line = one_error_line(result)
    assert "dwp" in line
    assert "hmrc" not in line and "ons" not in line
    assert re.search(r"source dwp: unavailable", result.stderr), result.stderr
    for leaked in (secret, "nobody", "127.0.0.1:1", "postgresql://"):
        assert leaked not in result.output


def test_a_contract_whose_source_is_not_configured_says_what_to_add(
    duckdb_trust_dir: Path, tmp_path: Path
) -> None:
    settings = demo_settings(duckdb_trust_dir, tmp_path / "trust")
    del settings["sources"]["dwp"]
    config = write_toml(tmp_path / "trust" / "gql-trust.toml", settings)

    result = invoke("check", "--config", config)
    assert result.exit_code == 2
    line = one_error_line(result)
    assert "claimants.yaml" in line
    assert "[sources.dwp]" in line  # printed literally, not eaten as console markup
    assert str(config) in line


# ---- demo-data ------------------------------------------------------------------------------


def test_demo_data_writes_a_trust_and_prints_its_settings_path(tmp_path: Path) -> None:
    data_dir = tmp_path / "demo"
    result = invoke("demo-data", "--data-dir", data_dir, "--scale", "0.01")
    assert result.exit_code == 0, result.output
    printed = result.stdout.splitlines()
    assert len(printed) == 1, "stdout is the settings path alone (for $(gql-trust demo-data))"
    config = Path(printed[0])
    assert config.resolve() == (data_dir / "gql-trust.toml").resolve()
    assert config.is_file()
    assert set(load_settings(config).sources) == {"dwp", "hmrc", "ons"}


@pytest.mark.parametrize("scale", ["0", "-1", "nan", "inf"])
def test_demo_data_rejects_a_scale_that_is_not_positive(scale: str, tmp_path: Path) -> None:
    data_dir = tmp_path / "demo"
    result = invoke("demo-data", "--data-dir", data_dir, "--scale", scale)
    assert result.exit_code == 2
    line = one_error_line(result)
    assert "--scale" in line
    assert "positive" in line or "greater than 0" in line
    assert not data_dir.exists(), "nothing is written for a rejected scale"
    assert result.stdout == ""


# ---- schema ---------------------------------------------------------------------------------


def test_schema_prints_the_checked_in_sdl() -> None:
    result = invoke("schema", env={CONFIG_ENV: None})
    assert result.exit_code == 0, result.output
    assert result.stdout == CHECKED_IN_SDL.read_text(encoding="utf-8")


def test_schema_of_the_demo_trust_is_the_checked_in_sdl(duckdb_trust_dir: Path) -> None:
    result = invoke("schema", "--config", duckdb_trust_dir / "gql-trust.toml")
    assert result.exit_code == 0, result.output
    assert result.stdout == CHECKED_IN_SDL.read_text(encoding="utf-8")


# ---- the installed console script -----------------------------------------------------------


def _console_script() -> str:
    beside = Path(sys.executable).parent / "gql-trust"
    found = str(beside) if beside.is_file() else shutil.which("gql-trust")
    assert found, "the gql-trust console script is not installed"
    return found


def test_console_script_help_lists_the_commands(tmp_path: Path) -> None:
    proc = subprocess.run(
        [_console_script(), "--help"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    listed = set(re.findall(r"^\s{2}([a-z][a-z-]+)\s", proc.stdout, flags=re.MULTILINE))
    assert {"serve", "demo", "demo-data", "check", "schema", "assets"} <= listed, proc.stdout
