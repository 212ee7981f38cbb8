"""CSV on `/graphql` (`Accept: text/csv`): the JSON answer's cells, governed the same way.

The oracle for every CSV body is the JSON answer to the same query by the same caller,
flattened here independently of the server's code; both requests go through the real
app with a ledger of its own, so the entries each one wrote can be counted.
"""

from __future__ import annotations

import base64
import csv
import io
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from gql_trust.ledger import Outcome
from tests.ledger.conftest import Running, running, sqlite_config

CSV = {"Accept": "text/csv"}

OWNER = """{ claimants(geography: REGION, where: {period: {gte: "2024-01"}}) {
  period area { code name parent { code } } sex claimants } }"""
# HMRC gets claimants perturbed (cell keys): a complete table of standard cells.
PERTURBED = """{ claimants(geography: REGION) { period area { code } ageBand claimants } }"""
# DWP gets payroll employees under 10-5: suppressed cells are nulls, in CSV empty fields.
SUPPRESSED = """{ payrolledEmployees(where: {areaCode: {in: ["E06000002", "E06000047"]}}) {
  period area { code } sector { code } ageBand sex employees } }"""


@pytest.fixture
async def app(duckdb_trust_dir: Path, tmp_path: Path) -> AsyncIterator[Running]:
    async with running(sqlite_config(duckdb_trust_dir, tmp_path)) as running_app:
        yield running_app


def leaves(value: Any, prefix: str = "") -> dict[str, Any]:
    """A JSON cell flattened to `a.b` keys, in its own key order (the oracle)."""
    out: dict[str, Any] = {}
    for key, item in value.items():
        name = f"{prefix}{key}"
        if isinstance(item, dict):
            out.update(leaves(item, f"{name}."))
        else:
            out[name] = item
    return out


def as_text(value: Any) -> str:
    return "" if value is None else json.dumps(value) if isinstance(value, bool) else str(value)


def parse_csv(text: str) -> tuple[list[str], list[list[str]]]:
    assert text.endswith("\r\n")
    header, *rows = list(csv.reader(io.StringIO(text, newline="")))
    return header, rows


async def both(app: Running, query: str, who: str) -> tuple[Any, Any]:
    as_json = await app.post(query, who)
    assert as_json.status_code == 200 and "errors" not in as_json.json(), as_json.text
    as_csv = await app.client.post(
        "/graphql", json={"query": query}, headers={**app.headers(who), **CSV}
    )
    assert as_csv.status_code == 200, as_csv.text
    assert as_csv.headers["content-type"].startswith("text/csv")
    return as_json, as_csv


def assert_same_cells(json_rows: list[dict[str, Any]], text: str, header: list[str]) -> None:
    got_header, got = parse_csv(text)
    assert got_header == header
    expected = [[as_text(v) for v in leaves(row).values()] for row in json_rows]
    assert [list(leaves(row)) for row in json_rows[:1]] in ([header], [])
    assert got == expected


@pytest.mark.parametrize(
    ("who", "query", "field", "header"),
    [
        ("dwp", OWNER, "claimants", "period area.code area.name area.parent.code sex claimants"),
        ("hmrc", PERTURBED, "claimants", "period area.code ageBand claimants"),
        (
            "dwp",
            SUPPRESSED,
            "payrolledEmployees",
            "period area.code sector.code ageBand sex employees",
        ),
    ],
    ids=["owner", "perturbed", "suppressed"],
)
async def test_csv_equals_the_json_answer(
    app: Running, who: str, query: str, field: str, header: str
) -> None:
    as_json, as_csv = await both(app, query, who)
    rows = as_json.json()["data"][field]
    assert len(rows) > 20
    assert_same_cells(rows, as_csv.text, header.split())
    disclosure = as_json.json()["extensions"].get("disclosure", {})
    if field == "payrolledEmployees":  # the nulls are really there, as empty fields
        assert disclosure["suppressed"] > 0
        assert any(r[-1] == "" for r in parse_csv(as_csv.text)[1])
    if who == "hmrc":
        assert disclosure["perturbed"] > 0
    if who == "dwp" and field == "claimants":
        assert not disclosure.get("perturbed") and not disclosure.get("suppressed")


async def test_one_ledger_entry_per_csv_request_with_its_receipt(app: Running) -> None:
    before = await app.entries()
    as_json, as_csv = await both(app, SUPPRESSED, "dwp")
    after = await app.entries()
    assert len(after) == len(before) + 2  # one for the JSON request, one for the CSV
    json_entry, csv_entry = after[-2:]
    assert csv_entry.outcome is Outcome.OK
    assert csv_entry.cells_returned == json_entry.cells_returned > 0
    assert csv_entry.datasets == json_entry.datasets
    receipt = orjson.loads(base64.b64decode(as_csv.headers["X-Ledger-Receipt"]))
    assert receipt["entry"] == csv_entry.id == json_entry.id + 1
    assert receipt["treeSize"] >= csv_entry.id
    assert receipt["checkpoint"].startswith("gql-trust.demo/ledger\n")
    assert as_json.json()["extensions"]["receipt"]["entry"] == json_entry.id


