"""The catalog: GraphQL `datasets` and the HTML page at `/`, checked against the sources."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import date
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from gql_trust import catalog
from gql_trust.catalog_page import render_page
from tests.conftest import TrustUnderTest
from tests.oracle import Oracle

DATASETS = """{ datasets { name title owner description sourceKind grain lastUpdated howToGetAccess
  periods { first last count }
  fields { name kind type description sensitivity disclosure agreements
           access { read exact geographies reason } } } }"""
ROOT_FIELDS = "{ __schema { queryType { fields { name } } } }"
ALL_GEOGRAPHIES = ["LOCAL_AUTHORITY", "REGION", "COUNTRY"]


async def _catalog(trust: TrustUnderTest, who: str) -> dict[str, dict[str, Any]]:
    data = await trust.data(DATASETS, who=who)
    return {d["name"]: d for d in data["datasets"]}


def _fields(entry: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f["name"]: f for f in entry["fields"]}


async def test_public_sees_every_dataset_named_as_its_root_field(
    duckdb_trust: TrustUnderTest,
) -> None:
    entries = await _catalog(duckdb_trust, "public")
    contracts = duckdb_trust.app.state.trust.contracts
    assert set(entries) == set(contracts) == {"claimants", "payrolledEmployees", "vacancies"}
    roots = await duckdb_trust.data(ROOT_FIELDS, who="public")
    assert set(entries) <= {f["name"] for f in roots["__schema"]["queryType"]["fields"]}
    owners = {name: e["owner"] for name, e in entries.items()}
    assert owners == {"claimants": "DWP", "payrolledEmployees": "HMRC", "vacancies": "ONS"}
    for name, entry in entries.items():
        contract = contracts[name]
        assert entry["title"] == contract.title
        assert entry["grain"] == contract.grain
        assert [f["name"] for f in entry["fields"]] == list(contract.field_names)
        assert entry["sourceKind"] == "duckdb"
        assert entry["lastUpdated"] is not None  # files and DuckDB databases say when
        assert contract.owner in entry["howToGetAccess"]


async def test_periods_are_read_from_the_source(trust: TrustUnderTest) -> None:
    entries = await _catalog(trust, "public")
    oracle = Oracle(trust.directory, trust.pg_dsn)
    spans = "min(month), max(month), count(DISTINCT month)"
    expected = {
        "payrolledEmployees": oracle.files(f"SELECT {spans} FROM payroll")[0],
        "vacancies": oracle.files(f"SELECT {spans} FROM vacancies")[0],
        "claimants": (await oracle.claimants(f"SELECT {spans} FROM claimants", "REGION"))[0],
    }
    for name, (first, last, count) in expected.items():
        periods = entries[name]["periods"]
        assert periods == {
            "first": _month(first),
            "last": _month(last),
            "count": count,
        }, name
        assert count >= 24
    if trust.kind == "postgres":
        assert entries["claimants"]["sourceKind"] == "postgres"


def _month(value: Any) -> str:
    return str(value)[:7]  # a DATE, or the CSV's "YYYY-MM-DD" text


async def test_no_paths_connection_strings_or_keys_in_the_catalog(trust: TrustUnderTest) -> None:
    secrets = {str(trust.directory), "postgresql://", "postgres://", ".duckdb", ".parquet", ".csv"}
    for source in trust.settings.sources.values():
        secrets |= {source.dsn} if source.dsn else set()
        secrets |= {str(source.database)} if source.database else set()
        secrets |= {r.path for r in source.relations}
    if trust.pg_dsn:
        secrets.add(trust.pg_dsn)
    for who in ("public", "dwp", "auditor"):
        response = await trust.client.post(
            "/graphql", json={"query": DATASETS}, headers=trust.headers(who)
        )
        assert response.status_code == 200
        for secret in secrets:
            assert secret not in response.text, (who, secret)
    page = await trust.client.get("/")
    for secret in secrets:
        assert secret not in page.text, secret
    assert "PRIVATE KEY" not in page.text


async def test_access_differs_between_the_public_and_the_dwp_analyst(
    duckdb_trust: TrustUnderTest,
) -> None:
    public = _fields((await _catalog(duckdb_trust, "public"))["claimants"])
    dwp = _fields((await _catalog(duckdb_trust, "dwp"))["claimants"])
    for name, field in public.items():
        assert field["access"]["read"] is False
        assert field["access"]["exact"] is False
        assert field["access"]["geographies"] == []
        assert field["access"]["reason"], name
        assert dwp[name]["access"] == {
            "read": True,
            "exact": True,  # the owner sees its own counts unperturbed
            "geographies": ALL_GEOGRAPHIES,
            "reason": None,
        }
    # Open data is open to everyone, exactly, at every geography.
    for who in ("public", "dfe"):
        vacancies = _fields((await _catalog(duckdb_trust, who))["vacancies"])
        assert all(
            f["access"]
            == {"read": True, "exact": True, "geographies": ALL_GEOGRAPHIES, "reason": None}
            for f in vacancies.values()
        )


async def test_dfe_reads_at_region_or_country_only(duckdb_trust: TrustUnderTest) -> None:
    entries = await _catalog(duckdb_trust, "dfe")
    claimants = _fields(entries["claimants"])
    assert {tuple(f["access"]["geographies"]) for f in claimants.values()} == {
        ("REGION", "COUNTRY")
    }
    assert claimants["claimants"]["access"]["exact"] is False  # perturbed
    payroll = _fields(entries["payrolledEmployees"])
    assert payroll["employees"]["access"]["geographies"] == ["REGION", "COUNTRY"]
    assert payroll["employees"]["access"]["exact"] is False  # 10-5
    pay = payroll["meanMonthlyPay"]["access"]
    assert pay["read"] is False and pay["geographies"] == [] and pay["reason"]


async def test_agreements_per_field_and_in_how_to_get_access(
    duckdb_trust: TrustUnderTest,
) -> None:
    entries = await _catalog(duckdb_trust, "public")
    payroll = _fields(entries["payrolledEmployees"])
    assert payroll["meanMonthlyPay"]["agreements"] == ["DSA-LMDT-001"]
    assert payroll["employees"]["agreements"] == ["DSA-LMDT-001"]
    assert payroll["period"]["agreements"] == []
    assert all(f["agreements"] == ["DSA-LMDT-002"] for f in entries["claimants"]["fields"])
    assert "DSA-LMDT-001" in entries["payrolledEmployees"]["howToGetAccess"]
    assert "HMRC" in entries["payrolledEmployees"]["howToGetAccess"]
    assert "Open data" in entries["vacancies"]["howToGetAccess"]
    # With the agreement the DWP analyst reads pay (with 10-5); without it, why not.
    with_agreement = _fields((await _catalog(duckdb_trust, "dwp"))["payrolledEmployees"])
    assert with_agreement["meanMonthlyPay"]["access"]["read"] is True
    assert with_agreement["meanMonthlyPay"]["access"]["exact"] is False
    without = _fields((await _catalog(duckdb_trust, "dwp-no-agreement"))["payrolledEmployees"])
    assert without["meanMonthlyPay"]["access"]["read"] is False
    assert "agreement" in without["meanMonthlyPay"]["access"]["reason"]
    assert without["employees"]["access"]["read"] is True


async def test_an_expired_agreement_is_not_offered(duckdb_trust: TrustUnderTest) -> None:
    policy = duckdb_trust.app.state.trust.policy
    current = policy.agreements["DSA-LMDT-001"]
    expired = replace(current, id="DSA-OLD", valid_to=date(2020, 1, 1), valid_from=date(2019, 1, 1))
    policy.agreements["DSA-OLD"] = expired
    try:
        entries = await _catalog(duckdb_trust, "public")
    finally:
        del policy.agreements["DSA-OLD"]
    payroll = _fields(entries["payrolledEmployees"])
    assert payroll["meanMonthlyPay"]["agreements"] == ["DSA-LMDT-001"]
    assert "DSA-OLD" not in entries["payrolledEmployees"]["howToGetAccess"]


@pytest.mark.parametrize(
    ("dataset", "who"),
    [("vacancies", "public"), ("claimants", "dfe"), ("payrolledEmployees", "dfe")],
)
async def test_example_query_runs_for_someone_it_is_meant_for(
    duckdb_trust: TrustUnderTest, dataset: str, who: str
) -> None:
    contract = duckdb_trust.app.state.trust.contracts[dataset]
    entry = await catalog.describe(duckdb_trust.app.state.trust, contract)
    assert entry.periods is not None and entry.periods.last is not None
    data = await duckdb_trust.data(entry.example_query, who=who)
    rows = data[dataset]
    assert rows
    assert {r["period"] for r in rows} == set(_last_months(entry.periods.last, 3))
    assert all(r["area"]["code"][0] in "EWS" for r in rows)


def _last_months(last: str, n: int) -> list[str]:
    year, month = map(int, last.split("-"))
    index = year * 12 + month - 1
    return [f"{(i // 12):04d}-{(i % 12) + 1:02d}" for i in range(index - n + 1, index + 1)]


class _Page(HTMLParser):
    """Collects the page's text, links and the example <pre> blocks."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[tuple[str, str]] = []
        self.text: list[str] = []
        self._href: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self._href = dict(attrs).get("href")

    def handle_endtag(self, tag: str) -> None:
        if tag == "a":
            self._href = None

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._href is not None and data.strip():
            self.links.append((data.strip(), self._href))


