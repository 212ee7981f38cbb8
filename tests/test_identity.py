"""Identity: bearer JWTs become principals; every bad token is refused, never public."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import time
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from gql_trust.errors import ConfigError, Unauthenticated
from gql_trust.identity import (
    PUBLIC,
    AuthConfig,
    Principal,
    VerificationKey,
    auth_from_dict,
    authenticate,
    mint_token,
    write_demo_keys,
)

ISSUER = "gql-trust-test"
AUDIENCE = "labour-market-data-trust"
NOW = 1_780_000_000.0


def _pems(private: Any) -> tuple[bytes, str]:
    private_pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public_pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private_pem, public_pem.decode("ascii")


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, str]]:
    """kid -> (private key file, public PEM): two EC keys and one RSA key."""
    directory = tmp_path_factory.mktemp("keys")
    made = {
        "ec-old": ec.generate_private_key(ec.SECP256R1()),
        "ec-new": ec.generate_private_key(ec.SECP256R1()),
        "rsa": rsa.generate_private_key(public_exponent=65537, key_size=2048),
        "stranger": ec.generate_private_key(ec.SECP256R1()),
    }
    out = {}
    for kid, private in made.items():
        private_pem, public_pem = _pems(private)
        path = directory / f"{kid}.pem"
        path.write_bytes(private_pem)
        out[kid] = (path, public_pem)
    return out


def config(
    keys: dict[str, tuple[Path, str]],
    signing_kid: str = "ec-new",
    verify: tuple[str, ...] = ("ec-old", "ec-new", "rsa"),
    leeway_s: float = 5.0,
) -> AuthConfig:
    algorithms = {"rsa": "RS256"}
    return AuthConfig(
        issuer=ISSUER,
        audience=AUDIENCE,
        keys=tuple(
            VerificationKey(kid, algorithms.get(kid, "ES256"), keys[kid][1])  # type: ignore[arg-type]
            for kid in verify
        ),
        leeway_s=leeway_s,
        signing_key_path=keys[signing_kid][0],
        signing_kid=signing_kid,
    )


def bearer(token: str) -> str:
    return f"Bearer {token}"


def raw_token(
    keys: dict[str, tuple[Path, str]],
    kid: str = "ec-new",
    algorithm: str = "ES256",
    header_kid: str | None = None,
    **overrides: Any,
) -> str:
    """A token built by hand, for claims that mint_token would never write."""
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "someone",
        "dept": "DWP",
        "roles": ["analyst"],
        "iat": int(NOW),
        "exp": int(NOW) + 600,
    }
    claims.update(overrides)
    claims = {name: value for name, value in claims.items() if value is not ...}
    private = serialization.load_pem_private_key(keys[kid][0].read_bytes(), password=None)
    return jwt.encode(claims, private, algorithm=algorithm, headers={"kid": header_kid or kid})  # type: ignore[arg-type]


def refused(header: str | None, auth: AuthConfig | None, now: float = NOW) -> str:
    with pytest.raises(Unauthenticated) as caught:
        authenticate(header, auth, now=now)
    assert caught.value.extensions["code"] == "UNAUTHENTICATED"
    return caught.value.message


def test_no_header_is_public(keys: dict[str, tuple[Path, str]]) -> None:
    assert authenticate(None, config(keys)) is PUBLIC
    assert authenticate(None, None) is PUBLIC
    assert Principal(None, None, (), None, None, None, False) == PUBLIC
    assert not PUBLIC.authenticated


def test_valid_token_gives_its_claims(keys: dict[str, tuple[Path, str]]) -> None:
    auth = config(keys)
    token = mint_token(
        auth,
        sub="analyst-1",
        dept="DWP",
        roles=["analyst", "reader"],
        purpose="labour-market-analysis",
        agreement="DSA-LMDT-001",
        area="E08000025",
        now=NOW,
    )
    principal = authenticate(bearer(token), auth, now=NOW + 10)
    assert principal == Principal(
        sub="analyst-1",
        dept="DWP",
        roles=("analyst", "reader"),
        purpose="labour-market-analysis",
        agreement="DSA-LMDT-001",
        area="E08000025",
        authenticated=True,
    )
    assert jwt.get_unverified_header(token)["kid"] == "ec-new"
    # The scheme is case-insensitive (RFC 7235); optional claims may be absent.
    minimal = mint_token(auth, sub="x", dept="HMRC", roles=["analyst"], now=NOW)
    assert authenticate(f"bearer {minimal}", auth, now=NOW) == Principal(
        "x", "HMRC", ("analyst",), None, None, None, True
    )


def test_real_clock_is_the_default(keys: dict[str, tuple[Path, str]]) -> None:
    auth = config(keys)
    fresh = mint_token(auth, sub="x", dept="DWP", roles=["analyst"])
    assert authenticate(bearer(fresh), auth).authenticated
    stale = mint_token(
        auth, sub="x", dept="DWP", roles=["analyst"], ttl_s=60, now=time.time() - 600
    )
    assert refused(bearer(stale), auth, now=time.time()) == "token expired"
    with pytest.raises(Unauthenticated, match="token expired"):
        authenticate(bearer(stale), auth)


def test_fingerprint_covers_policy_attributes_only() -> None:
    a = Principal("a", "DWP", ("analyst", "reader"), "p", "DSA-LMDT-001", None, True)
    b = Principal("b", "DWP", ("reader", "analyst"), "p", "DSA-LMDT-001", None, True)
    assert a.fingerprint == b.fingerprint and hash(a.fingerprint) == hash(b.fingerprint)
    for changed in (
        Principal("a", "HMRC", a.roles, "p", "DSA-LMDT-001", None, True),
        Principal("a", "DWP", ("analyst",), "p", "DSA-LMDT-001", None, True),
        Principal("a", "DWP", a.roles, "q", "DSA-LMDT-001", None, True),
        Principal("a", "DWP", a.roles, "p", None, None, True),
        Principal("a", "DWP", a.roles, "p", "DSA-LMDT-001", "E08000025", True),
        Principal("a", "DWP", a.roles, "p", "DSA-LMDT-001", None, False),
    ):
        assert changed.fingerprint != a.fingerprint
    assert PUBLIC.fingerprint != Principal(None, None, (), None, None, None, True).fingerprint


def test_key_rotation(keys: dict[str, tuple[Path, str]]) -> None:
    old = mint_token(config(keys, signing_kid="ec-old"), sub="o", dept="DWP", roles=["a"], now=NOW)
    new = mint_token(config(keys, signing_kid="ec-new"), sub="n", dept="DWP", roles=["a"], now=NOW)
    rsa_token = mint_token(
        config(keys, signing_kid="rsa"), sub="r", dept="DWP", roles=["a"], now=NOW
    )
    auth = config(keys)
    assert authenticate(bearer(old), auth, now=NOW).sub == "o"
    assert authenticate(bearer(new), auth, now=NOW).sub == "n"
    assert authenticate(bearer(rsa_token), auth, now=NOW).sub == "r"
    # Retiring the old key retires its tokens.
    assert refused(bearer(old), config(keys, verify=("ec-new",)), NOW) == "unknown signing key"


def test_a_verified_token_is_remembered_but_not_a_refusal(
    keys: dict[str, tuple[Path, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    from gql_trust import identity

    decoded: list[str] = []
    original = identity._decode

    def counting(token: str, *args: Any) -> Any:
        decoded.append(token)
        return original(token, *args)

    monkeypatch.setattr(identity, "_decode", counting)
    auth = config(keys)
    token = mint_token(auth, sub="once", dept="DWP", roles=["analyst"], ttl_s=60, now=NOW)
    first = authenticate(bearer(token), auth, now=NOW)
    assert authenticate(bearer(token), auth, now=NOW + 1) is first and len(decoded) == 1
    assert refused(bearer(token), auth, now=NOW + 120) == "token expired"  # times: every time
    # Another configuration verifies afresh: here it no longer trusts the signing key.
    assert refused(bearer(token), config(keys, verify=("ec-old",)), NOW) == "unknown signing key"
    bad = raw_token(keys, sub="")
    assert refused(bearer(bad), auth) == refused(bearer(bad), auth)
    assert decoded == [token, bad, bad]  # a refusal is not remembered


def test_leeway(keys: dict[str, tuple[Path, str]]) -> None:
    auth = config(keys, leeway_s=5)
    token = mint_token(auth, sub="x", dept="DWP", roles=["analyst"], ttl_s=60, now=NOW)
    assert authenticate(bearer(token), auth, now=NOW + 60 + 3).authenticated
    assert refused(bearer(token), auth, now=NOW + 60 + 10) == "token expired"
    assert refused(bearer(token), config(keys, leeway_s=0), now=NOW + 60 + 3) == "token expired"
    # Issued 3 s "in the future" (a fast clock elsewhere) passes; 10 s does not.
    assert authenticate(bearer(token), auth, now=NOW - 3).authenticated
    assert refused(bearer(token), auth, now=NOW - 10) == "token is not yet valid"


def test_leeway_is_at_most_five_seconds(keys: dict[str, tuple[Path, str]]) -> None:
    with pytest.raises(ConfigError, match="leeway_s"):
        config(keys, leeway_s=6)
    with pytest.raises(ConfigError, match="leeway_s"):
        config(keys, leeway_s=-1)


def _forged_none(claims: dict[str, Any], kid: str) -> str:
    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'JWT', 'kid': kid})}.{part(claims)}."


def _forged_hmac(claims: dict[str, Any], kid: str, public_pem: str) -> str:
    """The classic key-confusion attack: HMAC-sign with the (public) verification key."""

    def part(value: bytes) -> str:
        return base64.urlsafe_b64encode(value).rstrip(b"=").decode()

    header = part(json.dumps({"alg": "HS256", "typ": "JWT", "kid": kid}).encode())
    body = part(json.dumps(claims).encode())
    mac = hmac.new(public_pem.encode(), f"{header}.{body}".encode(), hashlib.sha256).digest()
    return f"{header}.{body}.{part(mac)}"


def _tampered(token: str) -> str:
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["dept"] = "HMRC"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{forged}.{signature}"


def _signed_payload(keys: dict[str, tuple[Path, str]], payload: bytes) -> str:
    private = serialization.load_pem_private_key(keys["ec-new"][0].read_bytes(), password=None)
    return jwt.api_jws.encode(payload, private, algorithm="ES256", headers={"kid": "ec-new"})  # type: ignore[arg-type]


def _no_kid(keys: dict[str, tuple[Path, str]]) -> str:
    private = serialization.load_pem_private_key(keys["ec-new"][0].read_bytes(), password=None)
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": "x", "exp": int(NOW) + 60}
    return jwt.encode(claims, private, algorithm="ES256")  # type: ignore[arg-type]


def bad_tokens(keys: dict[str, tuple[Path, str]]) -> list[tuple[str, str, str]]:
    """(case, Authorization header, the message it must give)."""
    good = raw_token(keys)
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": "x", "roles": [], "exp": int(NOW) + 600}
    return [
        ("basic scheme", "Basic dXNlcjpwYXNz", "the Authorization header must be 'Bearer <token>'"),
        ("empty bearer", "Bearer ", "the Authorization header must be 'Bearer <token>'"),
        ("garbage", bearer("not-a-jwt"), "token is malformed"),
        ("garbage segments", bearer("aaa.bbb.ccc"), "token is malformed"),
        ("expired", bearer(raw_token(keys, exp=int(NOW) - 60)), "token expired"),
        ("no exp", bearer(raw_token(keys, exp=...)), "token has no 'exp' claim"),
        ("no sub", bearer(raw_token(keys, sub=...)), "token has no 'sub' claim"),
        ("no iss", bearer(raw_token(keys, iss=...)), "token has no 'iss' claim"),
        ("no aud", bearer(raw_token(keys, aud=...)), "token has no 'aud' claim"),
        (
            "not yet valid (nbf)",
            bearer(raw_token(keys, nbf=int(NOW) + 60)),
            "token is not yet valid",
        ),
        (
            "issued in the future",
            bearer(raw_token(keys, iat=int(NOW) + 60)),
            "token is not yet valid",
        ),
        (
            "wrong issuer",
            bearer(raw_token(keys, iss="someone-else")),
            "token is from an unknown issuer",
        ),
        (
            "wrong audience",
            bearer(raw_token(keys, aud="another-api")),
            "token is for another audience",
        ),
        ("alg none", bearer(_forged_none(claims, "ec-new")), "token algorithm is not accepted"),
        (
            "HS256 with the public key as the secret",
            bearer(_forged_hmac(claims, "ec-new", keys["ec-new"][1])),
            "token algorithm is not accepted",
        ),
        (
            "alg mismatch",
            bearer(raw_token(keys, kid="rsa", algorithm="RS256", header_kid="ec-new")),
            "token algorithm is not accepted",
        ),
        ("unknown kid", bearer(raw_token(keys, kid="stranger")), "unknown signing key"),
        ("no kid", bearer(_no_kid(keys)), "unknown signing key"),
        (
            "signed non-JSON payload",
            bearer(_signed_payload(keys, b"not json")),
            "token is malformed",
        ),
        ("sub not a string", bearer(raw_token(keys, sub=42)), "token claim 'sub' must be"),
        ("empty sub", bearer(raw_token(keys, sub="")), "token claim 'sub' must be"),
        ("tampered payload", bearer(_tampered(good)), "token signature is invalid"),
        (
            "roles not a list",
            bearer(raw_token(keys, roles="analyst")),
            "token claim 'roles' must be a list of strings",
        ),
        (
            "roles not strings",
            bearer(raw_token(keys, roles=[1, 2])),
            "token claim 'roles' must be a list of strings",
        ),
        (
            "dept not a string",
            bearer(raw_token(keys, dept=["DWP"])),
            "token claim 'dept' must be a string",
        ),
        (
            "exp not a number",
            bearer(raw_token(keys, exp="tomorrow")),
            "token claim 'exp' must be a number",
        ),
    ]


def test_every_bad_token_is_refused(keys: dict[str, tuple[Path, str]]) -> None:
    auth = config(keys)
    for case, header, message in bad_tokens(keys):
        got = refused(header, auth)
        assert got.startswith(message), (case, got)
        token = header.partition(" ")[2]
        assert len(token) < 8 or token not in got, case  # never echoed back


def test_wrongly_signed_with_a_known_kid(keys: dict[str, tuple[Path, str]]) -> None:
    # Signed by a stranger's key but claiming a configured kid.
    private = serialization.load_pem_private_key(keys["stranger"][0].read_bytes(), password=None)
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": "x", "roles": [], "exp": int(NOW) + 60}
    token = jwt.encode(claims, private, algorithm="ES256", headers={"kid": "ec-new"})  # type: ignore[arg-type]
    assert refused(bearer(token), config(keys)) == "token signature is invalid"


def test_token_without_auth_config_is_refused(keys: dict[str, tuple[Path, str]]) -> None:
    assert refused(bearer(raw_token(keys)), None) == "this server accepts no tokens"


def test_mint_token_needs_a_signing_key(keys: dict[str, tuple[Path, str]]) -> None:
    verify_only = AuthConfig(ISSUER, AUDIENCE, config(keys).keys, 5.0, None, None)
    with pytest.raises(ConfigError, match="signing_key"):
        mint_token(verify_only, sub="x", dept="DWP", roles=["analyst"])
    mismatched = AuthConfig(ISSUER, AUDIENCE, config(keys).keys, 5.0, keys["ec-old"][0], "ec-new")
    with pytest.raises(ConfigError, match="does not match"):
        mint_token(mismatched, sub="x", dept="DWP", roles=["analyst"])


# Settings


def _auth_table(**overrides: Any) -> dict[str, Any]:
    table: dict[str, Any] = {
        "issuer": "gql-trust-demo",
        "audience": "labour-market-data-trust",
        "leeway_s": 5,
        "signing_key": "keys/demo-signing-key.pem",
        "signing_kid": "demo-2026",
        "keys": [
            {
                "kid": "demo-2026",
                "algorithm": "ES256",
                "public_key": "keys/demo-signing-key.pub.pem",
            }
        ],
    }
    table.update(overrides)
    return table


def test_auth_from_dict(tmp_path: Path) -> None:
    private, public = write_demo_keys(tmp_path / "keys")

    def resolve(value: str) -> Path:
        return tmp_path / value

    assert auth_from_dict(None, resolve, "x.toml") is None
    auth = auth_from_dict(_auth_table(), resolve, "x.toml")
    assert auth is not None
    assert (auth.issuer, auth.audience, auth.leeway_s) == (
        "gql-trust-demo",
        "labour-market-data-trust",
        5.0,
    )
    assert auth.signing_key_path == private and auth.signing_kid == "demo-2026"
    assert [(k.kid, k.algorithm) for k in auth.keys] == [("demo-2026", "ES256")]
    assert auth.keys[0].public_key == public.read_text()
    token = mint_token(auth, sub="s", dept="DWP", roles=["analyst"])
    assert authenticate(bearer(token), auth).dept == "DWP"


@pytest.mark.parametrize(
    ("overrides", "says"),
    [
        ({"issuer": ""}, "'issuer'"),
        ({"audience": None}, "'audience'"),
        ({"leeway_s": 30}, "leeway_s is 30"),
        ({"leeway_s": "5"}, "leeway_s must be a number"),
        ({"keys": []}, "[[auth.keys]]"),
        ({"signing_kid": "other"}, "signing_kid 'other' names no"),
        ({"leway_s": 1}, "unknown key(s) leway_s"),
        ({"keys": [{"kid": "k", "algorithm": "HS256", "public_key": "x"}]}, "algorithm 'HS256'"),
        (
            {"keys": [{"kid": "demo-2026", "algorithm": "ES256", "public_key": "keys/nope.pem"}]},
            "does not exist",
        ),
        (
            {
                "keys": [
                    {
                        "kid": "demo-2026",
                        "algorithm": "RS256",
                        "public_key": "keys/demo-signing-key.pub.pem",
                    }
                ]
            },
            "RSA public key",
        ),
        (
            {
                "keys": [
                    {
                        "kid": "demo-2026",
                        "algorithm": "ES256",
                        "public_key": "keys/demo-signing-key.pem",
                    }
                ]
            },
            "is not a PEM public key",
        ),
    ],
)
def test_auth_config_errors(tmp_path: Path, overrides: dict[str, Any], says: str) -> None:
    write_demo_keys(tmp_path / "keys")
    with pytest.raises(ConfigError) as caught:
        auth_from_dict(_auth_table(**overrides), lambda value: tmp_path / value, "/etc/t.toml")
    assert caught.value.message.startswith("/etc/t.toml: ")
    assert says in caught.value.message


def test_write_demo_keys_keeps_an_existing_pair(tmp_path: Path) -> None:
    private, public = write_demo_keys(tmp_path / "keys")
    assert (private.name, public.name) == ("demo-signing-key.pem", "demo-signing-key.pub.pem")
    assert os.stat(private).st_mode & 0o777 == 0o600
    assert "PRIVATE KEY" in private.read_text() and "PUBLIC KEY" in public.read_text()
    before = private.read_bytes(), public.read_bytes()
    assert write_demo_keys(tmp_path / "keys") == (private, public)
    assert (private.read_bytes(), public.read_bytes()) == before
    public.unlink()  # half a pair is replaced by a new pair
    write_demo_keys(tmp_path / "keys")
    assert private.read_bytes() != before[0] and public.is_file()
