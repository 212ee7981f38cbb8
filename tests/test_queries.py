"""GraphQL answers against an independent oracle, on both claimant sources."""

from __future__ import annotations

from datetime import date

import pytest

from gql_trust.disclosure import ten_five
from tests.conftest import TrustUnderTest
from tests.oracle import Oracle


def ym(value: date) -> str:
    return f"{value.year:04d}-{value.month:02d}"


def oracle(trust: TrustUnderTest) -> Oracle:
    return Oracle(trust.directory, trust.pg_dsn)


async def test_claimants_by_period_and_area_for_one_local_authority(trust: TrustUnderTest) -> None:
    data = await trust.data(
        """{ claimants(where: {period: {gte: "2025-01"}, areaCode: {in: ["E08000025"]}},
                       orderBy: [{period: ASC}]) {
               period area { code name parent { code } } claimants } }"""
    )
    expected = await oracle(trust).claimants(
        "SELECT month, count(DISTINCT claimant_id) FROM claimants "
        "WHERE area_code = 'E08000025' AND month >= DATE '2025-01-01' "
        "GROUP BY month ORDER BY month",
        "LOCAL_AUTHORITY",
    )
    assert expected, "the demo data should have claimants in Birmingham"
    got = [(c["period"], c["claimants"]) for c in data["claimants"]]
    assert got == [(ym(m), n) for m, n in expected]
    assert {c["area"]["code"] for c in data["claimants"]} == {"E08000025"}
    assert data["claimants"][0]["area"]["name"] == "Birmingham"
    assert data["claimants"][0]["area"]["parent"]["code"] == "E12000005"


async def test_claimants_rolled_up_to_region_by_sex_with_a_boolean_filter(
    trust: TrustUnderTest,
) -> None:
    data = await trust.data(
        """{ claimants(geography: REGION, where: {disability: {eq: true}}) {
               area { code } sex claimants } }"""
    )
    expected = await oracle(trust).claimants(
        "SELECT g.up, c.sex, count(DISTINCT c.claimant_id) FROM claimants c "
        "JOIN geo g ON c.area_code = g.la WHERE c.disability GROUP BY 1, 2 ORDER BY 1, 2",
        "REGION",
    )
    got = [(c["area"]["code"], c["sex"], c["claimants"]) for c in data["claimants"]]
    assert got == [tuple(r) for r in expected]
    codes = {code for code, _, _ in got}
    assert "W92000004" in codes and "E12000001" in codes  # Wales rolls up to itself


async def test_distinct_claimants_across_all_months_by_country(trust: TrustUnderTest) -> None:
    """Totals over months count each claimant once, not once per month."""
    data = await trust.data("{ claimants(geography: COUNTRY) { area { code level } claimants } }")
    expected = await oracle(trust).claimants(
        "SELECT g.up, count(DISTINCT c.claimant_id) FROM claimants c "
        "JOIN geo g ON c.area_code = g.la GROUP BY 1 ORDER BY 1",
        "COUNTRY",
    )
    got = [(c["area"]["code"], c["claimants"]) for c in data["claimants"]]
    assert got == [tuple(r) for r in expected]
    assert {c["area"]["level"] for c in data["claimants"]} == {"COUNTRY"}


async def test_payroll_by_sector_and_period(duckdb_trust: TrustUnderTest) -> None:
    data = await duckdb_trust.data(
        """{ payrolledEmployees(where: {period: {lt: "2025-01"}}, limit: 100000) {
               period sector { code name } employees meanMonthlyPay } }""",
        who="hmrc",
    )
    expected = oracle(duckdb_trust).files(
        "SELECT month, sic_section, sum(employees), sum(total_pay) / sum(employees) "
        "FROM payroll WHERE month < DATE '2025-01-01' GROUP BY 1, 2 ORDER BY 1, 2"
    )
    got = data["payrolledEmployees"]
    assert len(got) == len(expected) > 0
    for cell, (month, sector, employees, mean) in zip(got, expected, strict=True):
        assert (cell["period"], cell["sector"]["code"], cell["employees"]) == (
            ym(month),
            sector,
            employees,
        )
        assert cell["meanMonthlyPay"] == pytest.approx(mean, rel=1e-9)


async def test_payroll_or_and_not_filters_at_region(duckdb_trust: TrustUnderTest) -> None:
    data = await duckdb_trust.data(
        """{ payrolledEmployees(geography: REGION,
               where: {or: [{ageBand: {eq: "16-24"}}, {ageBand: {eq: "65+"}}],
                       not: {sectorCode: {in: ["A", "B", "C"]}},
                       areaCode: {ne: "E12000007"}}) {
               area { code } ageBand employees } }""",
        who="hmrc",
    )
    mapping = oracle(duckdb_trust).rollup("REGION")
    values = ", ".join(f"('{la}', '{up}')" for la, up in mapping.items())
    expected = oracle(duckdb_trust).files(
        f"SELECT g.up, p.age_band, sum(p.employees) FROM payroll p "
        f"JOIN (VALUES {values}) g(la, up) ON p.area_code = g.la "
        "WHERE p.age_band IN ('16-24', '65+') AND p.sic_section NOT IN ('A', 'B', 'C') "
        "AND g.up <> 'E12000007' GROUP BY 1, 2 ORDER BY 1, 2"
    )
    got = [(c["area"]["code"], c["ageBand"], c["employees"]) for c in data["payrolledEmployees"]]
    assert got == [tuple(r) for r in expected]