async def test_home_page_lists_datasets_with_graphiql_links(duckdb_trust: TrustUnderTest) -> None:
    response = await duckdb_trust.client.get("/", headers={"Accept": "text/html"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    page = _Page()
    page.feed(response.text)
    text = " ".join(page.text)
    trust = duckdb_trust.app.state.trust
    entries = await catalog.describe_all(trust)
    for entry in entries:
        assert entry.title in text and entry.owner in text
        assert entry.periods is not None
        assert f"{entry.periods.first} to {entry.periods.last}" in text
        for field in entry.fields:
            assert field.description in text
    assert "gql-trust token" in text
    assert "DSA-LMDT-001" in text
    assert not re.search(r"<script|https?://", response.text)  # no JS, no external assets
    graphiql_links = [href for label, href in page.links if label == "Open in GraphiQL"]
    assert len(graphiql_links) == len(entries)
    for href, entry in zip(graphiql_links, entries, strict=True):
        url = urlsplit(href)
        assert url.path == "/graphql"
        assert parse_qs(url.query)["query"] == [entry.example_query]
    dry_run_links = [href for label, href in page.links if label == "Dry run in GraphiQL"]
    assert len(dry_run_links) == len(entries)
    for href, entry in zip(dry_run_links, entries, strict=True):
        url = urlsplit(href)
        assert url.path == "/graphql"
        assert parse_qs(url.query) == {"query": [entry.example_query], "dryRun": ["true"]}
    css = await duckdb_trust.client.get("/static/pages/pages.css")
    assert css.status_code == 200 and "overflow" in css.text
    assert '/static/vendor/govuk-frontend.min.css"' in response.text


def test_the_page_escapes_contract_text() -> None:
    hostile = "<script>alert('x')</script>"
    entry = catalog.DatasetEntry(
        name="evil",
        title=hostile,
        owner=hostile,
        description=hostile,
        source_kind="duckdb",
        grain="cells",
        fields=(
            catalog.FieldEntry(hostile, "MEASURE", "Int", hostile, hostile, "none", (hostile,)),
        ),
        periods=None,
        last_updated=None,
        how_to_get_access=hostile,
        release_rules=hostile,
        example_query='{ evil { x } } "</a><script>',
    )
    html = render_page([entry])
    assert "<script>" not in html
    assert "&lt;script&gt;" in html
    assert "unavailable" in html  # a source that did not answer


def test_example_query_shape() -> None:
    from gql_trust.config import bundled_dir
    from gql_trust.contracts import load_contracts

    vacancies = next(c for c in load_contracts(bundled_dir("schema")) if c.name == "vacancies")
    assert catalog.example_query(vacancies, date(2025, 2, 1)) == (
        "{\n"
        '  vacancies(geography: REGION, where: {period: {gte: "2024-12"}}) {\n'
        "    period\n"
        "    area { code name }\n"
        "    vacancies\n"
        "  }\n"
        "}"
    )
    assert 'gte: "' not in catalog.example_query(vacancies, None)


async def test_the_catalog_says_who_gets_standard_cells_only(duckdb_trust: TrustUnderTest) -> None:
    """Per dataset, in words for everyone and as a flag for the caller, and the flag agrees
    with what a query does: a custom set of areas is refused exactly where it is set."""
    query = "{ datasets { name releaseRules standardCellsOnly } }"
    custom = '(where: {areaCode: {in: ["E08000025", "E08000026"]}})'
    measure = {"claimants": "claimants", "payrolledEmployees": "employees"}
    seen = {}
    for who in ("public", "dwp", "hmrc", "la"):
        entries = {d["name"]: d for d in (await duckdb_trust.data(query, who=who))["datasets"]}
        seen[who] = {name: d["standardCellsOnly"] for name, d in entries.items()}
        assert "Exact for everyone" in entries["vacancies"]["releaseRules"]
        assert "Everyone but DWP" in entries["claimants"]["releaseRules"]
        assert "Everyone but HMRC" in entries["payrolledEmployees"]["releaseRules"]
        for name, flag in seen[who].items():
            if name not in measure:
                continue
            body = await duckdb_trust.query(f"{{ {name}{custom} {{ {measure[name]} }} }}", who=who)
            rules = {e["extensions"].get("rule") for e in body.get("errors", ())}
            assert ("standard-cells-only" in rules) == flag, (who, name, body)
    assert seen["dwp"] == {"claimants": False, "payrolledEmployees": True, "vacancies": False}
    assert seen["hmrc"] == {"claimants": True, "payrolledEmployees": False, "vacancies": False}
    assert seen["public"] == dict.fromkeys(seen["public"], False)  # reads no controlled value
    page = (await duckdb_trust.client.get("/")).text
    assert page.count("Who gets standard cells only") == 3
