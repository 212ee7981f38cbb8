"""Bad input: every hostile request gets a clear refusal (or a correct answer), never a 5xx.

Every request goes through ``attack``, which sends it the way a real server would see
it (an exception escaping the app becomes a 500, not a test crash) and checks the
ledger recorded it as exactly one entry that released no cells and stored no raw line
break. ``assert_refused`` then checks the answer: not 5xx, a message that says what is
wrong (never the masked "Unexpected error."), no leak (stack trace, SQL, table or file
names, DSNs), no data, and the server still serving with its ledger verifying.

Operation limits themselves are tested in test_limits.py; these are the hostile shapes.
"""

from __future__ import annotations

import asyncio
import base64
import json
import sys
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
import pytest

from gql_trust.config import LimitsConfig
from gql_trust.ledger import AuditQuery, Entry, Outcome
from tests.conftest import TrustUnderTest

LIMITS = LimitsConfig()
MASKED = "Unexpected error."
# Never in an answer, unless the caller sent it: internals of the trust and its sources.
LEAKS = (
    "Traceback",
    'File "',
    "SELECT ",
    " FROM ",
    "uc_claimants",
    "paye_rti",
    ".parquet",
    ".csv",
    ".duckdb",
    ".sqlite",
    "postgresql://",
    "asyncpg",
    "duckdb",
    "sqlglot",
    "Exception",
)
LINE_BREAKS = ("\n", "\r", "\u2028", "\u2029", "\x85")
JSON = {"Content-Type": "application/json"}


# -- helpers -------------------------------------------------------------------------


@dataclass
class Answer:
    response: httpx.Response
    entry: Entry  # the one ledger entry the request appended

    @property
    def body(self) -> Any:
        return self.response.json() if _is_json(self.response) else None


