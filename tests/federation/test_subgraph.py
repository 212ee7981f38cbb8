"""The trust as a Federation v2 subgraph, in process: SDL, entities, policy, trust boundary."""

from __future__ import annotations

import dataclasses
import json
import logging
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from graphql import build_client_schema, get_introspection_query

from gql_trust.app import create_app
from gql_trust.cli import main
from gql_trust.config import FederationConfig, settings_from_dict
from gql_trust.contracts import load_contracts
from gql_trust.errors import ConfigError
from gql_trust.graphql import build_schema
from gql_trust.graphql.context import RequestContext
from gql_trust.graphql.federation import complete_sdl
from gql_trust.reference import Level
from tests.conftest import TrustUnderTest

ROOT = Path(__file__).resolve().parents[2]
PERIOD = "2025-09"
FIELDS = f"""
fragment Fields on Area {{
  code
  name
  claimants(where: {{period: {{eq: "{PERIOD}"}}}}) {{ period claimants }}
  payrolledEmployees(where: {{period: {{eq: "{PERIOD}"}}}}) {{ period employees meanMonthlyPay }}
  vacancies(where: {{period: {{eq: "{PERIOD}"}}}}) {{ period vacancies }}
}}
"""
DIRECT = "query($code: ID!) { area(code: $code) { ...Fields } }" + FIELDS
ENTITIES = "query($r: [_Any!]!) { _entities(representations: $r) { ...Fields } }" + FIELDS
CLAIMANTS_BY_ENTITY = """
query($r: [_Any!]!) {
  _entities(representations: $r) { ... on Area { code claimants { period claimants } } }
}
"""


def area(code: str) -> dict[str, str]:
    return {"__typename": "Area", "code": code}


async def post(
    trust: TrustUnderTest, query: str, variables: dict[str, Any], headers: dict[str, str]
) -> dict[str, Any]:
    response = await trust.client.post(
        "/graphql", json={"query": query, "variables": variables}, headers=headers
    )
    assert response.status_code == 200, response.text
    assert "Traceback" not in response.text
    return response.json()  # type: ignore[no-any-return]


def errors_by_field(body: dict[str, Any], prefix: int) -> list[tuple[Any, ...]]:
    return sorted(
        (tuple(e["path"][prefix:]), e["extensions"]["code"], e["message"])
        for e in body.get("errors", [])
    )


# --- the subgraph SDL ------------------------------------------------------------------


async def test_service_sdl_declares_entities_and_a_composable_version(
    duckdb_trust: TrustUnderTest,
) -> None:
    sdl = (await duckdb_trust.data("{ _service { sdl } }", who="public"))["_service"]["sdl"]
    assert 'schema @link(url: "https://specs.apollo.dev/federation/v2.9"' in sdl
    assert 'type Area @key(fields: "code") @shareable {' in sdl
    assert 'type Sector @key(fields: "code") @shareable {' in sdl
    assert "union _Entity = Area | Sector" in sdl


async def test_schema_federation_prints_what_the_server_returns(
    duckdb_trust: TrustUnderTest,
) -> None:
    sdl = (await duckdb_trust.data("{ _service { sdl } }", who="public"))["_service"]["sdl"]
    result = CliRunner().invoke(main, ["schema", "--federation"], env={"GQL_TRUST_CONFIG": None})
    assert result.exit_code == 0, result.output
    assert result.stdout == sdl + "\n"


async def test_checked_in_schema_is_what_introspection_serves(
    duckdb_trust: TrustUnderTest,
) -> None:
    introspection = await duckdb_trust.data(
        get_introspection_query(descriptions=True, directive_is_repeatable=True), who="public"
    )
    served = complete_sdl(build_client_schema(introspection))  # type: ignore[arg-type]
    assert served == (ROOT / "schema" / "schema.graphql").read_text(encoding="utf-8")


