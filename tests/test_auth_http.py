"""Over HTTP: no token is public; a bad token is a 401, never silently public."""

from __future__ import annotations

import io
import json
import shlex
import time
from pathlib import Path

import jwt
import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric import ec
from rich.console import Console

from gql_trust import cli
from gql_trust.config import load_settings
from gql_trust.identity import authenticate, mint_token
from tests.conftest import TrustUnderTest

QUERY = {"query": "{ vacancies(limit: 1) { period vacancies } }"}


async def test_no_header_is_public(duckdb_trust: TrustUnderTest) -> None:
    response = await duckdb_trust.client.post("/graphql", json=QUERY)
    assert response.status_code == 200
    assert "errors" not in response.json()


async def test_valid_token(duckdb_trust: TrustUnderTest) -> None:
    auth = duckdb_trust.settings.auth
    assert auth is not None
    token = mint_token(auth, sub="dwp-analyst", dept="DWP", roles=["analyst"])
    response = await duckdb_trust.client.post(
        "/graphql", json=QUERY, headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 200, response.text
    assert response.json()["data"]["vacancies"]


def _wrong_key_token(kid: str) -> str:
    stranger = ec.generate_private_key(ec.SECP256R1())
    claims = {
        "iss": "gql-trust-demo",
        "aud": "labour-market-data-trust",
        "sub": "mallory",
        "dept": "HMRC",
        "roles": ["analyst"],
        "exp": int(time.time()) + 600,
    }
    return jwt.encode(claims, stranger, algorithm="ES256", headers={"kid": kid})


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("expired", "token expired"),
        ("garbage", "token is malformed"),
        ("wrong key", "token signature is invalid"),
        ("unknown kid", "unknown signing key"),
        ("not bearer", "the Authorization header must be 'Bearer <token>'"),
    ],
)
async def test_bad_token_is_401(duckdb_trust: TrustUnderTest, case: str, message: str) -> None:
    auth = duckdb_trust.settings.auth
    assert auth is not None
    token = {
        "expired": lambda: mint_token(
            auth, sub="x", dept="DWP", roles=["analyst"], ttl_s=60, now=time.time() - 3600
        ),
        "garbage": lambda: "garbage.garbage.garbage",
        "wrong key": lambda: _wrong_key_token("demo-2026"),
        "unknown kid": lambda: _wrong_key_token("retired-2019"),
        "not bearer": lambda: "",
    }[case]()
    header = f"Bearer {token}" if token else "Basic dXNlcjpwYXNz"
    response = await duckdb_trust.client.post(
        "/graphql", json=QUERY, headers={"Authorization": header}
    )
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    body = response.json()
    assert "data" not in body
    assert body["errors"] == [{"message": message, "extensions": {"code": "UNAUTHENTICATED"}}]


async def test_graphiql_page_needs_no_token(duckdb_trust: TrustUnderTest) -> None:
    response = await duckdb_trust.client.get(
        "/graphql", headers={"Accept": "text/html", "Authorization": "Bearer nonsense"}
    )
    assert response.status_code == 200
    assert "text/html" in response.headers["content-type"]


def test_token_command(duckdb_trust_dir: Path) -> None:
    config = duckdb_trust_dir / "gql-trust.toml"
    result = CliRunner().invoke(
        cli.main,
        ["token", "--config", str(config), "--sub", "a", "--dept", "DWP", "--role", "analyst"],
    )
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == 1 and result.stdout == lines[0] + "\n"
    assert lines[0].count(".") == 2
    auth = load_settings(config).auth
    principal = authenticate(f"Bearer {lines[0]}", auth)
    assert (principal.sub, principal.dept, principal.roles) == ("a", "DWP", ("analyst",))
    assert (principal.purpose, principal.agreement, principal.area) == (None, None, None)
    claims = jwt.decode(lines[0], options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == 3600


def test_token_command_all_options(duckdb_trust_dir: Path) -> None:
    config = duckdb_trust_dir / "gql-trust.toml"
    args = ["token", "--config", str(config), "--sub", "la-1", "--dept", "LA"]
    args += ["--role", "la-officer", "--role", "reader", "--purpose", "p", "--agreement", "A"]
    args += ["--area", "E08000025", "--ttl", "60"]
    result = CliRunner().invoke(cli.main, args)
    assert result.exit_code == 0, result.output
    token = result.stdout.strip()
    principal = authenticate(f"Bearer {token}", load_settings(config).auth)
    assert principal.roles == ("la-officer", "reader")
    assert (principal.purpose, principal.agreement, principal.area) == ("p", "A", "E08000025")
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == 60


def test_token_command_needs_a_role(duckdb_trust_dir: Path) -> None:
    config = duckdb_trust_dir / "gql-trust.toml"
    result = CliRunner().invoke(
        cli.main, ["token", "--config", str(config), "--sub", "a", "--dept", "DWP"]
    )
    assert result.exit_code != 0 and result.stdout == ""


def test_demo_prints_working_tokens(
    duckdb_trust_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = io.StringIO()
    monkeypatch.setattr(cli, "console", Console(file=out, width=60, color_system=None))
    auth = load_settings(duckdb_trust_dir / "gql-trust.toml").auth
    cli._print_demo_tokens(auth, "http://127.0.0.1:8000/graphql")
    curls = [line for line in out.getvalue().splitlines() if line.startswith("curl ")]
    principals = []
    for line in curls:
        words = shlex.split(line)
        header = next(w for w in words if w.startswith("Authorization: "))
        principal = authenticate(header.removeprefix("Authorization: "), auth)
        principals.append((principal.dept, principal.roles[0], principal.area))
        if principal.roles == ("operator",):  # the operator's example scrapes /metrics
            assert words[2] == "http://127.0.0.1:8000/metrics"
        else:
            assert json.loads(words[-1])["query"].startswith("{ ")
        claims = jwt.decode(header.split()[-1], options={"verify_signature": False})
        assert claims["exp"] - claims["iat"] == 12 * 3600
        if principal.dept == "DWP":
            assert (principal.agreement, principal.purpose) == (
                "DSA-LMDT-001",
                "labour-market-analysis",
            )
    assert principals == [
        ("DWP", "analyst", None),
        ("HMRC", "analyst", None),
        ("DfE", "analyst", None),
        ("LA", "la-officer", "E08000025"),
        ("TRUST", "auditor", None),
        ("TRUST", "operator", None),
    ]