async def attack(
    trust: TrustUnderTest,
    method: str = "POST",
    *,
    who: str = "dwp",
    headers: dict[str, str] | None = None,
    **request: Any,
) -> Answer:
    """Send one request to /graphql and check the ledger entry it appended."""
    before = await _newest_entry(trust)
    transport = httpx.ASGITransport(app=trust.app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        response = await client.request(
            method, "/graphql", headers={**trust.headers(who), **(headers or {})}, **request
        )
    entry = await _newest_entry(trust)
    first = (before.id if before else 0) + 1
    assert entry is not None and entry.id == first, f"not one ledger entry: {first}, {entry}"
    assert entry.cells_returned == 0, (
        f"released {entry.cells_returned} cells: {response.text[:300]}"
    )
    for name in ("operation_name", "sub", "dept", "purpose", "agreement", "request_id"):
        stored = getattr(entry, name) or ""
        assert not any(b in stored for b in LINE_BREAKS), f"raw line break in {name}: {stored!r}"
    return Answer(response, entry)


async def _newest_entry(trust: TrustUnderTest) -> Entry | None:
    entries = await trust.app.state.ledger.entries(AuditQuery(limit=1))
    return entries[0] if entries else None


def _is_json(response: httpx.Response) -> bool:
    return response.headers.get("content-type", "").startswith("application/json")


def messages_and_codes(response: httpx.Response) -> tuple[list[str], list[str | None]]:
    if not _is_json(response):
        return [response.text], [None]
    body = response.json()
    errors = [e for b in (body if isinstance(body, list) else [body]) for e in b.get("errors", [])]
    return [e["message"] for e in errors], [e.get("extensions", {}).get("code") for e in errors]


def assert_no_leak(trust: TrustUnderTest, text: str, echo: Iterable[str] = ()) -> None:
    """``echo``: what the caller sent, which an error may quote back."""
    for value in echo:
        for form in (json.dumps(value)[1:-1], json.dumps(value, ensure_ascii=False)[1:-1], value):
            text = text.replace(form, "")
    secrets = [*LEAKS, str(trust.directory), *([trust.pg_dsn] if trust.pg_dsn else [])]
    leaked = [s for s in secrets if s in text]
    assert not leaked, f"the answer leaks {leaked}: {text[:1000]}"


async def assert_intact(trust: TrustUnderTest) -> None:
    """The server still serves, and its ledger still verifies."""
    assert len((await trust.data("{ sectors { code } }"))["sectors"]) == 21
    verification = await trust.app.state.ledger.verify()
    assert verification.ok, verification.summary("the ledger")


async def assert_refused(
    trust: TrustUnderTest,
    answer: Answer,
    says: str | tuple[str, ...],
    *,
    code: str | None = None,
    status: int | None = None,
    echo: Iterable[str] = (),
) -> None:
    """A clear refusal: ``says`` (or one of them) is in a message, ignoring case; no data
    released; nothing leaked; and the server still serving with its ledger whole."""
    response = answer.response
    assert response.status_code < 500, f"{response.status_code}: {response.text[:500]}"
    if status is not None:
        assert response.status_code == status, f"{response.status_code}: {response.text[:500]}"
    assert_no_leak(trust, response.text, echo)
    messages, codes = messages_and_codes(response)
    assert messages, f"refused without a message: {response.text[:500]}"
    assert MASKED not in messages, f"masked, not saying what is wrong: {response.text[:500]}"
    phrases = (says,) if isinstance(says, str) else says
    assert any(p.lower() in m.lower() for p in phrases for m in messages), messages
    if code is not None:
        assert code in codes, response.text[:500]
    body = answer.body
    for part in body if isinstance(body, list) else [body] if body else []:
        data = part.get("data")
        assert not data or all(v is None for v in data.values()), f"data released: {data}"
    assert answer.entry.outcome in (Outcome.INVALID, Outcome.UNAUTHENTICATED), answer.entry
    await assert_intact(trust)


def nest(template: str, inner: str, depth: int) -> str:
    """``template`` with ``%`` replaced by itself ``depth`` times, then by ``inner``."""
    before, _, after = template.partition("%")
    return before * depth + inner + after * depth


def query(text: str, **variables: Any) -> dict[str, Any]:
    return {"json": {"query": text, "variables": variables}}


def raw_json(text: str) -> dict[str, Any]:
    """A body sent as given: JSON extensions (NaN) and shapes ``json=`` cannot encode."""
    return {"content": text.encode(), "headers": JSON}


# -- query shape ---------------------------------------------------------------------

AREA = '"E08000025"'
WHERE_VARIABLE = "query($w: ClaimantsWhere) { claimants(where: $w) { claimants } }"


def deep_where(depth: int) -> str:
    return f"{{ claimants(where: {nest('{not: %}', '{}', depth)}) {{ claimants }} }}"


def deep_where_variable(depth: int) -> dict[str, Any]:
    where = nest('{"not": %}', "{}", depth)  # as text: json.dumps would recurse too deep
    return raw_json(f'{{"query": "{WHERE_VARIABLE}", "variables": {{"w": {where}}}}}')


DEEP = {
    "selection 60 deep": (
        query(f"{{ area(code: {AREA}) {{ {nest('parent { % }', 'code', 60)} }} }}"),
        "exceeds maximum operation depth",
    ),
    "selection 5,000 deep": (
        query(f"{{ area(code: {AREA}) {{ {nest('parent { % }', 'code', 5_000)} }} }}"),
        "nested too deeply",
    ),
    "where 40 deep": (query(deep_where(40)), "nested too deeply"),
    "where 5,000 deep": (query(deep_where(5_000)), "nested too deeply"),
    "where 900 deep in variables": (deep_where_variable(900), "nested deeper than"),
    # Too deep even to decode as JSON: refused as a body, before GraphQL sees it.
    "where 10,000 deep in variables": (deep_where_variable(10_000), ("nested", "JSON")),
}


@pytest.mark.parametrize("case", DEEP)
async def test_deep_nesting(duckdb_trust: TrustUnderTest, case: str) -> None:
    request, says = DEEP[case]
    await assert_refused(duckdb_trust, await attack(duckdb_trust, **request), says)


CIRCULAR = {
    "self": "fragment A on Area { ...A }",
    "self through a field": "fragment A on Area { parent { ...A } }",
    "three fragments": (
        "fragment A on Area { parent { ...B } } fragment B on Area { children { ...C } } "
        "fragment C on Area { code ...A }"
    ),
}


@pytest.mark.parametrize("case", CIRCULAR)
async def test_circular_fragments(duckdb_trust: TrustUnderTest, case: str) -> None:
    text = f"{{ area(code: {AREA}) {{ ...A }} }} {CIRCULAR[case]}"
    answer = await attack(duckdb_trust, **query(text))
    await assert_refused(duckdb_trust, answer, "Cannot spread fragment 'A' within itself")


async def test_a_thousand_aliases(duckdb_trust: TrustUnderTest) -> None:
    aliases = " ".join(f"a{i}: code" for i in range(1_000))
    answer = await attack(duckdb_trust, **query(f"{{ area(code: {AREA}) {{ {aliases} }} }}"))
    await assert_refused(duckdb_trust, answer, ("aliases found", "tokens"))


async def test_ten_thousand_repeated_fields(duckdb_trust: TrustUnderTest) -> None:
    answer = await attack(duckdb_trust, **query("{ sectors { " + "code " * 10_000 + "} }"))
    await assert_refused(duckdb_trust, answer, f"more than {LIMITS.max_tokens} tokens")


async def test_ten_thousand_directives(duckdb_trust: TrustUnderTest) -> None:
    directives = "@include(if: true) " * 10_000
    answer = await attack(duckdb_trust, **query(f"{{ sectors {{ code {directives} }} }}"))
    await assert_refused(duckdb_trust, answer, ("directives", "tokens"))


async def test_fifty_dataset_fields_aliased(duckdb_trust: TrustUnderTest) -> None:
    fields = (
        "claimants { claimants }",
        "payrolledEmployees { employees }",
        "vacancies { vacancies }",
    )
    roots = " ".join(f"d{i}: {fields[i % 3]}" for i in range(50))
    answer = await attack(duckdb_trust, **query(f"{{ {roots} }}"))
    await assert_refused(duckdb_trust, answer, "aliases found")


# -- the HTTP envelope ---------------------------------------------------------------


async def _ten_megabytes() -> AsyncIterator[bytes]:
    yield b'{"query": "{ sectors { code } }", "padding": "'
    for _ in range(10):
        yield b"x" * 1_000_000
    yield b'"}'


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
async def test_ten_megabyte_body(duckdb_trust: TrustUnderTest, declared: bool) -> None:
    if declared:
        body: Any = b'{"query": "{ sectors { code } }", "padding": "' + b"x" * 10_000_000 + b'"}'
    else:
        body = _ten_megabytes()  # no Content-Length: the limit must hold on what arrives
    answer = await attack(duckdb_trust, content=body, headers=JSON)
    await assert_refused(
        duckdb_trust, answer, "request body is larger", code="PAYLOAD_TOO_LARGE", status=413
    )


NESTED_LIST = nest("[%]", "", 10_000)


@pytest.mark.parametrize("where", ["literal", "variables"])
async def test_list_nested_ten_thousand_deep_as_argument(
    duckdb_trust: TrustUnderTest, where: str
) -> None:
    if where == "literal":
        request = query(f"{{ claimants(where: {{sex: {{in: {NESTED_LIST}}}}}) {{ claimants }} }}")
    else:
        request = raw_json(
            '{"query": "query($v: [String!]) { claimants(where: {sex: {in: $v}}) '
            f'{{ claimants }} }}", "variables": {{"v": {NESTED_LIST}}}}}'
        )
    says = "nested too deeply" if where == "literal" else ("nested", "JSON")
    await assert_refused(duckdb_trust, await attack(duckdb_trust, **request), says)


async def test_a_hundred_batched_operations(duckdb_trust: TrustUnderTest) -> None:
    answer = await attack(duckdb_trust, json=[{"query": "{ vacancies { vacancies } }"}] * 100)
    await assert_refused(duckdb_trust, answer, "batching is not enabled", status=400)
    assert not answer.entry.datasets


MALFORMED_BODIES = {
    "a string": '"{ sectors { code } }"',
    "a number": "5",
    "null": "null",
    "true": "true",
    "cut short": '{"query": "{ sectors',
    "empty": "",
    "query is a number": '{"query": 1}',
    "variables is a string": '{"query": "{ sectors { code } }", "variables": "x"}',
    "extensions is a list": '{"query": "{ sectors { code } }", "extensions": [1]}',
}


@pytest.mark.parametrize("case", MALFORMED_BODIES)
async def test_malformed_request_bodies(duckdb_trust: TrustUnderTest, case: str) -> None:
    answer = await attack(duckdb_trust, **raw_json(MALFORMED_BODIES[case]))
    await assert_refused(duckdb_trust, answer, "", status=400)


async def test_body_that_is_not_utf8(duckdb_trust: TrustUnderTest) -> None:
    answer = await attack(
        duckdb_trust, content=b'\xff\xfe{"query": "{ sectors { code } }"}', headers=JSON
    )
    await assert_refused(duckdb_trust, answer, "", status=400)


OPERATION_NAMES = {
    "names no operation": ("query A { vacancies { vacancies } }", "B"),
    "names an operation of an anonymous document": ("{ vacancies { vacancies } }", "A"),
    "two operations and no name": (
        "query A { vacancies { vacancies } } query B { vacancies { period vacancies } }",
        None,
    ),
}


@pytest.mark.parametrize("case", OPERATION_NAMES)
async def test_mismatched_operation_name(duckdb_trust: TrustUnderTest, case: str) -> None:
    document, name = OPERATION_NAMES[case]
    answer = await attack(duckdb_trust, json={"query": document, "operationName": name})
    await assert_refused(duckdb_trust, answer, "operation name")
    assert not answer.entry.datasets


HOSTILE_NAMES = {
    "CRLF": "A\r\nB",
    "a forged ledger line": 'x"}\n{"id": 1, "outcome": "OK", "sub": "nobody"}\r\n',
    "Unicode line separators": "A\u2028B\u2029C\x85D",
    "1 MiB": "A" * 1_048_576,
    "900 kB (inside the body limit)": "A" * 900_000,
}


@pytest.mark.parametrize("case", HOSTILE_NAMES)
async def test_hostile_operation_names(duckdb_trust: TrustUnderTest, case: str) -> None:
    name = HOSTILE_NAMES[case]
    body = {"query": "query A { vacancies { vacancies } }", "operationName": name}
    answer = await attack(duckdb_trust, json=body)
    if answer.response.status_code == 413:
        await assert_refused(duckdb_trust, answer, "larger than", code="PAYLOAD_TOO_LARGE")
    else:
        await assert_refused(duckdb_trust, answer, "operation name", echo=[name])
    stored = answer.entry.operation_name or ""
    assert len(stored) <= 6 * 200, "the stored operation name is not bounded"
    # `gql-trust audit verify` (another process, while the server runs) agrees.
    config = duckdb_trust.directory / "gql-trust.toml"
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "gql_trust.cli", "audit", "verify", "--config", str(config)),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode == 0, (out + err).decode()
    assert "ledger intact" in out.decode()


