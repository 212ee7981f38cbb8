"""Identity providers: keys from a real OpenID provider on loopback (panva's
oidc-provider, client credentials, JWT access tokens), claim names mapped, keys rotated,
and the attacks on a provider's keys: another key under a known kid, alg confusion,
made-up kids that would make the server hammer the provider."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import hashlib
import hmac
import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

from gql_trust.app import create_app
from gql_trust.config import Settings, load_settings
from gql_trust.errors import ConfigError, Unauthenticated
from gql_trust.identity import auth_from_dict
from gql_trust.identity_providers import ProviderError, ProviderKeys, parse_jwks
from tests.npm import NODE_DIR, install
from tests.oracle import Oracle
from tests.servers import free_port, serving

AUDIENCE = "https://trust.test/graphql"
SECRET = "a-client-secret-long-enough-for-the-provider"
CLIENTS = [
    {
        "client_id": "hmrc-rti",
        "client_secret": SECRET,
        "claims": {"org": "HMRC", "groups": ["analyst"]},
    },
    {
        "client_id": "dwp-analytics",
        "client_secret": SECRET,
        "claims": {
            "org": "DWP",
            "groups": ["analyst"],
            "purpose_of_use": "labour-market-analysis",
            "dsa": "DSA-LMDT-001",
        },
    },
    {"client_id": "no-claims", "client_secret": SECRET, "claims": {}},
]
CLAIMS = {"dept": "org", "roles": "groups", "purpose": "purpose_of_use", "agreement": "dsa"}
PAYROLL = "{ payrolledEmployees(geography: COUNTRY) { period area { code } employees } }"
PAY = "{ payrolledEmployees(geography: COUNTRY, limit: 3) { period meanMonthlyPay } }"


def private_jwk(kid: str) -> tuple[dict[str, Any], ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    jwk = ECAlgorithm.to_jwk(key, as_dict=True)
    jwk.update(kid=kid, alg="ES256", use="sig")
    return jwk, key


class OpenIdProvider:
    """oidc-provider in a Node.js child process; restartable on the same port."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.issuer = f"http://127.0.0.1:{self.port}"
        self.log = directory / "provider.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.jwks_fetches_before = 0  # by earlier runs of the process

    def start(self, keys: list[dict[str, Any]]) -> None:
        config = {"issuer": self.issuer, "audience": AUDIENCE, "jwks": {"keys": keys}}
        config["clients"] = CLIENTS
        path = self.directory / "provider.json"
        path.write_text(json.dumps(config), encoding="utf-8")
        self.log.write_bytes(b"")
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                ["node", "oidc-provider.mjs", "--port", str(self.port), "--config", str(path)],
                cwd=NODE_DIR,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 30
        while "provider ready" not in self.log.read_text(errors="replace"):
            assert self.proc.poll() is None, self.log.read_text(errors="replace")
            assert time.monotonic() < deadline, "the OpenID provider did not start"
            time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is not None:
            self.jwks_fetches_before += self._fetches_this_run()
            self.proc.terminate()
            self.proc.wait(timeout=10)
            self.proc = None

    def _fetches_this_run(self) -> int:
        lines = self.log.read_text(errors="replace").splitlines()
        return sum(1 for line in lines if line.startswith("GET /jwks"))

    @property
    def jwks_fetches(self) -> int:
        return self.jwks_fetches_before + self._fetches_this_run()

    def token(self, client_id: str) -> str:
        response = httpx.post(
            f"{self.issuer}/token",
            data={"grant_type": "client_credentials"},
            auth=(client_id, SECRET),
            timeout=10,
        )
        assert response.status_code == 200, response.text
        return str(response.json()["access_token"])


@pytest.fixture
def provider(tmp_path: Path) -> Iterator[OpenIdProvider]:
    install(NODE_DIR)
    running = OpenIdProvider(tmp_path)
    try:
        yield running
    finally:
        running.stop()


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def provider_settings(trust_dir: Path, issuer: str) -> Settings:
    settings = load_settings(trust_dir / "gql-trust.toml")
    raw = {"oidc_issuer": issuer, "audience": AUDIENCE, "claims": CLAIMS}
    auth = auth_from_dict(raw, lambda value: trust_dir / value, "test")
    return dataclasses.replace(settings, auth=auth)


