"""Controlled releases on every path: standard cells only, complete tables, sparse areas
withheld, perturbed means; checked against the sources read directly."""

from __future__ import annotations

import itertools
import math
import re
from pathlib import Path
from typing import Any

import pytest

from gql_trust.config import ConfigError, load_settings
from gql_trust.disclosure import perturb
from gql_trust.reference import Level
from gql_trust.trust import Trust
from tests.conftest import TrustUnderTest
from tests.oracle import Oracle

MONTH = "2025-06"
CUSTOM_AREAS = '{areaCode: {in: ["E08000025", "E08000026"]}, period: {eq: "2025-06"}}'


def rule(body: dict[str, Any]) -> str | None:
    errors = body.get("errors") or [{}]
    return errors[0].get("extensions", {}).get("rule")


@pytest.mark.parametrize(
    ("name", "query", "variables"),
    [
        ("alias", f"{{ x: claimants(where: {CUSTOM_AREAS}) {{ claimants }} }}", None),
        (
            "fragment",
            f"{{ claimants(where: {CUSTOM_AREAS}) {{ ...c }} }} fragment c on ClaimantsCell "
            "{ claimants }",
            None,
        ),
        (
            "variables",
            "query($w: ClaimantsWhere) { claimants(where: $w) { claimants } }",
            {"w": {"areaCode": {"in": ["E08000025", "E08000026"]}, "period": {"eq": MONTH}}},
        ),
        (
            "nested area",
            '{ area(code: "E12000005") { claimants(where: {ageBand: {in: ["16-24", "65+"]}}) '
            "{ period claimants } } }",
            None,
        ),
        (
            "labourMarket",
            '{ labourMarket(where: {areaCode: {in: ["E08000025", "E08000026"]}}) '
            "{ period claimants } }",
            None,
        ),
        (
            "entities",
            'query { _entities(representations: [{__typename: "Area", code: "E08000025"}]) '
            '{ ... on Area { claimants(where: {period: {gte: "2025-01"}}) { claimants } } } }',
            None,
        ),
    ],
)
async def test_custom_sets_are_refused_on_every_path(
    duckdb_trust: TrustUnderTest, name: str, query: str, variables: dict[str, Any] | None
) -> None:
    body = await duckdb_trust.query(query, variables, who="hmrc")
    assert rule(body) == "standard-cells-only", (name, body)
    owner = await duckdb_trust.query(query, variables, who="dwp")
    assert "errors" not in owner, (name, owner)


async def test_a_nested_field_returns_the_complete_table_of_each_area(
    duckdb_trust: TrustUnderTest,
) -> None:
    """Every local authority of a region, every age band: true zeros are rows too."""
    reference = duckdb_trust.app.state.trust.reference
    query = (
        '{ area(code: "E12000001") { children { code claimants(where: {period: {eq: "2025-06"}}) '
        "{ ageBand claimants } } } }"
    )
    children = (await duckdb_trust.data(query, who="hmrc"))["area"]["children"]
    assert [c["code"] for c in children] == [a.code for a in reference.children["E12000001"]]
    for child in children:
        assert [c["ageBand"] for c in child["claimants"]] == [
            "16-24",
            "25-34",
            "35-49",
            "50-64",
            "65+",
        ]


async def test_true_zeros_and_small_counts_look_the_same(trust: TrustUnderTest) -> None:
    """In a detailed table, which rows come back and how a zero is published do not depend
    on which cells are empty: the rows are the lattice; a true zero is published 0 (or
    withheld with its area), a served 1-2 as 0 or 3+, never absent, never 1 or 2."""
    query = (
        '{ claimants(geography: COUNTRY, where: {period: {eq: "2025-06"}}, limit: 100000) '
        "{ area { code } ageBand sex conditionality claimants } }"
    )
    body = await trust.query(query, who="hmrc")
    cells = body["data"]["claimants"]
    keys = [(c["area"]["code"], c["ageBand"], c["sex"], c["conditionality"]) for c in cells]
    reference = trust.app.state.trust.reference
    conditionality = trust.app.state.trust.contracts["claimants"].dimension("conditionality")
    regions = sorted(reference.codes_at(Level.COUNTRY))
    ages = ["16-24", "25-34", "35-49", "50-64", "65+"]
    assert keys == list(itertools.product(regions, ages, ["F", "M"], conditionality.values))
    truth = {
        (r, a, s, c): n
        for r, a, s, c, n in await Oracle(trust.directory, trust.pg_dsn).claimants(
            "SELECT g.up, age_band, sex, conditionality, count(DISTINCT claimant_id) "
            "FROM claimants JOIN geo g ON area_code = g.la WHERE month = DATE '2025-06-01' "
            "GROUP BY 1, 2, 3, 4",
            "COUNTRY",
        )
    }
    withheld = {w["code"] for w in body["extensions"]["disclosure"].get("withheldAreas", ())}
    published = {k: c["claimants"] for k, c in zip(keys, cells, strict=True)}
    served_zeros = [k for k in keys if k not in truth and k[0] not in withheld]
    assert served_zeros, "the demo data should leave some served cells empty here"
    assert all(published[k] == 0 for k in served_zeros)
    assert all(published[k] is None for k in keys if k[0] in withheld)
    assert all(v not in (1, 2) for v in published.values())