CSRF = {
    "text/plain": "text/plain",
    "text/plain; charset=UTF-8": "text/plain; charset=UTF-8",
    "form-encoded": "application/x-www-form-urlencoded",
    "multipart": "multipart/form-data; boundary=x",
}


@pytest.mark.parametrize("content_type", CSRF.values(), ids=CSRF.keys())
async def test_cross_site_form_posts_do_not_execute(
    duckdb_trust: TrustUnderTest, content_type: str
) -> None:
    """What an HTML form on another site can send without a CORS preflight."""
    body = json.dumps({"query": "{ vacancies { vacancies } }"})
    if content_type.startswith("application/x-www"):
        body = "query=" + "%7B%20vacancies%20%7B%20vacancies%20%7D%20%7D"
    elif content_type.startswith("multipart"):
        body = f'--x\r\nContent-Disposition: form-data; name="query"\r\n\r\n{body}\r\n--x--\r\n'
    answer = await attack(duckdb_trust, content=body, headers={"Content-Type": content_type})
    assert 400 <= answer.response.status_code < 500
    await assert_refused(duckdb_trust, answer, "content type")
    assert not answer.entry.datasets and not answer.entry.fields_read  # nothing executed


@pytest.mark.parametrize("document", ["{ vacancies { vacancies } }", "mutation { vacancies }"])
@pytest.mark.parametrize("accept", ["*/*", "application/json", "application/graphql-response+json"])
async def test_queries_by_get_are_refused(
    duckdb_trust: TrustUnderTest, document: str, accept: str
) -> None:
    answer = await attack(
        duckdb_trust, "GET", params={"query": document}, headers={"Accept": accept}
    )
    assert 400 <= answer.response.status_code < 500
    await assert_refused(duckdb_trust, answer, "not allowed when using GET")
    assert "vacancies" not in answer.response.text
    assert not answer.entry.datasets


