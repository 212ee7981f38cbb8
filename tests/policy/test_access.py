"""Who may see what: the demo principals against every dataset field, on every path."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from tests.conftest import PRINCIPALS, TrustUnderTest
from tests.oracle import Oracle


async def ask(trust: TrustUnderTest, who: str, query: str) -> dict[str, Any]:
    return await trust.query(query, who=who)


def outcome(body: dict[str, Any]) -> str:
    errors = body.get("errors") or []
    if errors:
        codes = {e["extensions"]["code"] for e in errors}
        assert len(codes) == 1, errors
        return codes.pop()
    return "OK"


MATRIX = [
    # query, {principal: expected outcome}; principals not named are FORBIDDEN
    ("{ vacancies(geography: COUNTRY) { vacancies } }", dict.fromkeys(PRINCIPALS, "OK")),
    (
        "{ claimants(geography: COUNTRY) { claimants } }",
        {
            "dwp": "OK",
            "dwp-no-agreement": "OK",
            "dwp-wrong-purpose": "OK",
            "hmrc": "OK",
            "dfe": "OK",
        },
    ),
    (
        "{ claimants { area { code } claimants } }",
        {
            "dwp": "OK",
            "dwp-no-agreement": "OK",
            "dwp-wrong-purpose": "OK",
            "hmrc": "OK",
            "la": "OK",
        },
    ),
    (
        "{ claimants(geography: REGION) { disability claimants } }",
        {"dwp": "OK", "dwp-no-agreement": "OK", "dwp-wrong-purpose": "OK", "dfe": "OK"},
    ),
    (
        "{ claimants(geography: REGION, where: {disability: {eq: true}}) { claimants } }",
        {"dwp": "OK", "dwp-no-agreement": "OK", "dwp-wrong-purpose": "OK", "dfe": "OK"},
    ),
    (
        "{ payrolledEmployees(geography: REGION) { employees } }",
        {
            "dwp": "OK",
            "dwp-no-agreement": "OK",
            "dwp-wrong-purpose": "OK",
            "hmrc": "OK",
            "dfe": "OK",
        },
    ),
    (
        "{ payrolledEmployees { sector { code } employees } }",
        {"dwp": "OK", "dwp-no-agreement": "OK", "dwp-wrong-purpose": "OK", "hmrc": "OK"},
    ),
    (
        "{ payrolledEmployees(geography: COUNTRY) { meanMonthlyPay } }",
        {"dwp": "OK", "hmrc": "OK"},
    ),
    (
        "{ labourMarket(geography: REGION) { period claimants } }",
        {
            "dwp": "OK",
            "dwp-no-agreement": "OK",
            "dwp-wrong-purpose": "OK",
            "hmrc": "OK",
            "dfe": "OK",
        },
    ),
    (
        "{ labourMarket(geography: COUNTRY) { claimantsPerThousandEmployees } }",
        {
            "dwp": "OK",
            "dwp-no-agreement": "OK",
            "dwp-wrong-purpose": "OK",
            "hmrc": "OK",
            "dfe": "OK",
        },
    ),
]


@pytest.mark.parametrize("who", list(PRINCIPALS))
@pytest.mark.parametrize(("query", "expected"), MATRIX)
async def test_access_matrix(
    duckdb_trust: TrustUnderTest, who: str, query: str, expected: dict[str, str]
) -> None:
    body = await ask(duckdb_trust, who, query)
    want = expected.get(who, "FORBIDDEN")
    assert outcome(body) == want, body
    if want == "FORBIDDEN":
        (error,) = body["errors"]
        field = error["path"][0]
        assert body["data"] == {field: None}
        assert error["extensions"]["reason"]


async def test_denial_names_the_agreement_problem(duckdb_trust: TrustUnderTest) -> None:
    query = "{ payrolledEmployees(geography: COUNTRY) { meanMonthlyPay } }"
    missing = await ask(duckdb_trust, "dwp-no-agreement", query)
    assert "needs a data-sharing agreement" in missing["errors"][0]["extensions"]["reason"]
    assert missing["errors"][0]["extensions"]["rule"] == "pay-needs-agreement"
    wrong = await ask(duckdb_trust, "dwp-wrong-purpose", query)
    assert "not marketing" in wrong["errors"][0]["extensions"]["reason"]


async def test_denied_field_leaves_the_rest_intact(duckdb_trust: TrustUnderTest) -> None:
    body = await ask(
        duckdb_trust,
        "public",
        "{ secret: claimants { claimants } "
        "  open: vacancies(geography: COUNTRY) { area { code } vacancies } sectors { code } }",
    )
    assert body["data"]["secret"] is None
    assert len(body["data"]["open"]) == 3 and len(body["data"]["sectors"]) == 21
    assert [e["path"] for e in body["errors"]] == [["secret"]]


@pytest.mark.parametrize(
    "query",
    [
        "{ a: claimants(geography: COUNTRY) { n: claimants } }",
        "{ ...Q } fragment Q on Query { claimants(geography: COUNTRY) { ...C } } "
        "fragment C on ClaimantsCell { claimants }",
        "{ ... on Query { claimants(geography: COUNTRY) { ... on ClaimantsCell { claimants } } } }",
        '{ area(code: "E92000001") { claimants { claimants } } }',
        '{ sectors { code name } area(code: "E92000001") { parent { code } children { '
        "claimants { claimants } } } }",
        "{ labourMarket(geography: COUNTRY) { vacanciesPerClaimant } }",
    ],
)
async def test_every_path_is_enforced(duckdb_trust: TrustUnderTest, query: str) -> None:
    body = await ask(duckdb_trust, "public", query)
    assert body["errors"]
    assert {e["extensions"]["code"] for e in body["errors"]} == {"FORBIDDEN"}
    assert "claimants" not in str(body["data"]).replace("'claimants': None", "")


async def test_filtering_on_a_hidden_field_is_denied(duckdb_trust: TrustUnderTest) -> None:
    body = await ask(
        duckdb_trust,
        "hmrc",
        '{ claimants(geography: COUNTRY, where: {or: [{sex: {eq: "F"}}, '
        "{not: {disability: {eq: false}}}]}) { claimants } }",
    )
    assert outcome(body) == "FORBIDDEN"
    assert body["errors"][0]["extensions"]["rule"] == "hmrc-never-by-disability"


async def test_la_officer_sees_only_its_own_authority(duckdb_trust: TrustUnderTest) -> None:
    own = await ask(duckdb_trust, "la", "{ claimants { area { code } period claimants } }")
    assert {c["area"]["code"] for c in own["data"]["claimants"]} == {"E08000025"}
    other = await ask(
        duckdb_trust,
        "la",
        '{ claimants(where: {areaCode: {eq: "E08000003"}}) { area { code } claimants } '
        '  area(code: "E08000003") { claimants { claimants } } }',
    )
    assert other["data"] == {"claimants": [], "area": {"claimants": []}}
    # Everything but its own area is not a standard cell: refused, not answered with 0.
    rest = await ask(
        duckdb_trust, "la", '{ claimants(where: {areaCode: {ne: "E08000025"}}) { claimants } }'
    )
    assert rest["data"] == {"claimants": None}
    assert rest["errors"][0]["extensions"]["rule"] == "standard-cells-only"
    regional = await ask(duckdb_trust, "la", "{ claimants(geography: REGION) { claimants } }")
    assert "LOCAL_AUTHORITY geography only" in regional["errors"][0]["extensions"]["reason"]


async def test_owner_gets_exact_counts_and_others_perturbed(duckdb_trust: TrustUnderTest) -> None:
    query = (
        '{ claimants(where: {period: {eq: "2025-06"}}) { area { code } ageBand sex claimants } }'
    )
    exact = await ask(duckdb_trust, "dwp", query)
    perturbed = await ask(duckdb_trust, "hmrc", query)
    again = await ask(duckdb_trust, "hmrc", query)
    oracle = Oracle(duckdb_trust.directory, None)
    truth = {
        (a, b, s): n
        for a, b, s, n in await oracle.claimants(
            "SELECT area_code, age_band, sex, count(DISTINCT claimant_id) FROM claimants "
            "WHERE month = DATE '2025-06-01' GROUP BY 1, 2, 3",
            "LOCAL_AUTHORITY",
        )
    }
    key = lambda c: (c["area"]["code"], c["ageBand"], c["sex"])  # noqa: E731
    assert {key(c): c["claimants"] for c in exact["data"]["claimants"]} == truth
    assert exact.get("extensions", {}).get("disclosure", {}).get("perturbed", 0) == 0
    published = {key(c): c["claimants"] for c in perturbed["data"]["claimants"]}
    # The complete table: every area, age band and sex, true zeros included.
    areas = {c["area"]["code"] for c in perturbed["data"]["claimants"]}
    assert len(published) == len(areas) * 5 * 2 and published.keys() >= truth.keys()
    assert perturbed["data"] == again["data"]  # the same cell, the same value
    disclosure = perturbed["extensions"]["disclosure"]
    withheld = {w["code"] for w in disclosure.get("withheldAreas", ())}
    served = {k: v for k, v in published.items() if k[0] not in withheld}
    assert all(v is None for k, v in published.items() if k[0] in withheld)
    assert all(abs(v - truth.get(k, 0)) <= 5 and v not in (1, 2) for k, v in served.items())
    assert all(v == 0 for k, v in served.items() if k not in truth)  # true zeros stay 0
    assert any(v != truth.get(k, 0) for k, v in served.items())
    assert disclosure["perturbed"] == len(served)
    assert disclosure["withheld"] == len(published) - len(served)


async def test_non_owner_gets_ten_five_and_pay_follows_suppression(
    duckdb_trust: TrustUnderTest,
) -> None:
    query = (
        '{ payrolledEmployees(where: {period: {eq: "2026-03"}, areaCode: {eq: "E09000001"}}) '
        "{ sector { code } ageBand sex employees meanMonthlyPay } }"
    )
    key = lambda c: (c["sector"]["code"], c["ageBand"], c["sex"])  # noqa: E731
    owner = await ask(duckdb_trust, "hmrc", query)
    exact = {key(c): c for c in owner["data"]["payrolledEmployees"]}
    body = await ask(duckdb_trust, "dwp", query)
    controlled = {key(c): c for c in body["data"]["payrolledEmployees"]}
    assert len(controlled) == 21 * 5 * 2 and controlled.keys() >= exact.keys() and exact
    suppressed = 0
    for cell, seen in controlled.items():
        truth = exact.get(cell, {"employees": 0, "meanMonthlyPay": None})
        if truth["employees"] < 10:
            suppressed += 1
            assert seen["employees"] is None and seen["meanMonthlyPay"] is None
        else:
            assert seen["employees"] % 5 == 0 and abs(seen["employees"] - truth["employees"]) <= 2
            # total pay moved by 0.5-1.5 means, over the published count, in whole pounds
            mean, count, shown = truth["meanMonthlyPay"], truth["employees"], seen["employees"]
            low, high = (mean * count - 1.5 * mean) / shown, (mean * count + 1.5 * mean) / shown
            assert low - 0.5 <= seen["meanMonthlyPay"] <= high + 0.5
            assert seen["meanMonthlyPay"] == round(seen["meanMonthlyPay"])
    assert suppressed > 0, "the demo data should have small cells here"
    assert body["extensions"]["disclosure"]["suppressed"] == suppressed


async def test_rates_use_the_published_inputs(duckdb_trust: TrustUnderTest) -> None:
    query = (
        "{ labourMarket(geography: REGION) { period area { code } claimants employees "
        "claimantsPerThousandEmployees } }"
    )
    rows = (await ask(duckdb_trust, "dfe", query))["data"]["labourMarket"]
    for row in rows:
        if row["claimants"] is not None and row["employees"]:
            assert row["claimantsPerThousandEmployees"] == pytest.approx(
                1000 * row["claimants"] / row["employees"], abs=1e-4
            )
            assert row["employees"] % 5 == 0


async def test_a_perturbed_cell_has_one_value_whatever_the_query_shape(
    duckdb_trust: TrustUnderTest,
) -> None:
    """Birmingham, 2025-06, women: asked three different ways, one published value."""
    flat = await ask(
        duckdb_trust,
        "hmrc",
        '{ claimants(where: {period: {eq: "2025-06"}}) { area { code } period sex claimants } }',
    )
    filtered = await ask(
        duckdb_trust,
        "hmrc",
        '{ claimants(where: {period: {eq: "2025-06"}, areaCode: {eq: "E08000025"}, '
        'sex: {eq: "F"}}) { claimants } }',
    )
    nested = await ask(
        duckdb_trust,
        "hmrc",
        '{ area(code: "E08000025") { claimants(where: {period: {in: ["2025-06"]}}) '
        "{ sex claimants } } }",
    )
    from_flat = next(
        c["claimants"]
        for c in flat["data"]["claimants"]
        if c["area"]["code"] == "E08000025" and c["sex"] == "F"
    )
    from_filtered = filtered["data"]["claimants"][0]["claimants"]
    from_nested = next(
        c["claimants"] for c in nested["data"]["area"]["claimants"] if c["sex"] == "F"
    )
    assert from_flat == from_filtered == from_nested
    exact = await ask(
        duckdb_trust,
        "dwp",
        '{ claimants(where: {period: {eq: "2025-06"}, areaCode: {eq: "E08000025"}, '
        'sex: {eq: "F"}}) { claimants } }',
    )
    assert abs(from_flat - exact["data"]["claimants"][0]["claimants"]) <= 5


async def test_custom_sets_of_an_unselected_dimension_are_refused(
    duckdb_trust: TrustUnderTest,
) -> None:
    """Averaging `in: S + [target]` against `in: S`, or subtracting `ne: target` from a
    total, recovered small counts: for a caller with controlled values each such set is
    a cell that is not standard, so the query is refused, naming the dimension and the
    fix, and the refusal is in the ledger as DENIED with the rule."""
    month = 'period: {eq: "2025-06"}'
    shapes = [
        ("area", "claimants", f'{month}, areaCode: {{in: ["E08000025", "E08000026"]}}'),
        ("area", "claimants", f'{month}, areaCode: {{ne: "E08000025"}}'),
        ("period", "claimants", 'period: {gte: "2025-01"}'),
        ("ageBand", "claimants", f'{month}, ageBand: {{notIn: ["65+"]}}'),
        ("period", "claimants", f'or: [{{{month}}}, {{sex: {{eq: "F"}}}}]'),
        ("sector", "payrolledEmployees", f'{month}, sectorCode: {{in: ["A", "B"]}}'),
    ]
    readers = {"claimants": ("hmrc", "la", "dfe"), "payrolledEmployees": ("dwp", "dfe")}
    refused = 0
    for dimension, dataset, where in shapes:
        for who in readers[dataset]:
            geography = ", geography: REGION" if who == "dfe" else ""
            measure = "employees" if dataset == "payrolledEmployees" else "claimants"
            text = f"{{ {dataset}(where: {{{where}}}{geography}) {{ {measure} }} }}"
            if who == "dfe":  # regions, at the only geography it may read
                text = text.replace("E08000025", "E12000005").replace("E08000026", "E12000007")
            body = await ask(duckdb_trust, who, text)
            assert body["data"] == {dataset: None}, text
            error = body["errors"][0]["extensions"]
            assert error["code"] == "FORBIDDEN" and error["rule"] == "standard-cells-only", text
            assert f"Select {dimension}, or filter it with eq" in error["reason"], text
            refused += 1
    log = await duckdb_trust.data(
        f"{{ auditLog(limit: {refused}, where: {{outcome: DENIED}}) "
        "{ fieldsDenied { action rule } } }",
        who="auditor",
    )
    assert len(log["auditLog"]) == refused
    denied = [d for entry in log["auditLog"] for d in entry["fieldsDenied"]]
    assert denied == [{"action": "filter", "rule": "standard-cells-only"}] * refused
    # The owner is unaffected; selecting the dimension makes the same filter fine.
    custom = f"claimants(where: {{{shapes[0][2]}}})"
    owner = await ask(duckdb_trust, "dwp", f"{{ {custom} {{ claimants }} }}")
    assert "errors" not in owner
    selected = await ask(duckdb_trust, "hmrc", f"{{ {custom} {{ area {{ code }} claimants }} }}")
    assert [c["area"]["code"] for c in selected["data"]["claimants"]] == ["E08000025", "E08000026"]


async def test_a_denial_is_not_printed_as_a_warning(
    duckdb_trust: TrustUnderTest, caplog: pytest.LogCaptureFixture
) -> None:
    """Refusals are recorded in the ledger with their rule; the policy library's own
    warning per denial (with the caller's attributes) would flood the server's stderr.
    Casbin disables its logger, but uvicorn's logging configuration, applied after the
    app is built, enables every existing logger again: as here."""
    duckdb_trust.app.state.trust.policy._grant.cache_clear()
    casbin_logger = logging.getLogger("casbin.enforcer")
    was = casbin_logger.disabled
    casbin_logger.disabled = False
    try:
        with caplog.at_level(logging.INFO):
            body = await ask(duckdb_trust, "public", "{ claimants { claimants } }")
    finally:
        casbin_logger.disabled = was
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert [r for r in caplog.records if r.name.startswith("casbin")] == []
