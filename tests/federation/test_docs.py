"""docs/federation.md's "contribute a dataset" steps work as written."""

from __future__ import annotations

import csv
import re
import shutil
import tomllib
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from gql_trust.app import create_app
from gql_trust.cli import main
from gql_trust.config import bundled_dir, load_settings
from tests.federation.harness import DFE_DIR, ROOT
from tests.test_cli import demo_settings, write_toml

DOC = ROOT / "docs" / "federation.md"


def block(label: str) -> str:
    """The fenced block whose info string is e.g. ``yaml contract``."""
    text = DOC.read_text(encoding="utf-8")
    found = re.findall(rf"```\w+ {label}\n(.*?)```", text, flags=re.DOTALL)
    assert len(found) == 1, f"docs/federation.md needs one block labelled {label!r}"
    return found[0]


@pytest.fixture(scope="module")
def contributed(duckdb_trust_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo trust plus the documented dataset: its settings file."""
    into = tmp_path_factory.mktemp("contributed") / "trust"
    settings = demo_settings(duckdb_trust_dir, into)
    contracts = into / "contracts"
    shutil.copytree(bundled_dir("schema"), contracts, ignore=shutil.ignore_patterns("*.graphql"))
    (contracts / "apprenticeship_starts.yaml").write_text(block("contract"), encoding="utf-8")
    policies = into / "policies"
    shutil.copytree(bundled_dir("policies"), policies)
    with (policies / "policy.csv").open("a", encoding="utf-8") as handle:
        handle.write(block("policy"))
    (into / "dfe").mkdir()
    with (
        (DFE_DIR / "data" / "apprenticeship_starts.csv").open(encoding="utf-8") as source,
        (into / "dfe" / "apprenticeship_starts.csv").open("w", encoding="utf-8") as target,
    ):
        target.write("month,area_code,level,starts\n")
        for row in csv.DictReader(source):
            target.write(f"{row['period']}-01,{row['area_code']},{row['level']},{row['starts']}\n")
    documented = tomllib.loads(block("settings"))
    settings["sources"].update(documented["sources"])
    settings["contracts"] = {"dir": "contracts"}
    settings["policies"] = {"dir": "policies"}
    settings["ledger"] = {"path": "own-ledger/ledger.sqlite"}  # not the shared demo trust's
    return write_toml(into / "gql-trust.toml", settings)


def test_the_documented_contract_passes_check(contributed: Path) -> None:
    checked = CliRunner().invoke(main, ["check", "--config", str(contributed)])
    assert checked.exit_code == 0, checked.output
    assert "contract apprenticeshipStarts: ok" in checked.stderr
    assert "source dfe: ok" in checked.stderr


async def test_the_documented_dataset_is_served_on_areas(contributed: Path) -> None:
    app = create_app(load_settings(contributed))
    await app.state.trust.start()
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            query = """{ area(code: "E08000025") {
                apprenticeshipStarts(where: {period: {eq: "2025-09"}}) { level starts } } }"""
            body = (await client.post("/graphql", json={"query": query})).json()
    finally:
        await app.state.trust.close()
    assert "errors" not in body, body
    assert body["data"]["area"]["apprenticeshipStarts"] == [
        {"level": "advanced", "starts": 1187},
        {"level": "higher", "starts": 644},
        {"level": "intermediate", "starts": 1034},
    ]