def _oversized_token(trust: TrustUnderTest) -> str:
    """A real token's header and signature around 100 kB of claims: wrongly signed."""
    header, _, signature = trust.headers("dwp")["Authorization"].split()[1].split(".")
    claims = {"sub": "mallory", "dept": "DWP", "roles": ["analyst"], "pad": "x" * 100_000}
    payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{payload}.{signature}"


AUTHORIZATION = {
    "100 kB of garbage": (lambda t: "Bearer " + "A" * 100_000, "token is malformed"),
    "100 kB well-formed JWT": (lambda t: "Bearer " + _oversized_token(t), "token"),
    "Basic": (lambda t: "Basic " + base64.b64encode(b"dwp:analyst").decode(), "Bearer <token>"),
    "Bearer and nothing": (lambda t: "Bearer ", "Bearer <token>"),
}


@pytest.mark.parametrize("case", AUTHORIZATION)
async def test_bad_authorization_headers(duckdb_trust: TrustUnderTest, case: str) -> None:
    header, says = AUTHORIZATION[case]
    answer = await attack(
        duckdb_trust,
        who="public",
        headers={"Authorization": header(duckdb_trust)},
        **query("{ vacancies { vacancies } }"),
    )
    await assert_refused(duckdb_trust, answer, says, code="UNAUTHENTICATED", status=401)
    assert answer.response.headers["www-authenticate"].startswith("Bearer")
    assert answer.entry.outcome is Outcome.UNAUTHENTICATED and answer.entry.sub is None