async def test_sparse_areas_are_withheld_by_the_rule(trust: TrustUnderTest) -> None:
    """Per area, more than half its cells published under 3 -> all its cells null and the
    area listed; the rest are served perturbed. The rule is computed here from the
    source's counts perturbed by the published p-table, and both outcomes occur."""
    query = (
        '{ claimants(where: {period: {eq: "2025-06"}}, limit: 100000) { area { code } sex '
        "conditionality claimants } }"
    )
    body = await trust.query(query, who="hmrc")
    counts = await Oracle(trust.directory, trust.pg_dsn).claimants(
        "SELECT area_code, sex, conditionality, count(DISTINCT claimant_id), "
        "sum(record_key) % 4294967296 FROM claimants WHERE month = DATE '2025-06-01' "
        "GROUP BY 1, 2, 3",
        "LOCAL_AUTHORITY",
    )
    published = {(a, s, c): perturb(n, int(k)) for a, s, c, n, k in counts}
    reference = trust.app.state.trust.reference
    conditionality = trust.app.state.trust.contracts["claimants"].dimension("conditionality")
    cells = list(itertools.product(["F", "M"], conditionality.values))
    sparse = {
        area
        for area in reference.local_authorities
        if sum(published.get((area, *cell), 0) < 3 for cell in cells) > len(cells) / 2
    }
    assert sparse and set(reference.local_authorities) - sparse, "both kinds of area"
    disclosure = body["extensions"]["disclosure"]
    assert {w["code"] for w in disclosure["withheldAreas"]} == sparse
    assert {w["rule"] for w in disclosure["withheldAreas"]} == {"sparse-area"}
    for cell in body["data"]["claimants"]:
        key = (cell["area"]["code"], cell["sex"], cell["conditionality"])
        assert cell["claimants"] == (None if key[0] in sparse else published.get(key, 0))
    withheld = sum(1 for c in body["data"]["claimants"] if c["claimants"] is None)
    assert disclosure["withheld"] == withheld == len(sparse) * len(cells)
    # Filtering the shown cells does not change the verdict on an area.
    area = sorted(sparse)[0]
    sex, condition = next(c for c in cells if published.get((area, *c), 0) == 0)
    one = await trust.query(
        f'{{ claimants(where: {{period: {{eq: "2025-06"}}, areaCode: {{eq: "{area}"}}, '
        f'sex: {{eq: "{sex}"}}, conditionality: {{eq: "{condition}"}}}}) '
        "{ area { code } sex conditionality claimants } }",
        who="hmrc",
    )
    assert one["data"]["claimants"] == [
        {"area": {"code": area}, "sex": sex, "conditionality": condition, "claimants": None}
    ]


async def test_a_table_too_large_to_complete_is_refused_with_a_fix(
    duckdb_trust: TrustUnderTest,
) -> None:
    body = await duckdb_trust.query(
        "{ payrolledEmployees { period area { code } sector { code } ageBand sex employees } }",
        who="dwp",
    )
    error = body["errors"][0]
    assert body["data"] == {"payrolledEmployees": None}
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert "standard cells, more than the 250,000" in error["message"]
    assert "filter a selected dimension" in error["message"]


