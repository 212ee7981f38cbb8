"""The compiled list path gives exactly the result normal Strawberry execution gives."""

from __future__ import annotations

import json
from operator import attrgetter
from typing import Any

import pytest
import strawberry

from gql_trust.graphql import build_schema
from gql_trust.graphql.context import RequestContext
from tests.conftest import PRINCIPALS, TrustUnderTest

QUERIES = [
    '{ claimants(where: {period: {eq: "2025-06"}}) { period area { code name } sex claimants } }',
    "{ c: claimants(geography: REGION) { __typename n: claimants a: area { __typename c: code "
    "level } area { name } period } }",
    "query Q($skip: Boolean!) { payrolledEmployees(geography: COUNTRY) { sector { code } "
    "employees @skip(if: $skip) meanMonthlyPay ...F } } "
    "fragment F on PayrolledEmployeesCell { ageBand ... on PayrolledEmployeesCell { sex } }",
    '{ payrolledEmployees(where: {areaCode: {eq: "E09000001"}, period: {eq: "2026-03"}}) '
    "{ sector { code } ageBand sex employees meanMonthlyPay } }",
    "{ vacancies(limit: 50, orderBy: [{vacancies: DESC}]) { period vacancies vacancies "
    "area { code } area { code name } } }",
    "{ areas(level: REGION) { code name level claimants(limit: 3) { period claimants } "
    "vacancies(limit: 2) { sector { code name } vacancies } } }",
    "{ claimants(geography: COUNTRY, limit: 2) { area { code parent { code } children { code } } "
    "claimants } }",
    "{ labourMarket(geography: REGION) { period area { code } claimants employees vacancies "
    "claimantsPerThousandEmployees vacanciesPerClaimant } }",
    "{ sectors { code name payrolledEmployees(geography: COUNTRY) { area { code } employees } } }",
    "{ claimants { claimants } vacancies(geography: COUNTRY) { vacancies } }",
    '{ claimants(where: {period: {eq: "2024-13"}}) { claimants } }',
    "{ datasets { name fields { name kind } periods { first last } } }",
]


async def execute(
    schema: Any,
    trust: TrustUnderTest,
    query: str,
    who: str,
    variables: dict[str, Any] | None = None,
) -> dict[str, Any]:
    from gql_trust.identity import authenticate

    header = trust.headers(who).get("Authorization")
    principal = authenticate(header, trust.settings.auth)
    context = RequestContext(trust=trust.app.state.trust, principal=principal)
    variables = {"skip": False} if variables is None else variables
    result = await schema.execute(query, variable_values=variables, context_value=context)
    return {
        "data": result.data,
        "errors": [e.formatted for e in result.errors or []],
    }


@pytest.mark.parametrize("who", ["dwp", "hmrc", "public"])
@pytest.mark.parametrize("query", QUERIES)
async def test_compiled_lists_equal_normal_execution(
    trust: TrustUnderTest, query: str, who: str
) -> None:
    contracts = tuple(trust.app.state.trust.contracts.values())
    fast = build_schema(contracts, trust.settings.limits, fast_paths=True)
    plain = build_schema(contracts, trust.settings.limits, fast_paths=False)
    expected = await execute(plain, trust, query, who)
    got = await execute(fast, trust, query, who)
    # json.dumps keeps key order: field order and aliases must match too
    assert json.dumps(rounded(got)) == json.dumps(rounded(expected))