# -- argument values -----------------------------------------------------------------

INJECTIONS = [
    "' OR 1=1 --",
    "'; DROP TABLE x; --",
    "\\'; DROP TABLE x; --",
    "F\x00' OR 1=1 --",
    "\u2019 OR \u20181\u2019=\u20181",
    "\uff07 OR 1=1 --",
    "$1",
    '"; SELECT 1; --',
]
# A filter -> the selection that returns the value it filters on.
DIMENSIONS = {
    "period": "period",
    "areaCode": "area { code }",
    "sectorCode": "sector { code }",
    "ageBand": "ageBand",
    "sex": "sex",
    "conditionality": "conditionality",
    "code": "code",
    "parentCode": "parent { code }",
}
# Each root field with a `where` -> its string filters, and a measure to select.
STRING_FILTERS = {
    "claimants": (("period", "areaCode", "ageBand", "sex", "conditionality"), "claimants"),
    "payrolledEmployees": (("period", "areaCode", "sectorCode", "ageBand", "sex"), "employees"),
    "vacancies": (("period", "areaCode", "sectorCode"), "vacancies"),
    "labourMarket": (("period", "areaCode"), "vacancies"),
    "areas": (("code", "parentCode"), ""),
}
FROM_CLAIMANTS = ("claimants", "labourMarket")  # run against DuckDB and PostgreSQL
TARGETS = [
    pytest.param(backend, dataset, name, id=f"{backend}-{dataset}.{name}")
    for dataset, (names, _) in STRING_FILTERS.items()
    for name in names
    for backend in (("duckdb", "postgres") if dataset in FROM_CLAIMANTS else ("duckdb",))
]
OPERATORS = {"eq": "String", "in": "[String!]", "gt": "String"}


def _value(row: dict[str, Any], selection: str) -> Any:
    for name in selection.replace("{", " ").replace("}", " ").split():
        row = row[name] if row is not None else None
    return row


def _injection_query(dataset: str, name: str, values: dict[str, Any] | None = None) -> str:
    """One root field per operator, each under its own alias (so its own error path); the
    values as variables, or as literals when given."""
    measure = STRING_FILTERS[dataset][1]
    limit = ", limit: 100000" if measure else ""
    fields = " ".join(
        f"{op}: {dataset}(where: {{{name}: {{{op}: {_literal(values, op)}}}}}{limit}) "
        f"{{ {DIMENSIONS[name]} {measure} }}"
        for op in OPERATORS
    )
    if values is not None:
        return f"{{ {fields} }}"
    variables = ", ".join(f"${op}: {kind}" for op, kind in OPERATORS.items())
    return f"query Injection({variables}) {{ {fields} }}"


