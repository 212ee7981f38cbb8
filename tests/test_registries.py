"""Extension points are registries: a source kind and a disclosure method registered from
here, with no edit to the package, serve a query end to end."""

from __future__ import annotations

import asyncio
import csv
import shutil
import sqlite3
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from gql_trust.config import SourceConfig, bundled_dir
from gql_trust.contracts.model import Contract, Measure
from gql_trust.disclosure import METHODS, Method, register
from gql_trust.disclosure.methods import Cell
from gql_trust.errors import SourceUnavailable
from gql_trust.sources import KINDS, Source
from gql_trust.sources import register as register_source
from tests.conftest import TrustUnderTest, _running
from tests.oracle import Oracle


class SQLiteSource(Source):
    """Python's own sqlite3: another dialect, and values bound by name."""

    kind = "sqlite-test"
    dialect = "sqlite"
    parameters = "named"

    @classmethod
    def settings(
        cls, name: str, body: dict[str, Any], resolve: Callable[[str], Path], table: str
    ) -> SourceConfig:
        return SourceConfig(name=name, kind=cls.kind, database=resolve(body["database"]))

    async def start(self) -> None:
        pass

    async def close(self) -> None:
        pass

    def _query(self, sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        uri = f"file:{self.config.database}?mode=ro"
        try:
            with sqlite3.connect(uri, uri=True) as connection:
                return connection.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise SourceUnavailable(f"source '{self.name}' failed to answer") from exc

    async def fetch(
        self, sql: str, params: Sequence[Any], timeout: float | None = None
    ) -> list[tuple[Any, ...]]:
        named = {k: _text(v) for k, v in self.named_parameters(params).items()}
        return self._count(await asyncio.to_thread(self._query, sql, named))

    async def ping(self) -> None:
        await asyncio.to_thread(self._query, "SELECT 1", {})


def _text(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value


class RoundToHundred(Method):
    """A test method: sums rounded to the nearest hundred."""

    name = "round_to_hundred_test"
    summary = "rounded to the nearest 100"

    def check(self, contract: Contract, measure: Measure) -> str | None:
        return None if measure.type == "Int" else "round_to_hundred_test needs an Int measure"

    def publish(self, value: Any, measure: Measure, cell: Cell) -> tuple[Any, bool, bool]:
        return 100 * round(value / 100), False, True


@pytest.fixture(scope="module")
async def extended(
    duckdb_trust_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[TrustUnderTest]:
    register_source(SQLiteSource)
    register(RoundToHundred())
    directory = tmp_path_factory.mktemp("extended")
    for folder in ("reference", "dwp", "hmrc", "keys"):
        shutil.copytree(duckdb_trust_dir / folder, directory / folder)
    database = directory / "ons.sqlite"
    with (duckdb_trust_dir / "ons" / "vacancies.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    with sqlite3.connect(database) as connection:
        connection.execute(
            "CREATE TABLE vacancies (month TEXT, area_code TEXT, sic_section TEXT, vacancies INT)"
        )
        connection.executemany(
            "INSERT INTO vacancies VALUES (:month, :area_code, :sic_section, :vacancies)", rows
        )
    contracts = directory / "contracts"
    shutil.copytree(bundled_dir("schema"), contracts)
    vacancies = contracts / "vacancies.yaml"
    text = vacancies.read_text("utf-8").replace(
        "disclosure: none", "disclosure: round_to_hundred_test"
    )
    vacancies.write_text(text, "utf-8")
    policies = directory / "policies"  # vacancies read, not exact: the method applies
    shutil.copytree(bundled_dir("policies"), policies)
    rules = (policies / "policy.csv").read_text("utf-8")
    open_data = "p, *, *, vacancies, *, *, allow, open-data-vacancies,"
    assert open_data in rules
    rules = rules.replace(open_data, "p, *, *, vacancies, *, read, allow, open-data-vacancies,")
    (policies / "policy.csv").write_text(rules, "utf-8")
    settings = (duckdb_trust_dir / "gql-trust.toml").read_text("utf-8")
    start = settings.index("[sources.ons]")
    end = settings.index("[", settings.index("[sources.ons.relations"))
    end = settings.index("\n[", end + 1)
    settings = (
        settings[:start]
        + '[sources.ons]\nkind = "sqlite-test"\ndatabase = "ons.sqlite"\n'
        + settings[end:]
        + '\n[contracts]\ndir = "contracts"\n[policies]\ndir = "policies"\n'
    )
    (directory / "gql-trust.toml").write_text(settings, "utf-8")
    try:
        async for running in _running("duckdb", directory, None):
            yield running
    finally:
        KINDS.pop(SQLiteSource.kind, None)
        METHODS.pop(RoundToHundred.name, None)


async def test_a_registered_source_kind_and_method_serve_a_query(
    extended: TrustUnderTest, duckdb_trust_dir: Path
) -> None:
    assert type(extended.sources["ons"]) is SQLiteSource
    query = (
        '{ vacancies(where: {period: {eq: "2025-06"}, areaCode: {in: ["E08000025", "E08000026"]}}) '
        "{ area { code } sector { code } vacancies } }"
    )
    body = await extended.query(query, who="public")
    truth = {
        (a, s): int(n)
        for a, s, n in Oracle(duckdb_trust_dir, None).files(
            "SELECT area_code, sic_section, sum(vacancies) FROM vacancies WHERE month = "
            "DATE '2025-06-01' AND area_code IN ('E08000025', 'E08000026') GROUP BY 1, 2"
        )
    }
    got = {
        (c["area"]["code"], c["sector"]["code"]): c["vacancies"] for c in body["data"]["vacancies"]
    }
    assert got.keys() == truth.keys() and truth
    assert got == {k: 100 * round(v / 100) for k, v in truth.items()}
    assert body["extensions"]["disclosure"]["perturbed"] == len(got)
    explained = await extended.client.post(
        "/graphql",
        json={"query": query, "extensions": {"explain": True}},
        headers=extended.headers("dwp"),
    )
    (call,) = explained.json()["extensions"]["explain"]["sources"]
    assert call["dialect"] == "sqlite" and ":p1" in call["sql"] and "2025" not in call["sql"]
    catalog = await extended.data("{ datasets { name sourceKind } }", who="public")
    assert {"name": "vacancies", "sourceKind": "sqlite-test"} in catalog["datasets"]


def test_an_unknown_kind_names_the_registered_ones() -> None:
    from gql_trust.config import ConfigError, settings_from_dict

    raw = {"sources": {"ons": {"kind": "oracle"}}, "reference": {"areas": "a", "sectors": "s"}}
    with pytest.raises(ConfigError, match=r"\[sources.ons\] has kind 'oracle'; use 'duckdb' or"):
        settings_from_dict(raw, base_dir=Path("."))
