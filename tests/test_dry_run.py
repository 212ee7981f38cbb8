"""Dry runs: the cells a real request then releases, no values, no budget charged."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import duckdb
import pytest

from gql_trust.ledger import AuditQuery, Outcome
from tests.conftest import TrustUnderTest

QUERIES = [
    "{ vacancies(geography: COUNTRY) { period vacancies } }",
    "{ claimants(geography: REGION) { period area { code } claimants } }",
    '{ claimants(geography: COUNTRY, where: {period: {eq: "2025-01"}}) { ageBand sex claimants } }',
    "{ claimants { period area { code } claimants } }",
    "{ payrolledEmployees(geography: REGION) { sector { code } employees } }",
    "{ payrolledEmployees(geography: COUNTRY) { period meanMonthlyPay } }",
    "{ labourMarket(geography: REGION) { period area { code } claimants employees vacancies } }",
    "{ areas(level: REGION) { code claimants(limit: 3) { period claimants } } }",
    "{ a: claimants(geography: COUNTRY, limit: 7, offset: 2) { period claimants } "
    "b: vacancies(geography: REGION, limit: 5) { area { code } vacancies } }",
]
WHO = ["public", "dwp", "dwp-no-agreement", "hmrc", "dfe", "la", "auditor"]


async def dry(trust: TrustUnderTest, query: str, who: str) -> dict[str, Any]:
    response = await trust.client.post(
        "/graphql",
        json={"query": query, "extensions": {"dryRun": True}},
        headers=trust.headers(who),
    )
    assert response.status_code == 200, response.text
    return response.json()


async def newest(trust: TrustUnderTest) -> Any:
    (entry,) = await trust.app.state.ledger.entries(AuditQuery(limit=1))
    return entry


async def used_today(trust: TrustUnderTest, agreement: str) -> int:
    day = datetime.now(UTC).strftime("%Y-%m-%d")
    return int(await trust.app.state.ledger.budget_used(agreement, day))


@pytest.mark.parametrize("who", WHO)
@pytest.mark.parametrize("query", QUERIES)
async def test_dry_run_cells_equal_what_the_real_run_releases(
    duckdb_trust: TrustUnderTest, query: str, who: str
) -> None:
    trust = duckdb_trust
    before = await used_today(trust, "DSA-LMDT-001")
    body = await dry(trust, query, who)
    assert body["data"] is None
    report = body["extensions"]["dryRun"]
    entry = await newest(trust)
    assert entry.outcome is Outcome.DRY_RUN and entry.cells_returned == 0
    assert not entry.budgeted
    assert await used_today(trust, "DSA-LMDT-001") == before  # charged nothing

    real = await trust.query(query, who=who)
    real_entry = await newest(trust)
    assert report["cells"] == real_entry.cells_returned
    denied = {".".join(map(str, e["path"])) for e in real.get("errors", ()) if e.get("path")}
    refused = {p for p, f in report["fields"].items() if not f["allowed"]}
    assert refused == denied
    for path in refused:
        assert report["fields"][path]["reason"]
    if who == "dwp":  # under an agreement: the budget it would use
        budget = report["budget"]
        assert budget["agreement"] == "DSA-LMDT-001" and budget["limit"] == 10_000_000
        assert budget["used"] == before
        assert budget["wouldUse"] == before + report["cells"]
    else:
        assert report["budget"] is None


async def test_dry_run_names_disclosure_per_measure(duckdb_trust: TrustUnderTest) -> None:
    query = "{ payrolledEmployees(geography: COUNTRY) { period employees meanMonthlyPay } }"
    as_dwp = (await dry(duckdb_trust, query, "dwp"))["extensions"]["dryRun"]
    field = as_dwp["fields"]["payrolledEmployees"]
    assert field["allowed"] and field["disclosure"] == {
        "employees": "ten_five",
        "meanMonthlyPay": "perturbed_mean",
    }
    as_owner = (await dry(duckdb_trust, query, "hmrc"))["extensions"]["dryRun"]
    assert as_owner["fields"]["payrolledEmployees"]["disclosure"] == {
        "employees": "exact",
        "meanMonthlyPay": "exact",
    }
    refused = (await dry(duckdb_trust, query, "dfe"))["extensions"]["dryRun"]
    assert refused["fields"]["payrolledEmployees"]["allowed"] is False
    assert refused["fields"]["payrolledEmployees"]["code"] == "FORBIDDEN"


def _small_cells_beside_empty(trust: TrustUnderTest) -> list[tuple[tuple[Any, ...], ...]]:
    """Pairs of standard cells (month, local authority, age band, sex) in one area and
    month: the first holding 1 or 2 claimants, the second none."""
    con = duckdb.connect(str(trust.directory / "dwp" / "claimants.duckdb"), read_only=True)
    counts = con.execute(
        "SELECT month, area_code, age_band, sex, count(DISTINCT claimant_id) FROM uc_claimants "
        "GROUP BY ALL"
    ).fetchall()
    present = {(m, a, g, s): n for m, a, g, s, n in counts}
    pairs = []
    for (month, area, band, sex), n in sorted(present.items()):
        if n not in (1, 2):
            continue
        empty = [
            (month, area, b, s)
            for b in ("16-24", "25-34", "35-49", "50-64", "65+")
            for s in ("F", "M")
            if (month, area, b, s) not in present
        ]
        if empty:
            pairs.append(((month, area, band, sex), empty[0]))
    return pairs


CELL = """query ($p: String!, $a: String!, $g: String!, $s: String!) {
  claimants(where: {period: {eq: $p}, areaCode: {eq: $a}, ageBand: {eq: $g}, sex: {eq: $s}})
  { claimants } }"""


def _variables(cell: tuple[Any, ...]) -> dict[str, str]:
    month, area, band, sex = cell
    return {"p": f"{month:%Y-%m}", "a": area, "g": band, "s": sex}


async def _cells(trust: TrustUnderTest, cell: tuple[Any, ...], who: str) -> tuple[int, int]:
    """(dry-run cells, cells the real run released) for one standard cell."""
    response = await trust.client.post(
        "/graphql",
        json={"query": CELL, "variables": _variables(cell), "extensions": {"dryRun": True}},
        headers=trust.headers(who),
    )
    report = response.json()["extensions"]["dryRun"]
    real = await trust.query(CELL, _variables(cell), who=who)
    assert "errors" not in real, real
    return report["cells"], sum(1 for c in real["data"]["claimants"] if c["claimants"] is not None)


async def test_a_dry_run_never_tells_an_empty_cell_from_a_small_one(
    duckdb_trust: TrustUnderTest,
) -> None:
    """The attack: ask dry runs for one standard cell at a time. Were ``cells`` the
    source's count of non-empty groups, it would be 1 for a cell of 1 or 2 claimants and
    0 for an empty one, whatever the perturbed value shows. A small cell published as 0
    is withheld by the sparsity rule exactly like an empty one: both must say 0."""
    trust = duckdb_trust
    pairs = _small_cells_beside_empty(trust)
    assert pairs, "the demo data has no small cell beside an empty one"
    compared = 0
    for small, empty in pairs[:40]:
        dry_small, real_small = await _cells(trust, small, "hmrc")  # perturbed claimants
        assert dry_small == real_small
        if real_small != 0:
            continue  # published 3 to 5: served, like any cell of that published value
        dry_empty, real_empty = await _cells(trust, empty, "hmrc")
        assert dry_empty == real_empty == 0
        assert dry_small == dry_empty, "the dry run told a small cell from an empty one"
        compared += 1
        if compared >= 3:
            break
    assert compared, "no small cell was published as 0 among the candidates"


BY_SEX = """query ($p: String!, $a: String!, $g: String!) {
  claimants(where: {period: {eq: $p}, areaCode: {eq: $a}, ageBand: {eq: $g}})
  { sex claimants } }"""


async def test_dry_run_cells_are_never_the_count_of_non_empty_groups(
    duckdb_trust: TrustUnderTest,
) -> None:
    """A table of two cells (F, M) of which the source holds exactly one non-empty group
    (a small count beside an empty cell): a dry run counting source rows says 1, which
    tells the caller which table hides an empty cell. The released table is complete, so
    it holds both cells or (sparse, withheld) neither: the dry run says 2 or 0, as the real
    run releases."""
    trust = duckdb_trust
    pairs = [(s, e) for s, e in _small_cells_beside_empty(trust) if s[2] == e[2]]
    assert pairs
    outcomes = set()
    for small, _ in pairs[:25]:
        month, area, band, _sex = small
        variables = {"p": f"{month:%Y-%m}", "a": area, "g": band}
        response = await trust.client.post(
            "/graphql",
            json={"query": BY_SEX, "variables": variables, "extensions": {"dryRun": True}},
            headers=trust.headers("hmrc"),
        )
        cells = response.json()["extensions"]["dryRun"]["cells"]
        real = await trust.query(BY_SEX, variables, who="hmrc")
        released = sum(1 for c in real["data"]["claimants"] if c["claimants"] is not None)
        assert len(real["data"]["claimants"]) == 2  # the complete table
        assert cells == released
        assert cells in (0, 2), f"dry run said {cells}: the source's non-empty groups"
        outcomes.add(cells)
    assert outcomes  # served and withheld tables both occur in practice