def _literal(values: dict[str, Any] | None, op: str) -> str:
    # JSON's escapes (\\, \", \u0000, \u2019) are GraphQL's too.
    return f"${op}" if values is None else json.dumps(values[op], ensure_ascii=True)


def _unfiltered_query(dataset: str, name: str) -> str:
    measure = STRING_FILTERS[dataset][1]
    return (
        f"{{ {dataset}{'(limit: 100000)' if measure else ''} {{ {DIMENSIONS[name]} {measure} }} }}"
    )


async def data_snapshot(trust: TrustUnderTest) -> dict[str, Any]:
    """Counts from every source, through the server and around it."""
    snapshot: dict[str, Any] = await trust.data(
        "{ claimants(geography: COUNTRY) { claimants } "
        "payrolledEmployees(geography: COUNTRY) { employees } "
        "vacancies(geography: COUNTRY) { vacancies } areas { code } sectors { code } }"
    )
    snapshot["files"] = {
        str(p): (p.stat().st_size, p.stat().st_mtime_ns)
        for folder in ("dwp", "hmrc", "ons", "reference")
        for p in sorted((trust.directory / folder).rglob("*"))
        if p.is_file()
    }
    if trust.pg_dsn:
        connection = await asyncpg.connect(trust.pg_dsn)
        try:
            snapshot["rows"] = await connection.fetchval("SELECT count(*) FROM dwp.uc_claimants")
            snapshot["tables"] = await connection.fetch(
                "SELECT table_schema, table_name FROM information_schema.tables "
                "WHERE table_schema NOT IN ('pg_catalog', 'information_schema') ORDER BY 1, 2"
            )
        finally:
            await connection.close()
    return snapshot


async def test_injection_covers_every_string_filter(duckdb_trust: TrustUnderTest) -> None:
    """STRING_FILTERS is the schema's: a new string filter must be added to it."""
    roots = await duckdb_trust.data(
        "{ __schema { queryType { fields { name args { name type { name } } } } } }"
    )
    found = {}
    for field in roots["__schema"]["queryType"]["fields"]:
        where = next((a["type"]["name"] for a in field["args"] if a["name"] == "where"), None)
        if where:
            inputs = await duckdb_trust.data(
                f'{{ __type(name: "{where}") {{ inputFields {{ name type {{ name }} }} }} }}'
            )
            fields = inputs["__type"]["inputFields"]
            strings = {f["name"] for f in fields if f["type"]["name"] == "StringFilter"}
            if strings:  # (auditLog has a `where` of its own: not a dataset)
                found[field["name"]] = strings
    assert found == {dataset: set(names) for dataset, (names, _) in STRING_FILTERS.items()}


@pytest.fixture
def backend_trust(request: pytest.FixtureRequest, backend: str) -> TrustUnderTest:
    trust: TrustUnderTest = request.getfixturevalue(f"{backend}_trust")
    return trust


@pytest.mark.parametrize(("backend", "dataset", "name"), TARGETS)
async def test_sql_injection_in_string_filters(
    backend_trust: TrustUnderTest, dataset: str, name: str
) -> None:
    """Each payload, as a literal and as a variable, with eq, in and gt: a BAD_USER_INPUT
    naming the value, or the correct answer; never a SQL error; the data unchanged."""
    trust = backend_trust
    before = await data_snapshot(trust)
    selection = DIMENSIONS[name]
    everything = (await trust.data(_unfiltered_query(dataset, name)))[dataset]
    for payload in INJECTIONS:
        values = {op: [payload] if op == "in" else payload for op in OPERATORS}
        for sent in (
            {"query": _injection_query(dataset, name), "variables": values},
            {"query": _injection_query(dataset, name, values)},
        ):
            answer = await attack(trust, json=sent)
            assert answer.response.status_code == 200, answer.response.text[:500]
            assert_no_leak(trust, answer.response.text, echo=[payload])
            body = answer.body
            assert body.get("data") is not None, body
            errors = {e.get("path", ["?"])[0]: e for e in body.get("errors", [])}
            for op in OPERATORS:
                rows = body["data"][op]
                if op in errors:
                    assert errors[op]["extensions"]["code"] == "BAD_USER_INPUT", errors[op]
                    assert payload in errors[op]["message"], errors[op]
                    assert rows is None
                elif op == "gt":  # exactly the rows whose value sorts after the payload
                    after = [r for r in everything if (_value(r, selection) or "") > payload]
                    assert rows == after, (payload, op, rows)
                else:  # no such value
                    assert rows == [], (payload, op, rows)
            assert set(errors) <= set(OPERATORS), body["errors"]
    assert await data_snapshot(trust) == before, "the data changed"
    await assert_intact(trust)


