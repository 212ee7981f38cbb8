"""The checked-in SDL matches what the contracts generate."""

from __future__ import annotations

from pathlib import Path

from gql_trust.cli import schema_sdl

ROOT = Path(__file__).resolve().parent.parent


def test_checked_in_schema_matches_the_contracts() -> None:
    checked_in = (ROOT / "schema" / "schema.graphql").read_text(encoding="utf-8")
    assert checked_in == schema_sdl(), (
        "schema/schema.graphql is out of date: run `gql-trust schema > schema/schema.graphql`"
    )


def test_every_contract_field_is_in_the_schema() -> None:
    from gql_trust.config import bundled_dir
    from gql_trust.contracts import load_contracts

    sdl = schema_sdl()
    for contract in load_contracts(bundled_dir("schema")):
        assert f"type {contract.type_name} {{" in sdl
        for name in contract.field_names:
            assert f"  {name}:" in sdl
