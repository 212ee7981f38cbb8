"""How a request's outcome is classified from its result, and what a request records."""

from __future__ import annotations

import pytest
from graphql import GraphQLError

from gql_trust.identity import PUBLIC, Principal
from gql_trust.ledger import Outcome
from gql_trust.ledger.record import Requested, budget_claim, classify, combine, transport


def error(code: str | None = None, path: list[str] | None = None) -> GraphQLError:
    return GraphQLError("x", path=path, extensions={"code": code} if code else None)


@pytest.mark.parametrize(
    ("errors", "data", "cells", "outcome"),
    [
        ([], {"vacancies": []}, 0, Outcome.OK),
        (
            [error("FORBIDDEN", ["claimants"])],
            {"vacancies": [1], "claimants": None},
            1,
            Outcome.PARTIAL,
        ),
        ([error("FORBIDDEN", ["claimants"])], {"claimants": None}, 0, Outcome.DENIED),
        ([error("FORBIDDEN")], None, 0, Outcome.DENIED),  # introspection refused
        ([error()], None, 0, Outcome.INVALID),  # syntax or validation
        ([error("BAD_USER_INPUT", ["vacancies"])], {"vacancies": None}, 0, Outcome.INVALID),
        ([error("NOT_FOUND", ["area"])], {"area": None}, 0, Outcome.INVALID),
        ([error("SOURCE_TIMEOUT", ["vacancies"])], {"vacancies": None}, 0, Outcome.ERROR),
        ([error(None, ["vacancies"])], {"vacancies": None}, 0, Outcome.ERROR),  # masked
    ],
)
def test_outcomes(errors: list[GraphQLError], data: object, cells: int, outcome: Outcome) -> None:
    assert classify(errors, data, cells) is outcome


def test_a_batch_has_one_outcome() -> None:
    assert combine([Outcome.OK, Outcome.OK], 3) is Outcome.OK
    assert combine([Outcome.OK, Outcome.DENIED], 3) is Outcome.PARTIAL
    assert combine([Outcome.INVALID, Outcome.DENIED], 0) is Outcome.DENIED


def test_only_known_agreements_are_budgeted() -> None:
    dwp = Principal("s", "DWP", ("analyst",), "p", "DSA-1", None, True)
    assert budget_claim(dwp, {"DSA-1": 10}, 4, "2026-01-01").limit == 10  # type: ignore[union-attr]
    assert budget_claim(dwp, {}, 4, "2026-01-01") is None
    assert budget_claim(PUBLIC, {"DSA-1": 10}, 4, "2026-01-01") is None


def test_the_operation_name_defaults_to_the_documents_own() -> None:
    assert Requested("# hi\nquery Jobs { a }").name == "Jobs"
    assert Requested("{ a }").name is None
    # Named from the document GraphQL executes, never from what the caller says it is:
    assert Requested("query Jobs { a }", operation_name="Other").name is None
    assert Requested("query A { a } query B { b }", operation_name="B").name == "B"
    assert Requested("query A { a } query B { b }").name is None  # not executable
    assert transport({"x-gql-trust-transport": "Gateway"}) == "http"  # a claim alone
    assert transport({}) == "http"