ORDER_BY = {
    "an unknown field": (
        query("{ claimants(orderBy: [{month: ASC}]) { period claimants } }"),
        "unknown field",
    ),
    "an SQL fragment as a field (literal)": (
        query("{ claimants(orderBy: [{period__DROP_TABLE_x: ASC}]) { period claimants } }"),
        "unknown field",
    ),
    "an SQL fragment as a field (variables)": (
        query(
            "query($o: [ClaimantsOrderBy!]) { claimants(orderBy: $o) { period claimants } }",
            o=[{"period; DROP TABLE x; --": "ASC"}],
        ),
        "unknown field",
    ),
    "an SQL fragment as a direction (variables)": (
        query(
            "query($o: [ClaimantsOrderBy!]) { claimants(orderBy: $o) { period claimants } }",
            o=[{"period": "ASC; DROP TABLE x"}],
        ),
        "SortDirection",
    ),
    "a field not selected": (
        query("{ claimants(orderBy: [{sex: ASC}]) { period claimants } }"),
        "does not select",
    ),
    "two fields in one key": (
        query("{ claimants(orderBy: [{period: ASC, sex: DESC}]) { period sex claimants } }"),
        "exactly one field",
    ),
}


@pytest.mark.parametrize("case", ORDER_BY)
async def test_identifiers_in_order_by(duckdb_trust: TrustUnderTest, case: str) -> None:
    request, says = ORDER_BY[case]
    answer = await attack(duckdb_trust, **request)
    await assert_refused(duckdb_trust, answer, says, echo=["period; DROP TABLE x; --"])


IN_LISTS = {
    "claimants.sex": ("claimants", "sex", "F", "claimants"),
    "payrolledEmployees.sectorCode": ("payrolledEmployees", "sectorCode", "A", "employees"),
    "vacancies.sectorCode": ("vacancies", "sectorCode", "A", "vacancies"),
}


@pytest.mark.parametrize("operator", ["in", "notIn"])
@pytest.mark.parametrize("case", IN_LISTS)
async def test_in_list_of_a_hundred_thousand_values(
    duckdb_trust: TrustUnderTest, case: str, operator: str
) -> None:
    dataset, name, value, measure = IN_LISTS[case]
    where = f"{{{name}: {{{operator}: $v}}}}"
    text = f"query($v: [String!]) {{ {dataset}(where: {where}) {{ {measure} }} }}"
    answer = await attack(duckdb_trust, **query(text, v=[value] * 100_000))
    await assert_refused(
        duckdb_trust, answer, f"at most {LIMITS.max_in_values:,}", code="BAD_USER_INPUT"
    )


LIMIT = "query($l: Int) { claimants(limit: $l) { claimants } }"
LIMITS_GIVEN = {
    "-1": (query("{ claimants(limit: -1) { claimants } }"), "between 0 and"),
    "-1 in variables": (query(LIMIT, l=-1), "between 0 and"),
    "2^31": (query("{ claimants(limit: 2147483648) { claimants } }"), "32-bit"),
    "2^31 in variables": (query(LIMIT, l=2**31), "32-bit"),
    "2^31 - 1": (query("{ claimants(limit: 2147483647) { claimants } }"), "between 0 and"),
}


@pytest.mark.parametrize("case", LIMITS_GIVEN)
async def test_limit_out_of_range(duckdb_trust: TrustUnderTest, case: str) -> None:
    request, says = LIMITS_GIVEN[case]
    await assert_refused(duckdb_trust, await attack(duckdb_trust, **request), says)


