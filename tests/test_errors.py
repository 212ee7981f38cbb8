"""Bad input gets a clear GraphQL error: what was wrong and how to fix it; no SQL, no trace."""

from __future__ import annotations

import re

import pytest

from tests.conftest import TrustUnderTest

CASES = [
    ('{ claimants(where: {period: {eq: "2024-13"}}) { claimants } }', "YYYY-MM", "BAD_USER_INPUT"),
    ('{ claimants(where: {period: {eq: "March"}}) { claimants } }', "YYYY-MM", "BAD_USER_INPUT"),
    (
        '{ claimants(where: {areaCode: {eq: "X99999999"}}) { claimants } }',
        "unknown area code 'X99999999'",
        "BAD_USER_INPUT",
    ),
    (
        '{ claimants(geography: REGION, where: {areaCode: {eq: "E08000025"}}) { claimants } }',
        "at REGION geography",
        "BAD_USER_INPUT",
    ),
    (
        '{ vacancies(where: {sectorCode: {eq: "Z"}}) { vacancies } }',
        "unknown sector code 'Z'",
        "BAD_USER_INPUT",
    ),
    (
        '{ claimants(where: {sex: {eq: "X"}}) { claimants } }',
        "use one of ['F', 'M']",
        "BAD_USER_INPUT",
    ),
    ("{ claimants(limit: -1) { claimants } }", "limit must be between 0 and", "BAD_USER_INPUT"),
    ("{ claimants(limit: 100001) { claimants } }", "limit must be between 0 and", "BAD_USER_INPUT"),
    ("{ vacancies(offset: -5) { vacancies } }", "offset must be 0 or more", "BAD_USER_INPUT"),
    (
        "{ vacancies(orderBy: [{period: ASC}]) { vacancies } }",
        "does not select",
        "BAD_USER_INPUT",
    ),
    (
        "{ vacancies(orderBy: [{period: ASC, vacancies: DESC}]) { period vacancies } }",
        "exactly one field",
        "BAD_USER_INPUT",
    ),
    # Rejected by GraphQL validation, before any resolver runs
    ("{ claimants(where: {colour: {eq: 1}}) { claimants } }", "colour", None),
    ('{ claimants(where: {period: {like: "20%"}}) { claimants } }', "like", None),
    ('{ claimants(where: {disability: {eq: "yes"}}) { claimants } }', "Boolean", None),
    ('{ claimants(limit: "ten") { claimants } }', "Int", None),
    ("{ claimants(geography: STREET) { claimants } }", "STREET", None),
    ("{ claimants { salary } }", "salary", None),
]


@pytest.mark.parametrize(("query", "says", "code"), CASES)
async def test_bad_input_is_a_clear_error(
    duckdb_trust: TrustUnderTest, query: str, says: str, code: str | None
) -> None:
    body = await duckdb_trust.query(query)
    errors = body["errors"]
    assert len(errors) == 1
    assert says in errors[0]["message"]
    text = str(body).upper()
    assert not re.search(r"SELECT .* FROM|TRACEBACK|DUCKDB|\.PY\b", text)
    if code is not None:
        assert errors[0]["extensions"]["code"] == code
        assert list(body["data"].values()) == [None]
        assert errors[0]["path"]


async def test_one_bad_field_leaves_the_rest_of_the_response_intact(
    duckdb_trust: TrustUnderTest,
) -> None:
    body = await duckdb_trust.query(
        '{ bad: vacancies(where: {period: {eq: "2024-00"}}) { vacancies } '
        "  good: vacancies(geography: COUNTRY) { area { code } vacancies } }"
    )
    assert body["data"]["bad"] is None
    assert len(body["data"]["good"]) == 3
    assert [e["path"] for e in body["errors"]] == [["bad"]]


async def test_server_keeps_serving_after_errors(duckdb_trust: TrustUnderTest) -> None:
    for query, _, _ in CASES:
        await duckdb_trust.query(query)
    data = await duckdb_trust.data("{ sectors { code } }")
    assert len(data["sectors"]) == 21