def test_the_federation_version_is_configurable(duckdb_trust: TrustUnderTest) -> None:
    contracts = load_contracts(duckdb_trust.settings.contracts_dir)
    sdl = build_schema(contracts, federation=FederationConfig(version="2.7")).as_str()
    assert '@link(url: "https://specs.apollo.dev/federation/v2.7"' in sdl


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"version": "2.12"}, "not a Federation v2 version"),
        ({"version": "1"}, "not a Federation v2 version"),
        ({"version": 2.10}, 'a string such as "2.9"'),  # a TOML float: 2.10 would read as 2.1
        ({"max_representations": 0}, "positive integer"),
        ({"max_representations": "many"}, "positive integer"),
        ({"max_representations": True}, "positive integer"),
        ({"versoin": "2.9"}, "unknown keys ['versoin']"),
    ],
)
def test_bad_federation_settings_are_clear_errors(
    duckdb_trust: TrustUnderTest, table: dict[str, Any], message: str
) -> None:
    raw = {
        "sources": {"ons": {"kind": "duckdb"}},
        "reference": {"areas": "a.csv", "sectors": "s.csv"},
        "federation": table,
    }
    with pytest.raises(ConfigError, match=re.escape(message)):
        settings_from_dict(raw, base_dir=Path("."))


def test_federation_settings_default_to_2_9_and_1000() -> None:
    raw = {"sources": {"ons": {"kind": "duckdb"}}, "reference": {"areas": "a", "sectors": "s"}}
    assert settings_from_dict(raw, base_dir=Path(".")).federation == FederationConfig("2.9", 1_000)


# --- entities --------------------------------------------------------------------------


def test_resolve_reference_returns_the_objects_area_and_sectors_return(
    duckdb_trust: TrustUnderTest,
) -> None:
    schema = build_schema(tuple(duckdb_trust.app.state.trust.contracts.values()))
    model = schema.model  # type: ignore[attr-defined]
    info = SimpleNamespace(context=RequestContext(trust=duckdb_trust.app.state.trust))
    for code in ("E08000025", "E12000005", "E92000001"):
        found = model.Area.resolve_reference(info=info, code=code)
        assert found is model.lookup_area(info.context, code) is model.area(code)
        assert found.level is duckdb_trust.app.state.trust.reference.areas[code].level
    assert model.Sector.resolve_reference(info=info, code="C") is model.sector("C")


@pytest.mark.parametrize("who", ["public", "dwp", "dwp-no-agreement", "hmrc", "dfe", "la"])
@pytest.mark.parametrize("code", ["E08000025", "E08000003", "E12000005", "W92000004"])
async def test_entities_answer_exactly_as_area_does(
    duckdb_trust: TrustUnderTest, who: str, code: str
) -> None:
    """Same data, same denials (FORBIDDEN at the same field) on both paths."""
    headers = duckdb_trust.headers(who)
    direct = await post(duckdb_trust, DIRECT, {"code": code}, headers)
    entities = await post(duckdb_trust, ENTITIES, {"r": [area(code)]}, headers)
    assert entities["data"]["_entities"] == [direct["data"]["area"]]
    assert errors_by_field(entities, 2) == errors_by_field(direct, 1)


async def test_the_public_cannot_get_claimants_through_entities(
    duckdb_trust: TrustUnderTest,
) -> None:
    body = await post(duckdb_trust, CLAIMANTS_BY_ENTITY, {"r": [area("E08000025")]}, {})
    assert body["data"]["_entities"] == [{"code": "E08000025", "claimants": None}]
    [error] = body["errors"]
    assert error["path"] == ["_entities", 0, "claimants"]
    assert error["extensions"]["code"] == "FORBIDDEN"


