"""The request mix of the load-and-fault test, and how each answer is judged.

Every workload names its principal, its body, and the answers it was designed to
give. A response is *designed* when it is one of the trust's documented answers
(200 with data, or 200 with errors whose codes are in ``DESIGNED_CODES``; 401 for a
bad token; 400/413 for the bad bodies); it is *expected* when it is also one that
its own workload may give (vacancies never fail because PostgreSQL is down).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import orjson

AGREEMENT = "DSA-LMDT-001"
DESIGNED_CODES = frozenset(
    {
        "FORBIDDEN",
        "BAD_USER_INPUT",
        "SOURCE_UNAVAILABLE",
        "SOURCE_TIMEOUT",
        "EXTRACTION_BUDGET_EXCEEDED",
        "QUERY_TOO_COSTLY",
    }
)
BUDGET = "EXTRACTION_BUDGET_EXCEEDED"
DOWN = "SOURCE_UNAVAILABLE"
TIMEOUT = "SOURCE_TIMEOUT"

# Token claims of the demo principals (DESIGN.md); "public" sends no token.
PRINCIPALS: dict[str, dict[str, Any]] = {
    "public": {},
    "dwp": {
        "dept": "DWP",
        "roles": ["analyst"],
        "purpose": "labour-market-analysis",
        "agreement": AGREEMENT,
    },
    "hmrc": {"dept": "HMRC", "roles": ["analyst"]},
    "dfe": {"dept": "DfE", "roles": ["analyst"]},
    "la": {"dept": "LA", "roles": ["la-officer"], "area": "E08000025"},
    "auditor": {"dept": "TRUST", "roles": ["auditor"]},
}


@dataclass(frozen=True)
class Workload:
    name: str
    who: str  # a key of PRINCIPALS, or "bad-token"
    body: bytes
    weight: int = 10
    status: int = 200
    codes: frozenset[str] = frozenset()  # error codes this workload may answer with
    claimants: bool = False  # reads the PostgreSQL source
    fresh_connection: bool = False  # sent on a connection of its own, closed after

    @property
    def budgeted(self) -> bool:
        return bool(PRINCIPALS.get(self.who, {}).get("agreement"))

    def allowed(self) -> frozenset[str]:
        allowed = set(self.codes) | {TIMEOUT}  # any part may time out under load
        if self.claimants:
            allowed.add(DOWN)
        if self.budgeted:
            allowed.add(BUDGET)
        return frozenset(allowed)


def _gql(query: str, **extra: Any) -> bytes:
    return json.dumps({"query": query, **extra}).encode()


def _q(
    name: str, who: str, query: str, *, weight: int = 10, claimants: bool = False, **extra: Any
) -> Workload:
    codes = frozenset(extra.pop("codes", ()))
    return Workload(name, who, _gql(query, **extra), weight, codes=codes, claimants=claimants)


SINCE = '{period: {gte: "2025-01"}}'
WORKLOADS: tuple[Workload, ...] = (
    _q(
        "vacancies-by-region",
        "public",
        f"{{ vacancies(where: {SINCE}, geography: REGION) {{ period area {{ code name }} "
        "vacancies } }",
    ),
    _q(
        "vacancies-by-sector",
        "la",
        '{ vacancies(where: {areaCode: {in: ["E08000025", "E08000026"]}}) '
        "{ period area { code } sector { code } vacancies } }",
    ),
    _q(
        "claimants-by-area-period",
        "dwp",
        '{ claimants(where: {areaCode: {in: ["E08000025", "E08000026"]}}) '
        "{ period area { code name } claimants } }",
        claimants=True,
    ),
    _q(
        "claimants-by-region-age",
        "dfe",
        f"{{ claimants(where: {SINCE}, geography: REGION) {{ period area {{ code }} ageBand "
        "claimants } }",
        claimants=True,
    ),
    _q(
        "claimants-perturbed",
        "hmrc",
        "{ claimants(geography: REGION) { period area { code } claimants } }",
        claimants=True,
    ),
    _q(
        "claimants-own-la",
        "la",
        '{ claimants(where: {areaCode: {eq: "E08000025"}}) { period sex claimants } }',
        claimants=True,
    ),
    _q(
        "payroll-by-sector-with-pay",
        "dwp",
        '{ payrolledEmployees(geography: COUNTRY, where: {period: {gte: "2024-07"}}) '
        "{ period sector { code } employees meanMonthlyPay } }",
    ),
    _q(
        "payroll-by-sector",
        "hmrc",
        '{ payrolledEmployees(geography: REGION, where: {period: {gte: "2025-06"}}) '
        "{ period area { code } sector { code } employees meanMonthlyPay } }",
    ),
    _q(
        "payroll-by-region",
        "dfe",
        f"{{ payrolledEmployees(where: {SINCE}, geography: REGION) {{ period area {{ code }} "
        "employees } }",
    ),
    _q(
        "nested-areas",
        "public",
        "{ areas(level: REGION) { code name parent { code } children { code name } "
        'vacancies(where: {period: {eq: "2025-01"}}) { vacancies } } }',
    ),
    _q(
        "nested-area-claimants",
        "dfe",
        '{ area(code: "E12000005") { name children { code } '
        f"claimants(where: {SINCE}) {{ period claimants }} }} }}",
        claimants=True,
    ),
    _q(
        "labour-market",
        "dwp",
        f"{{ labourMarket(geography: REGION, where: {SINCE}) {{ period area {{ code }} "
        "claimants employees vacancies claimantsPerThousandEmployees vacanciesPerClaimant } }",
        claimants=True,
    ),
    _q(
        "labour-market-country",
        "hmrc",
        "{ labourMarket(geography: COUNTRY) { period area { code } claimants vacancies } }",
        claimants=True,
    ),
    _q("catalog", "public", "{ datasets { name owner fields { name kind } } }", weight=4),
    _q(
        "explain",
        "hmrc",
        "{ vacancies(geography: COUNTRY) { period vacancies } }",
        weight=3,
        extensions={"explain": True},
    ),
    _q(
        "audit-log",
        "auditor",
        "{ auditLog(limit: 20) { id timestamp subject outcome cellsReturned prevHash hash } }",
        weight=5,
    ),
    _q(
        "denied-la-geography",
        "dfe",
        "{ claimants { period area { code } claimants } }",
        weight=3,
        codes={"FORBIDDEN"},
    ),
    _q(
        "denied-audit-log", "public", "{ auditLog(limit: 5) { id } }", weight=2, codes={"FORBIDDEN"}
    ),
    _q(
        "bad-period",
        "dwp",
        '{ claimants(where: {period: {gte: "2025-13"}}) { period claimants } }',
        weight=2,
        codes={"BAD_USER_INPUT"},
    ),
    _q(
        "bad-limit",
        "hmrc",
        "{ payrolledEmployees(limit: -1) { period employees } }",
        weight=2,
        codes={"BAD_USER_INPUT"},
    ),
    _q(
        "too-costly",
        "public",
        "{ areas(level: REGION) { code children { code "
        f"vacancies(where: {SINCE}) {{ period sector {{ code }} vacancies }} }} }} }}",
        weight=2,
        codes={"QUERY_TOO_COSTLY"},
    ),
    Workload(
        "bad-token",
        "bad-token",
        _gql("{ vacancies(limit: 5) { vacancies } }"),
        weight=2,
        status=401,
        codes=frozenset({"UNAUTHENTICATED"}),
    ),
    Workload(
        "bad-json", "public", b'{"query": "{ vacancies { vacancies } }"', weight=1, status=400
    ),
    Workload(
        "unknown-operation",
        "hmrc",
        _gql("query A { vacancies { vacancies } }", operationName="B"),
        weight=1,
        codes={"BAD_USER_INPUT"},  # a request error: 200 as application/json, no data
    ),
    Workload(
        "oversized-body",
        "public",
        _gql("{ vacancies { vacancies } }", variables={"pad": "x" * 1_100_000}),
        weight=1,
        status=413,
        codes=frozenset({"PAYLOAD_TOO_LARGE"}),
        fresh_connection=True,  # the server need not read what it refuses
    ),
)
BY_NAME = {w.name: w for w in WORKLOADS}


@dataclass
class Answer:
    """One response, as the test records it."""

    workload: str
    started: float  # seconds since the run started
    latency_ms: float
    status: int | None  # None: no response (timeout or transport error)
    codes: tuple[str, ...] = ()  # extensions.code of each error, "-" for an error without one
    has_data: bool = False  # some non-null data came back
    problem: str | None = None  # why this is not a designed answer, if it is not
    unexpected: str | None = None  # designed, but not an answer this workload should give
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def finished(self) -> float:
        return self.started + self.latency_ms / 1000

    @property
    def label(self) -> str:
        """The outcome as a code: OK, an error code, or the HTTP status."""
        if self.status is None:
            return "NO_RESPONSE"
        if self.status != 200:
            return f"HTTP {self.status}"
        if not self.codes:
            return "OK"
        return "+".join(sorted(set(self.codes)))


def judge(
    workload: Workload, started: float, latency_ms: float, status: int, body: bytes
) -> Answer:
    answer = Answer(workload.name, started, latency_ms, status)
    try:
        parsed = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        parsed = None
    if isinstance(parsed, dict):
        errors = parsed.get("errors") or []
        answer.codes = tuple(
            str(((e or {}).get("extensions") or {}).get("code") or "-") for e in errors
        )
        data = parsed.get("data")
        answer.has_data = isinstance(data, dict) and any(v is not None for v in data.values())
    if status != workload.status:
        answer.problem = f"HTTP {status} where {workload.status} was designed"
    elif status == 200:
        if not isinstance(parsed, dict) or ("data" not in parsed and "errors" not in parsed):
            answer.problem = "a 200 that is not a GraphQL response"
        elif not answer.codes and not answer.has_data:
            answer.problem = "a 200 with neither data nor errors"
        elif set(answer.codes) - DESIGNED_CODES:
            answer.problem = f"error codes {sorted(set(answer.codes) - DESIGNED_CODES)}"
        elif set(answer.codes) - workload.allowed():
            answer.unexpected = f"codes {sorted(set(answer.codes) - workload.allowed())}"
        elif workload.codes and not set(answer.codes) & workload.codes:
            answer.unexpected = f"no {sorted(workload.codes)} error"
    elif workload.codes and not set(answer.codes) & workload.codes:
        answer.problem = f"HTTP {status} without {sorted(workload.codes)}"
    if answer.problem or answer.unexpected:
        answer.detail = {"body": body[:400].decode("utf-8", "replace")}
    return answer


def no_response(workload: Workload, started: float, latency_ms: float, why: str) -> Answer:
    return Answer(workload.name, started, latency_ms, None, problem=why)
