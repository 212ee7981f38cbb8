"""The load test's judge: it must flag every answer that is not a designed one."""

from __future__ import annotations

import json

from bench.reliability_mix import BY_NAME, judge


def body(**parts: object) -> bytes:
    return json.dumps(parts).encode()


def error(code: str | None) -> dict[str, object]:
    return {"message": "m", "extensions": {"code": code} if code else {}}


def test_designed_answers_pass() -> None:
    claimants, vacancies = BY_NAME["claimants-perturbed"], BY_NAME["vacancies-by-region"]
    ok = judge(vacancies, 0, 1, 200, body(data={"vacancies": [{"vacancies": 1}]}))
    down = judge(
        claimants, 0, 1, 200, body(data={"claimants": None}, errors=[error("SOURCE_UNAVAILABLE")])
    )
    refused = judge(BY_NAME["bad-token"], 0, 1, 401, body(errors=[error("UNAUTHENTICATED")]))
    too_large = judge(
        BY_NAME["oversized-body"], 0, 1, 413, body(errors=[error("PAYLOAD_TOO_LARGE")])
    )
    for answer in (ok, down, refused, too_large):
        assert answer.problem is None and answer.unexpected is None, answer
    assert down.label == "SOURCE_UNAVAILABLE" and ok.label == "OK"


def test_undesigned_answers_are_flagged() -> None:
    vacancies = BY_NAME["vacancies-by-region"]
    cases = [
        judge(vacancies, 0, 1, 500, b"Internal Server Error"),
        judge(vacancies, 0, 1, 503, body(errors=[error("LEDGER_UNAVAILABLE")])),
        judge(vacancies, 0, 1, 200, body(data=None, errors=[error(None)])),  # masked
        judge(vacancies, 0, 1, 200, body(data={"vacancies": None}, errors=[error("INTERNAL")])),
        judge(vacancies, 0, 1, 200, b"not json"),
        judge(vacancies, 0, 1, 200, body(data={"vacancies": None})),  # neither data nor errors
        judge(BY_NAME["bad-token"], 0, 1, 200, body(data={"vacancies": []})),  # served publicly
    ]
    for answer in cases:
        assert answer.problem is not None, answer


def test_answers_another_workload_may_give_are_unexpected_here() -> None:
    # vacancies do not read PostgreSQL; a refusal must refuse.
    down = judge(
        BY_NAME["vacancies-by-region"],
        0,
        1,
        200,
        body(data={"vacancies": None}, errors=[error("SOURCE_UNAVAILABLE")]),
    )
    served = judge(BY_NAME["denied-la-geography"], 0, 1, 200, body(data={"claimants": [{}]}))
    budget = judge(
        BY_NAME["claimants-perturbed"],  # HMRC has no agreement: never budgeted
        0,
        1,
        200,
        body(data=None, errors=[error("EXTRACTION_BUDGET_EXCEEDED")]),
    )
    for answer in (down, served, budget):
        assert answer.problem is None and answer.unexpected is not None, answer