async def test_entities_are_batched_one_source_query_per_dataset(
    duckdb_trust: TrustUnderTest,
) -> None:
    reference = duckdb_trust.app.state.trust.reference
    codes = list(reference.local_authorities)
    assert len(codes) > 50
    before = sum(s.stats.queries for s in duckdb_trust.sources.values())
    body = await post(
        duckdb_trust, ENTITIES, {"r": [area(c) for c in codes]}, duckdb_trust.headers("dwp")
    )
    assert "errors" not in body, body["errors"][:3]
    after = sum(s.stats.queries for s in duckdb_trust.sources.values())
    assert after - before == 3  # claimants, payrolledEmployees, vacancies
    entities = body["data"]["_entities"]
    assert [e["code"] for e in entities] == codes
    for index in (0, len(codes) // 2, len(codes) - 1):
        one = await post(duckdb_trust, DIRECT, {"code": codes[index]}, duckdb_trust.headers("dwp"))
        assert entities[index] == one["data"]["area"]


async def test_entities_of_several_levels_batch_per_level(duckdb_trust: TrustUnderTest) -> None:
    reference = duckdb_trust.app.state.trust.reference
    regions = sorted(c for c, a in reference.areas.items() if a.level is Level.REGION)
    codes = ["E08000025", "E08000003", *regions]
    before = sum(s.stats.queries for s in duckdb_trust.sources.values())
    body = await post(
        duckdb_trust,
        CLAIMANTS_BY_ENTITY,
        {"r": [area(c) for c in codes]},
        duckdb_trust.headers("dwp"),
    )
    assert "errors" not in body
    assert sum(s.stats.queries for s in duckdb_trust.sources.values()) - before == 2


# --- the trust boundary ----------------------------------------------------------------


@pytest.mark.parametrize(
    "spoofed",
    [
        {"X-User": "dwp-analyst"},
        {"X-Dept": "DWP", "X-Roles": "analyst", "X-Purpose": "labour-market-analysis"},
        {"X-Principal": json.dumps({"sub": "x", "dept": "DWP", "roles": ["analyst"]})},
        {"X-Forwarded-User": "dwp-analyst", "X-Gql-Trust-Transport": "gateway"},
        {"X-Auth-Request-User": "dwp-analyst", "X-Remote-User": "dwp-analyst"},
    ],
)
@pytest.mark.parametrize("path", ["area", "_entities"])
async def test_a_principal_asserted_in_a_header_is_ignored(
    duckdb_trust: TrustUnderTest, spoofed: dict[str, str], path: str
) -> None:
    if path == "area":
        query, variables = DIRECT, {"code": "E08000025"}
    else:
        query, variables = ENTITIES, {"r": [area("E08000025")]}
    body = await post(duckdb_trust, query, variables, spoofed)
    found = body["data"]["area"] if path == "area" else body["data"]["_entities"][0]
    assert found["claimants"] is None
    assert found["payrolledEmployees"] is None
    assert found["vacancies"] != []
    assert {e["extensions"]["code"] for e in body["errors"]} == {"FORBIDDEN"}


async def test_a_token_is_not_widened_by_headers(duckdb_trust: TrustUnderTest) -> None:
    """A DfE analyst may not see claimants by local authority, whatever else is sent."""
    headers = {**duckdb_trust.headers("dfe"), "X-Dept": "DWP", "X-Area": "E08000025"}
    body = await post(duckdb_trust, ENTITIES, {"r": [area("E08000025")]}, headers)
    assert body["data"]["_entities"][0]["claimants"] is None
    assert ("_entities", 0, "claimants") in {tuple(e["path"]) for e in body["errors"]}


BAD_REPRESENTATIONS = [
    ({"__typename": "Area", "code": "E08000025", "name": "x"}, "unknown fields ['name']"),
    ({"__typename": "Area", "code": "E08000025", "level": "REGION"}, "unknown fields ['level']"),
    ({"__typename": "Area", "code": 25}, "'code' must be a string (an ID), not a number"),
    ({"__typename": "Area", "code": None}, "'code' must be a string (an ID), not null"),
    ({"__typename": "Area", "code": ["E08000025"]}, "not a list"),
    ({"__typename": "Area", "code": {"eq": "E08000025"}}, "not an object"),
    ({"__typename": "Area"}, "has no 'code'"),
    ({"__typename": "Sector", "id": "C"}, "unknown fields ['id']"),
    ({"code": "E08000025"}, "has no __typename; this subgraph resolves Area and Sector"),
    ({"__typename": 7, "code": "E08000025"}, "__typename must be a string, not a number"),
    ({"__typename": ["Area"] * 1_000, "code": "E08000025"}, "must be a string, not a list"),
    ({"__typename": "Area", **{f"k{i}": i for i in range(1_000)}}, "'k0', 'k1', 'k10', "),
    ({"__typename": "Claimant", "code": "x"}, "__typename 'Claimant'"),
    ({"__typename": "Query", "code": "x"}, "__typename 'Query'"),
    ({"__typename": "_Service"}, "__typename '_Service'"),
    ({"__typename": "A" * 5_000, "code": "x"}, "AAAA..."),
    ("E08000025", "must be an object"),
    ([{"__typename": "Area", "code": "E08000025"}], "must be an object"),
    (3, "must be an object"),
]


@pytest.mark.parametrize(("representation", "message"), BAD_REPRESENTATIONS)
async def test_bad_representations_get_a_clear_error_at_their_index(
    duckdb_trust: TrustUnderTest,
    caplog: pytest.LogCaptureFixture,
    representation: Any,
    message: str,
) -> None:
    good = area("E08000025")
    with caplog.at_level(logging.WARNING):
        body = await post(duckdb_trust, CLAIMANTS_BY_ENTITY, {"r": [good, representation]}, {})
    assert body["data"]["_entities"][1] is None
    assert body["data"]["_entities"][0]["code"] == "E08000025"  # the good one is answered
    bad = [e for e in body["errors"] if e["path"] == ["_entities", 1]]
    assert len(bad) == 1, body["errors"]
    assert bad[0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert bad[0]["message"].startswith("representations[1]")
    assert message in bad[0]["message"]
    assert len(bad[0]["message"]) < 300
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.mark.parametrize(
    ("representation", "message"),
    [(area("E99999999"), "no area with code 'E99999999'"), (area(""), "no area with code ''")],
)
async def test_unknown_codes_are_not_found(
    duckdb_trust: TrustUnderTest, representation: dict[str, str], message: str
) -> None:
    sector = {"__typename": "Sector", "code": "ZZ"}
    body = await post(duckdb_trust, CLAIMANTS_BY_ENTITY, {"r": [representation, sector]}, {})
    assert body["data"]["_entities"] == [None, None]
    assert [(e["path"], e["extensions"]["code"], e["message"]) for e in body["errors"]] == [
        (["_entities", 0], "NOT_FOUND", message),
        (["_entities", 1], "NOT_FOUND", "no sector with code 'ZZ'"),
    ]


async def test_ten_thousand_representations_are_refused_before_any_work(
    duckdb_trust: TrustUnderTest, caplog: pytest.LogCaptureFixture
) -> None:
    before = sum(s.stats.queries for s in duckdb_trust.sources.values())
    many = [area("E08000025")] * 10_000
    with caplog.at_level(logging.WARNING):
        body = await post(
            duckdb_trust, CLAIMANTS_BY_ENTITY, {"r": many}, duckdb_trust.headers("dwp")
        )
    assert body["data"] is None
    [error] = body["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert "at most 1,000 representations" in error["message"]
    assert "got 10,000" in error["message"]
    assert sum(s.stats.queries for s in duckdb_trust.sources.values()) == before
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_the_representation_cap_is_configurable(duckdb_trust: TrustUnderTest) -> None:
    settings = dataclasses.replace(
        duckdb_trust.settings, federation=FederationConfig(max_representations=3)
    )
    app = create_app(settings)
    await app.state.trust.start()
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:

            async def ask(count: int) -> dict[str, Any]:
                payload = {
                    "query": CLAIMANTS_BY_ENTITY,
                    "variables": {"r": [area("E08000025")] * count},
                }
                response = await client.post("/graphql", json=payload)
                return response.json()  # type: ignore[no-any-return]

            assert len((await ask(3))["data"]["_entities"]) == 3
            refused = await ask(4)
            assert refused["data"] is None
            assert "at most 3 representations" in refused["errors"][0]["message"]
    finally:
        await app.state.trust.close()
