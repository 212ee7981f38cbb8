"""Every demo principal against every field of every dataset, at two geographies.

The expected table is written by hand from DESIGN.md ("Identity and access"), not
derived from the policy files, so a wrong rule fails here.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import TrustUnderTest

FIELDS = {
    "claimants": ("period", "area", "ageBand", "sex", "conditionality", "disability", "claimants"),
    "payrolledEmployees": (
        "period",
        "area",
        "sector",
        "ageBand",
        "sex",
        "employees",
        "meanMonthlyPay",
    ),
    "vacancies": ("period", "area", "sector", "vacancies"),
}
MEASURES = {"claimants", "employees", "meanMonthlyPay", "vacancies"}
OWNER = {"claimants": "dwp", "payrolledEmployees": "hmrc", "vacancies": "public"}

# What each principal gets: "exact", "protected" (disclosure control) or "denied";
# dimensions are "exact" when readable. Keys: (principal, dataset, field, geography).
ALL = ("LOCAL_AUTHORITY", "REGION")


def expected(who: str, dataset: str, field: str, geography: str) -> str:
    if dataset == "vacancies":
        return "exact"  # open data, for everyone
    measure = field in MEASURES
    if dataset == "claimants":
        if who == "dwp" or who.startswith("dwp-"):
            return "exact"
        if who == "hmrc":
            return "denied" if field == "disability" else ("protected" if measure else "exact")
        if who == "dfe":
            if geography == "LOCAL_AUTHORITY":
                return "denied"
            return "protected" if measure else "exact"
        if who == "la":
            if geography != "LOCAL_AUTHORITY":
                return "denied"
            return "protected" if measure else "exact"
        return "denied"
    # payrolledEmployees
    if who == "hmrc":
        return "exact"
    if who in ("dwp", "dwp-no-agreement", "dwp-wrong-purpose"):
        if field == "meanMonthlyPay" and who != "dwp":
            return "denied"  # only with agreement DSA-LMDT-001 for labour-market-analysis
        return "protected" if measure else "exact"
    if who == "dfe":
        if geography == "LOCAL_AUTHORITY" or field == "meanMonthlyPay":
            return "denied"
        return "protected" if measure else "exact"
    return "denied"


PRINCIPALS = ["public", "dwp", "dwp-no-agreement", "hmrc", "dfe", "la", "auditor"]
CASES = [(d, f) for d, fields in FIELDS.items() for f in fields]


def query(dataset: str, field: str, geography: str) -> str:
    period = '{period: {eq: "2025-06"}}'
    selection = {"area": "area { code }", "sector": "sector { code }"}.get(field, field)
    return (
        f"{{ {dataset}(geography: {geography}, where: {period}, limit: 100000) {{ {selection} }} }}"
    )


def values(body: dict[str, Any], dataset: str, field: str) -> list[Any]:
    cells = body["data"][dataset]
    return sorted(
        (c[field]["code"] if isinstance(c[field], dict) else c[field] for c in cells),
        key=repr,
    )


@pytest.mark.parametrize("geography", ALL)
@pytest.mark.parametrize("who", PRINCIPALS)
@pytest.mark.parametrize(("dataset", "field"), CASES)
async def test_principal_by_field(
    duckdb_trust: TrustUnderTest, dataset: str, field: str, who: str, geography: str
) -> None:
    want = expected(who, dataset, field, geography)
    text = query(dataset, field, geography)
    body = await duckdb_trust.query(text, who=who)
    if want == "denied":
        assert body["data"] == {dataset: None}, body
        (error,) = body["errors"]
        assert error["extensions"]["code"] == "FORBIDDEN" and error["extensions"]["reason"]
        return
    assert "errors" not in body, body
    got = values(body, dataset, field)
    assert got, "the demo data has cells for every field"
    if field not in MEASURES:
        return  # a dimension's values are the same for everyone allowed to see them
    if who == "la":
        return  # compared against its own authority below (test_la_officer_...)
    truth = values(await duckdb_trust.query(text, who=OWNER[dataset]), dataset, field)
    disclosure = body.get("extensions", {}).get("disclosure")
    if want == "exact":
        assert got == pytest.approx(truth, rel=1e-9)  # float sums vary in the last digits
        assert not disclosure or disclosure == {"suppressed": 0, "perturbed": 0}
    else:
        assert disclosure is not None, "protected cells are reported in extensions.disclosure"
        assert len(got) == len(truth)