async def test_limit_zero_returns_no_rows(trust: TrustUnderTest) -> None:
    answer = await attack(trust, **query("{ claimants(limit: 0) { period claimants } }"))
    assert answer.body["data"] == {"claimants": []} and "errors" not in answer.body
    assert answer.entry.outcome is Outcome.OK


SEX_EQ = "query($v: String) { claimants(where: {sex: {eq: $v}}) { claimants } }"
FLOATS = {
    "NaN for an Int": (query("{ claimants(limit: NaN) { claimants } }"), "Int cannot represent"),
    "1e400 for an Int": (
        query("{ claimants(limit: 1e400) { claimants } }"),
        "Int cannot represent",
    ),
    "1.5e308 for a String": (
        query("{ claimants(where: {sex: {eq: 1.5e308}}) { claimants } }"),
        "String cannot represent",
    ),
    # NaN and 1e400 are not JSON (RFC 8259): refused as a body, before GraphQL sees them.
    "NaN for an Int variable": (
        raw_json(json.dumps({"query": LIMIT, "variables": {"l": float("nan")}})),
        "Unable to parse request body as JSON",
    ),
    "1e400 for an Int variable": (
        raw_json(f'{{"query": "{LIMIT}", "variables": {{"l": 1e400}}}}'),
        "Unable to parse request body as JSON",
    ),
    "NaN for a String variable": (
        raw_json(json.dumps({"query": SEX_EQ, "variables": {"v": float("nan")}})),
        "Unable to parse request body as JSON",
    ),
}


@pytest.mark.parametrize("case", FLOATS)
async def test_nan_and_huge_floats(duckdb_trust: TrustUnderTest, case: str) -> None:
    request, says = FLOATS[case]
    await assert_refused(duckdb_trust, await attack(duckdb_trust, **request), says)


PERIOD_EQ = "query($v: String) { claimants(where: {period: {eq: $v}}) { period claimants } }"
PERIODS = [
    "2024-13",
    "2024-1",
    "24-01",
    "2024-01-01",
    "",
    "2024-00",
    "0000-01",
    "2025-01\n",
    "\uff12\uff10\uff12\uff15-\uff10\uff11",  # full-width digits
]


@pytest.mark.parametrize("period", PERIODS, ids=repr)
async def test_malformed_periods(duckdb_trust: TrustUnderTest, period: str) -> None:
    answer = await attack(duckdb_trust, **query(PERIOD_EQ, v=period))
    await assert_refused(
        duckdb_trust, answer, "is not a period", code="BAD_USER_INPUT", echo=[period]
    )


AREA_FILTERS = {
    "unknown code": ("LOCAL_AUTHORITY", {"eq": "E99999999"}),
    "unknown code in a list": ("LOCAL_AUTHORITY", {"in": ["E08000025", "E99999999"]}),
    "a region at LOCAL_AUTHORITY": ("LOCAL_AUTHORITY", {"eq": "E12000002"}),
    "a local authority at REGION": ("REGION", {"eq": "E08000025"}),
    "lower case": ("LOCAL_AUTHORITY", {"eq": "e08000025"}),
    "padded": ("LOCAL_AUTHORITY", {"gt": " E08000025"}),
}


@pytest.mark.parametrize("case", AREA_FILTERS)
async def test_unknown_area_codes_in_filters(duckdb_trust: TrustUnderTest, case: str) -> None:
    geography, condition = AREA_FILTERS[case]
    text = (
        "query($c: StringFilter, $g: Geography!) "
        "{ claimants(where: {areaCode: $c}, geography: $g) { claimants } }"
    )
    answer = await attack(duckdb_trust, **query(text, c=condition, g=geography))
    await assert_refused(duckdb_trust, answer, "unknown area code", code="BAD_USER_INPUT")


async def test_unknown_area_code_lookups_find_nothing(duckdb_trust: TrustUnderTest) -> None:
    text = '{ area(code: "E99999999") { code } areas(where: {code: {eq: "E99999999"}}) { code } }'
    answer = await attack(duckdb_trust, **query(text))
    assert answer.body["data"] == {"area": None, "areas": []} and "errors" not in answer.body
    await assert_intact(duckdb_trust)