@pytest.mark.parametrize(
    "query",
    [
        "{ vacancies { period vacancies } claimants { period claimants } }",  # two datasets
        "{ datasets { name } }",  # not a dataset field
        "{ vacancies { period vacancies } sectors { code } }",
        '{ area(code: "E92000001") { vacancies { period vacancies } } }',  # nested
        "{ vacancies { area { code children { code } } vacancies } }",  # a list in a cell
        "query A { vacancies { vacancies } } query B { vacancies { period } }",  # no name
        "mutation { x }",
    ],
)
async def test_anything_else_asked_as_csv_is_406_and_releases_nothing(
    app: Running, query: str
) -> None:
    before = await app.entries()
    response = await app.client.post("/graphql", json={"query": query}, headers=CSV)
    assert response.status_code == 406, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["errors"][0]["extensions"]["code"] == "NOT_ACCEPTABLE"
    assert "data" not in body or body["data"] is None
    after = await app.entries()
    assert len(after) == len(before) + 1
    assert after[-1].outcome is Outcome.INVALID and after[-1].cells_returned == 0


async def test_a_batch_asked_as_csv_is_406(app: Running) -> None:
    batch = [{"query": "{ vacancies { vacancies } }"}] * 2
    response = await app.client.post("/graphql", json=batch, headers=CSV)
    assert response.status_code == 406
    assert response.json()["errors"][0]["extensions"]["code"] == "NOT_ACCEPTABLE"
    assert (await app.last()).outcome is Outcome.INVALID


@pytest.mark.parametrize(
    ("who", "query", "reason"),
    [
        ("public", "{ claimants { period claimants } }", "public"),
        ("hmrc", "{ claimants { period disability claimants } }", "disability"),
        # Standard cells: an unselected dimension filtered by a range, as in JSON.
        ("hmrc", '{ claimants(where: {period: {gte: "2024-01"}}) { sex claimants } }', "period"),
    ],
)
async def test_a_denied_field_is_403_with_the_json_error(
    app: Running, who: str, query: str, reason: str
) -> None:
    as_json = (await app.post(query, who)).json()
    response = await app.client.post(
        "/graphql", json={"query": query}, headers={**app.headers(who), **CSV}
    )
    assert response.status_code == 403
    body = response.json()
    assert body["data"] == {"claimants": None} == as_json["data"]
    (error,) = body["errors"]
    assert error["extensions"]["code"] == "FORBIDDEN" == as_json["errors"][0]["extensions"]["code"]
    assert reason in error["extensions"]["reason"]
    entry = await app.last()
    assert entry.outcome is Outcome.DENIED and entry.cells_returned == 0
    assert orjson.loads(base64.b64decode(response.headers["X-Ledger-Receipt"]))["entry"] == entry.id


@pytest.mark.parametrize(
    ("accept", "csv_wanted"),
    [
        ("text/csv", True),
        ("text/csv, application/json;q=0.9", True),
        ("application/json;q=0.5, text/csv", True),
        ("application/json, text/csv;q=0.5", False),
        ("text/csv;q=0.5, application/graphql-response+json", False),
        ("*/*", False),
        ("text/csv;q=0", False),
    ],
)
async def test_accept_preferences(app: Running, accept: str, csv_wanted: bool) -> None:
    response = await app.client.post(
        "/graphql", json={"query": "{ vacancies(limit: 3) { period vacancies } }"},
        headers={"Accept": accept},
    )  # fmt: skip
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv") is csv_wanted


async def test_aliases_fragments_and_directives_name_the_columns(app: Running) -> None:
    query = """query Q($withSector: Boolean!) { v: vacancies(limit: 5) {
      p: period ...Where sector @include(if: $withSector) { code } n: vacancies
      __typename } }
      fragment Where on VacanciesCell { area { code } ... on VacanciesCell { area { name } } }"""
    body = {"query": query, "variables": {"withSector": False}}
    as_json = await app.client.post("/graphql", json=body)
    as_csv = await app.client.post("/graphql", json=body, headers=CSV)
    assert as_csv.status_code == 200, as_csv.text
    assert_same_cells(
        as_json.json()["data"]["v"], as_csv.text, ["p", "area.code", "area.name", "n", "__typename"]
    )


async def test_a_request_error_asked_as_csv_is_400_json(app: Running) -> None:
    response = await app.client.post(
        "/graphql", json={"query": "{ vacancies(limit: 2 { period } }"}, headers=CSV
    )
    assert response.status_code == 400
    assert "Syntax Error" in response.json()["errors"][0]["message"]
    response = await app.client.post(
        "/graphql", json={"query": "{ vacancies { nosuch } }"}, headers=CSV
    )
    assert response.status_code == 400
    assert "nosuch" in response.json()["errors"][0]["message"]
