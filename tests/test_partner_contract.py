"""A partner's dataset whose columns and dimensions are named its own way: roll-ups and
the stitched view go through the contract, never through the demo's column names."""

from __future__ import annotations

import csv
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gql_trust.config import bundled_dir
from tests.conftest import TrustUnderTest, _running
from tests.oracle import Oracle

RENAMED = {"month": "ref_month", "area_code": "la_code", "sic_section": "sic", "vacancies": "jobs"}

CONTRACT = """
name: vacancies
title: Online job vacancies
owner: ONS
description: Open job vacancies, as the partner names them.
source: ons
relation: vacancies
grain: cells
dimensions:
  - name: month
    column: ref_month
    conformed: period
    description: Calendar month, "YYYY-MM".
  - name: workplace
    column: la_code
    conformed: area
    description: Local authority of the job.
  - name: industry
    column: sic
    conformed: sector
    description: SIC 2007 section.
measures:
  - name: vacancies
    aggregation: sum
    column: jobs
    type: Int
    description: Open vacancies.
    sensitivity: public
    disclosure: none
"""


@pytest.fixture(scope="module")
async def partner(
    duckdb_trust_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[TrustUnderTest]:
    directory = tmp_path_factory.mktemp("partner")
    for folder in ("reference", "dwp", "hmrc", "keys"):
        shutil.copytree(duckdb_trust_dir / folder, directory / folder)
    (directory / "ons").mkdir()
    with (duckdb_trust_dir / "ons" / "vacancies.csv").open(newline="") as source:
        rows = list(csv.reader(source))
    with (directory / "ons" / "vacancies.csv").open("w", newline="") as target:
        csv.writer(target).writerows([[RENAMED[c] for c in rows[0]], *rows[1:]])
    contracts = directory / "contracts"
    shutil.copytree(bundled_dir("schema"), contracts)
    (contracts / "vacancies.yaml").write_text(CONTRACT, encoding="utf-8")
    settings = (duckdb_trust_dir / "gql-trust.toml").read_text(encoding="utf-8")
    (directory / "gql-trust.toml").write_text(
        settings + '\n[contracts]\ndir = "contracts"\n', encoding="utf-8"
    )
    async for running in _running("duckdb", directory, None):
        yield running


def regional_truth(oracle: Oracle, month: str) -> dict[str, int]:
    rollup = oracle.rollup("REGION")
    totals: dict[str, int] = {}
    for area, jobs in oracle.files(
        "SELECT area_code, sum(vacancies) FROM vacancies WHERE month = CAST(? AS DATE) GROUP BY 1",
        f"{month}-01",
    ):
        totals[rollup[area]] = totals.get(rollup[area], 0) + int(jobs)
    return totals


async def test_a_renamed_dataset_rolls_up_by_region(
    partner: TrustUnderTest, duckdb_trust_dir: Path
) -> None:
    data = await partner.data(
        '{ vacancies(geography: REGION, where: {month: {eq: "2025-06"}}) '
        "{ month workplace { code } vacancies } }",
        who="public",
    )
    got = {c["workplace"]["code"]: c["vacancies"] for c in data["vacancies"]}
    assert {c["month"] for c in data["vacancies"]} == {"2025-06"}
    assert got == regional_truth(Oracle(duckdb_trust_dir, None), "2025-06")


async def test_the_stitched_view_filters_a_renamed_part(
    partner: TrustUnderTest, duckdb_trust_dir: Path
) -> None:
    """`labourMarket(where: {period: ...})` reaches the part whose period is `month`: before,
    that part's filter was dropped and every month's vacancies were summed together."""
    data = await partner.data(
        '{ labourMarket(geography: REGION, where: {period: {eq: "2025-06"}, '
        'areaCode: {in: ["E12000002", "E12000007"]}}) { period area { code } vacancies } }',
        who="dwp",
    )
    truth = regional_truth(Oracle(duckdb_trust_dir, None), "2025-06")
    assert data["labourMarket"] == [
        {"period": "2025-06", "area": {"code": code}, "vacancies": truth[code]}
        for code in ("E12000002", "E12000007")
    ]