async def test_vacancies_ordered_by_measure_and_paged(duckdb_trust: TrustUnderTest) -> None:
    query = """query Page($offset: Int) { vacancies(where: {sectorCode: {notIn: ["U", "T"]}},
                 orderBy: [{vacancies: DESC}], limit: 5, offset: $offset) {
                 sector { code } vacancies } }"""
    first = await duckdb_trust.data(query, {"offset": 0})
    second = await duckdb_trust.data(query, {"offset": 5})
    expected = oracle(duckdb_trust).files(
        "SELECT sic_section, sum(vacancies) FROM vacancies WHERE sic_section NOT IN ('U', 'T') "
        "GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 10"
    )
    got = [(c["sector"]["code"], c["vacancies"]) for c in first["vacancies"] + second["vacancies"]]
    assert got == [tuple(r) for r in expected]


async def test_nested_area_fields_roll_up_to_the_area_level(trust: TrustUnderTest) -> None:
    data = await trust.data(
        """{ areas(level: REGION) { code
               claimants(where: {period: {eq: "2025-06"}}) { claimants }
               vacancies(where: {period: {eq: "2025-06"}}) { vacancies } } }"""
    )
    claimants = dict(
        await oracle(trust).claimants(
            "SELECT g.up, count(DISTINCT c.claimant_id) FROM claimants c "
            "JOIN geo g ON c.area_code = g.la WHERE c.month = DATE '2025-06-01' GROUP BY 1",
            "REGION",
        )
    )
    mapping = oracle(trust).rollup("REGION")
    vacancies: dict[str, int] = {}
    for la, n in oracle(trust).files(
        "SELECT area_code, sum(vacancies) FROM vacancies WHERE month = DATE '2025-06-01' GROUP BY 1"
    ):
        vacancies[mapping[la]] = vacancies.get(mapping[la], 0) + n
    assert len(data["areas"]) == 9
    for area in data["areas"]:
        assert area["claimants"] == [{"claimants": claimants[area["code"]]}]
        assert area["vacancies"] == [{"vacancies": vacancies[area["code"]]}]


async def test_labour_market_stitches_three_sources(trust: TrustUnderTest) -> None:
    data = await trust.data(
        """{ labourMarket(geography: REGION, where: {period: {gte: "2026-01"}}) {
               period area { code } claimants employees vacancies
               claimantsPerThousandEmployees vacanciesPerClaimant } }"""
    )
    o = oracle(trust)
    claimants = {
        (ym(m), a): n
        for m, a, n in await o.claimants(
            "SELECT c.month, g.up, count(DISTINCT c.claimant_id) FROM claimants c "
            "JOIN geo g ON c.area_code = g.la WHERE c.month >= DATE '2026-01-01' GROUP BY 1, 2",
            "REGION",
        )
    }
    mapping = o.rollup("REGION")
    employees: dict[tuple[str, str], int] = {}
    for m, la, n in o.files(
        "SELECT month, area_code, sum(employees) FROM payroll "
        "WHERE month >= DATE '2026-01-01' GROUP BY 1, 2"
    ):
        key = (ym(m), mapping[la])
        employees[key] = employees.get(key, 0) + n
    rows = data["labourMarket"]
    assert len(rows) == len(claimants) > 0
    for row in rows:
        key = (row["period"], row["area"]["code"])
        assert row["claimants"] == claimants[key]
        assert row["employees"] == ten_five(employees[key])  # DWP is not HMRC: 10-5 applies
        assert row["claimantsPerThousandEmployees"] == pytest.approx(
            1000 * claimants[key] / row["employees"], abs=1e-4
        )
        assert row["vacanciesPerClaimant"] == pytest.approx(
            row["vacancies"] / claimants[key], abs=1e-4
        )
    assert [(r["period"], r["area"]["code"]) for r in rows] == sorted(
        (r["period"], r["area"]["code"]) for r in rows
    )


async def test_aliases_and_fragments_group_like_plain_fields(trust: TrustUnderTest) -> None:
    plain = await trust.data("{ claimants(geography: COUNTRY) { sex claimants } }")
    fancy = await trust.data(
        """query { c: claimants(geography: COUNTRY) { ...Cells s2: sex @include(if: true)
                      ageBand @skip(if: true) } }
           fragment Cells on ClaimantsCell { s: sex ... on ClaimantsCell { n: claimants } }"""
    )
    assert [(r["s"], r["n"]) for r in fancy["c"]] == [
        (r["sex"], r["claimants"]) for r in plain["claimants"]
    ]
    assert all(r["s"] == r["s2"] for r in fancy["c"])