def ask(base: str, query: str, token: str | None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.post(f"{base}/graphql", json={"query": query}, headers=headers, timeout=30)


def forged(token: str, kid: str, algorithm: str = "ES256", key: Any = None) -> str:
    """The token's own claims, re-signed with another key under ``kid``."""
    claims = jwt.decode(token, options={"verify_signature": False})
    if key is None:
        key = ec.generate_private_key(ec.SECP256R1())
    headers = {"kid": kid, "typ": "at+jwt"}
    return jwt.encode(claims, key, algorithm=algorithm, headers=headers)


def test_provider_tokens_with_mapped_claims_across_a_key_rotation(
    provider: OpenIdProvider, duckdb_trust_dir: Path
) -> None:
    old_jwk, _ = private_jwk("2026-01")
    new_jwk, _ = private_jwk("2026-07")
    provider.start([old_jwk])
    oracle = Oracle(duckdb_trust_dir, None)
    country = oracle.rollup("COUNTRY")
    expected: dict[tuple[str, str], int] = {}
    for month, area, employees in oracle.files(
        "SELECT month, area_code, sum(employees) FROM payroll GROUP BY month, area_code"
    ):
        cell = (f"{month:%Y-%m}", country[area])
        expected[cell] = expected.get(cell, 0) + int(employees)
    app = create_app(provider_settings(duckdb_trust_dir, provider.issuer))
    clock = Clock()
    app.state.provider_keys.clock = clock
    with serving(app) as base:
        # Served as its department, HMRC: its own payroll, exact (not rounded to 5).
        hmrc = provider.token("hmrc-rti")
        body = ask(base, PAYROLL, hmrc).json()
        assert "errors" not in body, body
        got = {(c["period"], c["area"]["code"]): c["employees"] for c in cells(body)}
        assert got == expected
        assert any(v % 5 for v in got.values())  # exact values: 10-5 would round them
        # Purpose and agreement mapped too: DWP's pay needs both.
        body = ask(base, PAY, provider.token("dwp-analytics")).json()
        assert "errors" not in body, body
        assert all(c["meanMonthlyPay"] is not None for c in body["data"]["payrolledEmployees"])
        # A client without the claims is an authenticated nobody: public access only.
        body = ask(base, PAY, provider.token("no-claims")).json()
        assert body["data"]["payrolledEmployees"] is None
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
        assert provider.jwks_fetches == 1  # one fetch served all three

        # Another key under the provider's kid: refused, and no refetch for a known kid.
        public_jwk = json.dumps({k: v for k, v in old_jwk.items() if k != "d"}).encode()
        for attack in (
            forged(hmrc, "2026-01"),  # a well-formed ES256 token, the attacker's key
            _hs256(hmrc, "2026-01", _public_pem(old_jwk)),  # alg confusion: the public key
            _hs256(hmrc, "2026-01", public_jwk),  # ... as an HMAC secret
        ):
            response = ask(base, PAYROLL, attack)
            assert response.status_code == 401, response.text
            assert "data" not in response.json()
        unsigned = _unsigned(hmrc, "2026-01")
        assert ask(base, PAYROLL, unsigned).status_code == 401
        assert provider.jwks_fetches == 1

        # The provider rotates: a new key signs, the old one is still published.
        provider.stop()
        provider.start([new_jwk, old_jwk])
        clock.now += 31  # the last fetch is more than 30 s old
        rotated = provider.token("hmrc-rti")
        assert jwt.get_unverified_header(rotated)["kid"] == "2026-07"
        body = ask(base, PAYROLL, rotated).json()
        assert "errors" not in body, body
        assert {(c["period"], c["area"]["code"]): c["employees"] for c in cells(body)} == expected
        assert provider.jwks_fetches == 2  # the unknown kid fetched the set once
        assert ask(base, PAYROLL, hmrc).status_code == 200  # the old key still verifies
        # Made-up kids within 30 s of that fetch: refused without asking the provider.
        for n in range(20):
            assert ask(base, PAYROLL, forged(rotated, f"made-up-{n}")).status_code == 401
        assert provider.jwks_fetches == 2
        clock.now += 31
        assert ask(base, PAYROLL, forged(rotated, "made-up-again")).status_code == 401
        assert provider.jwks_fetches == 3  # once per 30 s at most, not never


def _public_pem(jwk: dict[str, Any]) -> bytes:
    from cryptography.hazmat.primitives import serialization

    public = {k: v for k, v in jwk.items() if k != "d"}
    key = ECAlgorithm.from_jwk(json.dumps(public))
    return key.public_bytes(  # type: ignore[union-attr]
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _part(value: dict[str, Any] | bytes) -> str:
    raw = value if isinstance(value, bytes) else json.dumps(value).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unsigned(token: str, kid: str) -> str:
    claims = jwt.decode(token, options={"verify_signature": False})
    return f"{_part({'alg': 'none', 'kid': kid})}.{_part(claims)}."


def _hs256(token: str, kid: str, secret: bytes) -> str:
    """Signed by hand: PyJWT itself refuses a public key as an HMAC secret."""
    claims = jwt.decode(token, options={"verify_signature": False})
    signing_input = f"{_part({'alg': 'HS256', 'kid': kid, 'typ': 'at+jwt'})}.{_part(claims)}"
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_part(mac)}"


def cells(body: dict[str, Any]) -> list[dict[str, Any]]:
    return list(body["data"]["payrolledEmployees"])


# The key cache, against a JWKS document served by a fake fetch.


class FakeProvider:
    def __init__(self, *jwks: dict[str, Any]) -> None:
        self.keys = list(jwks)
        self.fetched: list[str] = []
        self.failing = False
        self.issuer = "https://idp.test"

    async def __call__(self, url: str) -> Any:
        self.fetched.append(url)
        await asyncio.sleep(0.01)
        if self.failing:
            raise ProviderError("the provider is down")
        if url.endswith("/.well-known/openid-configuration"):
            return {"issuer": self.issuer, "jwks_uri": "https://idp.test/keys"}
        public = [{k: v for k, v in jwk.items() if k != "d"} for jwk in self.keys]
        return {"keys": public}


async def test_unknown_kids_refetch_at_most_once_per_30_seconds() -> None:
    first, _ = private_jwk("a")
    fake = FakeProvider(first)
    clock = Clock()
    keys = ProviderKeys(jwks_url="https://idp.test/keys", fetch=fake, clock=clock)
    assert (await keys.get("a")) is not None
    assert (await keys.get("b")) is None  # within 30 s: not fetched again
    assert len(fake.fetched) == 1
    second, _ = private_jwk("b")
    fake.keys.insert(0, second)
    clock.now += 29.9
    assert (await keys.get("b")) is None
    clock.now += 0.2
    found = await asyncio.gather(*(keys.get("b") for _ in range(10)))  # one fetch for all
    assert all(k is not None and k.kid == "b" for k in found)
    assert len(fake.fetched) == 2


async def test_old_key_sets_are_refreshed_and_kept_while_the_provider_is_down() -> None:
    first, _ = private_jwk("a")
    fake = FakeProvider(first)
    clock = Clock()
    keys = ProviderKeys(oidc_issuer="https://idp.test", fetch=fake, clock=clock)
    assert (await keys.get("a")) is not None
    assert fake.fetched == [
        "https://idp.test/.well-known/openid-configuration",
        "https://idp.test/keys",
    ]
    fake.failing = True
    clock.now += 301
    assert (await keys.get("a")) is not None  # kept: the provider is down
    fake.failing = False
    fake.keys = []  # the provider withdraws the key
    clock.now += 31
    assert (await keys.get("a")) is None
    assert fake.fetched[-1] == "https://idp.test/keys"  # discovery is not repeated


async def test_a_provider_that_never_answered_is_a_401_and_a_wrong_issuer_is_refused() -> None:
    fake = FakeProvider()
    fake.failing = True
    keys = ProviderKeys(jwks_url="https://idp.test/keys", fetch=fake)
    with pytest.raises(Unauthenticated, match="cannot be fetched"):
        await keys.get("a")
    other = FakeProvider()
    other.issuer = "https://evil.test"
    keys = ProviderKeys(oidc_issuer="https://idp.test", fetch=other)
    with pytest.raises(Unauthenticated):
        await keys.get("a")
    assert other.fetched == ["https://idp.test/.well-known/openid-configuration"]


def test_parse_jwks_keeps_only_public_signing_keys() -> None:
    ec_key, _ = private_jwk("ec")
    public = {k: v for k, v in ec_key.items() if k != "d"}
    no_alg = {k: v for k, v in public.items() if k != "alg"} | {"kid": "inferred"}
    document = {
        "keys": [
            public,
            no_alg,
            ec_key | {"kid": "private"},  # a private key published by mistake
            {"kty": "oct", "kid": "hmac", "k": "c2VjcmV0", "alg": "HS256"},
            public | {"kid": "enc", "use": "enc"},
            public | {"kid": "none", "alg": "none"},
            {k: v for k, v in public.items() if k != "kid"},
            public | {"kid": "broken", "x": "AAAA"},
        ]
    }
    keys = parse_jwks(document)
    assert sorted(keys) == ["ec", "inferred"]
    assert keys["inferred"].algorithm == "ES256"
    with pytest.raises(ProviderError):
        parse_jwks({"nope": []})


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"jwks_url": "https://a/k", "oidc_issuer": "https://a"}, "not both"),
        ({"jwks_url": "file:///etc/passwd", "issuer": "i"}, "URL"),
        ({"oidc_issuer": "https://a", "claims": {"sub": "x"}}, "unknown key"),
        ({"oidc_issuer": "https://a", "claims": {"dept": ""}}, "non-empty"),
        ({"oidc_issuer": "https://a", "claims": "org"}, "must be a table"),
        ({"jwks_url": "https://a/k"}, "issuer"),  # a bare JWKS names no issuer
        ({"issuer": "i"}, "identity provider"),  # no keys at all
    ],
)
def test_auth_settings_for_providers_are_checked(raw: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        auth_from_dict({"audience": AUDIENCE, **raw}, Path, "test")


def test_an_oidc_issuer_is_the_issuer_and_claims_default_to_the_trusts_names() -> None:
    auth = auth_from_dict({"oidc_issuer": "https://a", "audience": AUDIENCE}, Path, "t")
    assert auth is not None
    assert (auth.issuer, auth.oidc_issuer, auth.keys) == ("https://a", "https://a", ())
    assert dataclasses.asdict(auth.claims) == {
        "dept": "dept",
        "roles": "roles",
        "purpose": "purpose",
        "agreement": "agreement",
        "area": "area",
    }