async def test_mean_pay_does_not_reveal_the_exact_counts(duckdb_trust: TrustUnderTest) -> None:
    """The exact-ratio attack: with the means of a total and of its two parts (F, M) and
    the 10-5 counts, pick among the candidate counts (+-2 each, adding up to the total's)
    the pair that fits the means best. Against exact means it recovers the true pair
    almost every time; against published means it does no better than choosing at
    random among the pairs the counts alone allow."""
    oracle = Oracle(duckdb_trust.directory, None)
    where = '{period: {eq: "2025-06"}, sectorCode: {eq: "C"}, ageBand: {eq: "25-34"}}'
    truth = {
        (a, s): (n, mean)
        for a, s, n, mean in oracle.files(
            "SELECT area_code, coalesce(sex, 'T'), sum(employees), sum(total_pay) / "
            "sum(employees) FROM payroll WHERE month = DATE '2025-06-01' AND sic_section = 'C' "
            "AND age_band = '25-34' GROUP BY GROUPING SETS ((area_code, sex), (area_code))"
        )
    }
    fields = "area { code } employees meanMonthlyPay"
    parts = await duckdb_trust.data(f"{{ payrolledEmployees(where: {where}) {{ sex {fields} }} }}")
    totals = await duckdb_trust.data(f"{{ payrolledEmployees(where: {where}) {{ {fields} }} }}")
    published = {(c["area"]["code"], c["sex"]): c for c in parts["payrolledEmployees"]}
    published |= {(c["area"]["code"], "T"): c for c in totals["payrolledEmployees"]}

    def attack(code: str, mean: Any) -> tuple[tuple[int, int], int]:
        """The best-fitting feasible pair, and how many pairs the counts allow."""
        count = {s: published[(code, s)]["employees"] for s in "TFM"}
        feasible = [
            (nf, nm)
            for nf in range(count["F"] - 2, count["F"] + 3)
            for nm in range(count["M"] - 2, count["M"] + 3)
            if abs(nf + nm - count["T"]) <= 2 and min(nf, nm) >= 10
        ]
        best = min(
            feasible,
            key=lambda p: abs(mean("T") * (p[0] + p[1]) - mean("F") * p[0] - mean("M") * p[1]),
        )
        return best, len(feasible)

    attacked, exact_hits, published_hits, chance = 0, 0, 0, 0.0
    for code in sorted({a for a, _ in published}):
        if any(published[(code, s)]["employees"] is None for s in "TFM"):
            continue
        true_pair = (truth[(code, "F")][0], truth[(code, "M")][0])
        hit, allowed = attack(code, lambda s, c=code: truth[(c, s)][1])
        exact_hits += hit == true_pair
        hit, allowed = attack(code, lambda s, c=code: published[(c, s)]["meanMonthlyPay"])
        published_hits += hit == true_pair
        chance += 1 / allowed
        attacked += 1
    assert attacked >= 30
    assert exact_hits >= 0.9 * attacked  # the attack works: exact means give the counts away
    # Against published means: no better than chance, with 3 standard errors of margin.
    margin = 3 * math.sqrt(chance)
    assert published_hits <= chance + margin, (published_hits, chance, attacked)


def _settings_text(directory: Path) -> str:
    """The demo trust's settings, its paths made absolute so the file can live elsewhere."""
    text = (directory / "gql-trust.toml").read_text(encoding="utf-8")
    for folder in ("reference", "dwp", "hmrc", "ons", "ledger", "keys"):
        text = text.replace(f'"{folder}/', f'"{directory}/{folder}/')
    return text


def test_perturbed_means_need_the_disclosure_key(duckdb_trust_dir: Path, tmp_path: Path) -> None:
    text = _settings_text(duckdb_trust_dir)
    start = text.index("[disclosure]")
    without = text[:start] + text[text.index("[auth]") :]
    config = tmp_path / "gql-trust.toml"
    config.write_text(without, "utf-8")
    settings = load_settings(config)
    with pytest.raises(
        ConfigError, match=r"payrolledEmployees use keyed disclosure control.*key_file"
    ):
        Trust.from_settings(settings)


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ('key_file = "missing.key"', "cannot read the disclosure key"),
        ('key_file = "short.key"', "must hold at least 32 bytes"),
        ('secret = "x"', "[disclosure] has unknown keys ['secret']"),
    ],
)
def test_bad_disclosure_settings_are_clear_errors(
    duckdb_trust_dir: Path, tmp_path: Path, table: str, message: str
) -> None:
    (tmp_path / "short.key").write_bytes(b"too short")
    text = _settings_text(duckdb_trust_dir)
    line = next(x for x in text.splitlines() if x.startswith("key_file"))
    config = tmp_path / "gql-trust.toml"
    config.write_text(text.replace(line, table), "utf-8")
    with pytest.raises(ConfigError, match=re.escape(message)):
        Trust.from_settings(load_settings(config))