def rounded(value: Any) -> Any:
    """Floats to 12 significant digits: DuckDB's parallel SUM of doubles may differ in
    the last bits from one run of the same query to the next."""
    if isinstance(value, float):
        return float(f"{value:.12g}")
    if isinstance(value, dict):
        return {k: rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [rounded(v) for v in value]
    return value


def test_principals_cover_owner_non_owner_and_public() -> None:
    assert {"dwp", "hmrc", "public"} <= set(PRINCIPALS)


async def test_plain_cell_lists_take_the_compiled_path(
    duckdb_trust: TrustUnderTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gql_trust.graphql.fast import lists as fast_lists

    compiled: list[str] = []
    original = fast_lists.FastListExecutionContext._compile

    def spy(self: Any, object_type: Any, details: Any, read: Any) -> Any:
        mapper = original(self, object_type, details, read)
        source = "objects" if read is attrgetter else "rows"
        compiled.append(f"{object_type.name}:{source}:{'yes' if mapper else 'no'}")
        return mapper

    monkeypatch.setattr(fast_lists.FastListExecutionContext, "_compile", spy)
    contracts = tuple(duckdb_trust.app.state.trust.contracts.values())
    fast = build_schema(contracts, duckdb_trust.settings.limits)
    await execute(fast, duckdb_trust, QUERIES[0], "dwp")
    await execute(fast, duckdb_trust, QUERIES[6], "dwp")
    # read from the source's rows, with the nested area (plain objects) compiled with it
    assert "ClaimantsCell:rows:yes" in compiled and "Area:objects:yes" in compiled
    assert "ClaimantsCell:rows:no" in compiled  # area { parent } has a resolver: normal path


async def test_dataset_arguments_are_converted_once_per_value(
    trust: TrustUnderTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Dataset fields convert each distinct argument value once and reuse it, with the
    same results as Strawberry converting on every call; long lists are not kept."""
    from gql_trust.graphql.fast import direct

    converted: list[dict[str, Any]] = []
    original = direct.convert_arguments

    def counting(raw: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        converted.append(raw)
        return original(raw, *args, **kwargs)

    monkeypatch.setattr(direct, "convert_arguments", counting)
    contracts = tuple(trust.app.state.trust.contracts.values())
    fast = build_schema(contracts, trust.settings.limits)
    plain = build_schema(contracts, trust.settings.limits, fast_paths=False)
    query = (
        "query($w: ClaimantsWhere, $o: [ClaimantsOrderBy!], $n: Int, $g: Geography!) "
        "{ claimants(where: $w, orderBy: $o, limit: $n, geography: $g) { period sex claimants } "
        "areas(level: REGION) { code claimants(where: $w, limit: 2) { claimants } } }"
    )
    months = [f"2025-{m:02d}" for m in range(1, 13)] * 6  # longer than frozen.MAX_LIST
    june = {"w": {"period": {"eq": "2025-06"}}, "o": [{"claimants": "DESC"}], "n": 3, "g": "REGION"}
    july = {**june, "w": {"period": {"eq": "2025-07"}}, "g": "COUNTRY"}
    many = {**june, "w": {"period": {"in": months}}}
    answers = []
    for variables in (june, july, june, many, many, july):
        got = await execute(fast, trust, query, "dwp", variables)
        assert got == await execute(plain, trust, query, "dwp", variables)
        assert got["errors"] == [] and got["data"]["claimants"], got
        answers.append(json.dumps(got))
        regions = len(got["data"]["areas"])
    assert answers[0] == answers[2] and answers[1] == answers[5] and answers[0] != answers[1]
    # At the root: june, july, and the long list each time. Nested (called once per
    # region): june and july once, the long list for every region each time.
    assert regions > 1 and len(converted) == 4 + 2 + 2 * regions, len(converted)


async def test_compiled_lists_are_shared_by_operations_with_the_same_shape(
    duckdb_trust: TrustUnderTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Compiled once per (selection, variables), reused by later operations; a variable
    that changes what @skip/@include select gets its own compilation."""
    from gql_trust.graphql.fast import lists as fast_lists

    compiled: list[str] = []
    original = fast_lists.FastListExecutionContext._compile

    def spy(self: Any, object_type: Any, details: Any, read: Any) -> Any:
        compiled.append(object_type.name)
        return original(self, object_type, details, read)

    monkeypatch.setattr(fast_lists.FastListExecutionContext, "_compile", spy)
    contracts = tuple(duckdb_trust.app.state.trust.contracts.values())
    fast = build_schema(contracts, duckdb_trust.settings.limits)
    plain = build_schema(contracts, duckdb_trust.settings.limits, fast_paths=False)
    query = QUERIES[2]  # `employees @skip(if: $skip)`
    answers = []
    for skip in (False, True, False, True):
        got = rounded(await execute(fast, duckdb_trust, query, "hmrc", {"skip": skip}))
        assert got == rounded(await execute(plain, duckdb_trust, query, "hmrc", {"skip": skip}))
        assert got["errors"] == [], got["errors"]
        answers.append(got["data"]["payrolledEmployees"][0])
    assert "employees" in answers[0] and "employees" not in answers[1]
    assert answers[0] == answers[2] and answers[1] == answers[3]
    assert compiled.count("PayrolledEmployeesCell") == 2, compiled


@strawberry.type
class Leaf:
    text: str | None
    number: int | None
    ratio: float | None
    flag: bool | None
    key: strawberry.ID | None


LEAF_VALUES: list[tuple[Any, Any, Any, Any, Any]] = [
    ("a", 1, 0.5, True, "x"),
    (7, 2**31, 3, 0, 12),  # each needs graphql-core's serialisation (or its error)
    ("b", -(2**31), float("nan"), False, "y"),
    (None, 2**31 - 1, float("inf"), None, None),
    (True, True, True, 1, True),
]


@strawberry.type
class LeafQuery:
    @strawberry.field
    def leaves(self, row: int) -> list[Leaf | None]:
        names = ("text", "number", "ratio", "flag", "key")
        return [Leaf(**dict(zip(names, LEAF_VALUES[row], strict=True))), None]


async def test_leaf_values_serialise_as_graphql_core_would() -> None:
    """Values the compiled path passes through as they are, and values it must still
    serialise or reject: ints for a Float, out-of-range Ints, non-finite Floats, ints
    for an ID or a String."""
    from gql_trust.graphql.fast import FastListExecutionContext

    serialised: list[Any] = []

    class Counting(FastListExecutionContext):
        def complete_leaf_value(self, return_type: Any, result: Any) -> Any:
            serialised.append(result)
            return super().complete_leaf_value(return_type, result)

    query = "query($row: Int!) { leaves(row: $row) { text number ratio flag key } }"
    plain = strawberry.Schema(query=LeafQuery)
    fast = strawberry.Schema(query=LeafQuery, execution_context_class=Counting)
    for row in range(len(LEAF_VALUES)):
        expected = await plain.execute(query, variable_values={"row": row})
        got = await fast.execute(query, variable_values={"row": row})
        assert json.dumps(got.data) == json.dumps(expected.data), row
        assert [e.formatted for e in got.errors or []] == [
            e.formatted for e in expected.errors or []
        ], row
    got = await fast.execute(query, variable_values={"row": 0})
    assert got.data == {"leaves": [dict(text="a", number=1, ratio=0.5, flag=True, key="x"), None]}
    serialised.clear()
    await fast.execute(query, variable_values={"row": 0})
    assert serialised == []  # passed through as they are
    await fast.execute(query, variable_values={"row": 1})
    assert {repr(v) for v in LEAF_VALUES[1]} <= {repr(v) for v in serialised}  # by graphql-core


def test_every_dataset_field_takes_the_compiled_path(trust: TrustUnderTest) -> None:
    from gql_trust.graphql.fast.direct import _direct

    schema = build_schema(tuple(trust.app.state.trust.contracts.values()), trust.settings.limits)
    fields = schema.model.dataset_fields(schema._schema)  # type: ignore[attr-defined]
    assert len(fields) >= 3 * 3 - 1  # Query, Area, Sector (payroll and vacancies) + stitched
    for owner, name in fields:
        resolve = owner.fields[name].resolve
        assert resolve.__qualname__ == _direct.__qualname__ + ".<locals>.resolve", (owner, name)


def test_a_field_extension_on_a_dataset_field_is_refused_not_bypassed(
    trust: TrustUnderTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The compiled path calls a dataset field's resolver directly: a field extension or
    permission class there would be skipped (or, before, silently turn the path off)."""
    import strawberry
    from strawberry.extensions import FieldExtension

    from gql_trust.graphql.fast import FastPathRefused
    from gql_trust.graphql.schema import Model

    class Audit(FieldExtension):
        def resolve(self, next_: Any, source: Any, info: Any, **kwargs: Any) -> Any:
            return next_(source, info, **kwargs)

        async def resolve_async(self, next_: Any, source: Any, info: Any, **kwargs: Any) -> Any:
            return await next_(source, info, **kwargs)

    plain_field = Model.root_field

    def with_extension(self: Model, types: Any) -> Any:
        field = plain_field(self, types)
        return strawberry.field(resolver=field.base_resolver.wrapped_func, extensions=[Audit()])

    monkeypatch.setattr(Model, "root_field", with_extension)
    contracts = tuple(trust.app.state.trust.contracts.values())
    with pytest.raises(FastPathRefused, match=r"Query\.\w+ has field extensions"):
        build_schema(contracts, trust.settings.limits)
    build_schema(contracts, trust.settings.limits, fast_paths=False)  # plain: fine
