"""Identity: a bearer JWT becomes a ``Principal``; no header is the public principal.

Tokens are verified with PyJWT against the keys in the ``[auth]`` table of the
settings file; the token header's ``kid`` picks the key, so keys can be rotated by
listing the old and the new one together. A token that is sent but is bad in any
way is refused (``Unauthenticated``), never treated as public.
"""

from __future__ import annotations

import functools
import math
import os
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from .errors import ConfigError, Unauthenticated
from .identity_providers import ProviderKeys

Algorithm = Literal["ES256", "RS256"]
ALGORITHMS: tuple[Algorithm, ...] = ("ES256", "RS256")
MAX_LEEWAY_S = 5.0
DEMO_PRIVATE_KEY = "demo-signing-key.pem"
DEMO_PUBLIC_KEY = "demo-signing-key.pub.pem"


@dataclass(frozen=True)
class Principal:
    """Who is asking, as far as policy is concerned."""

    sub: str | None
    dept: str | None
    roles: tuple[str, ...]
    purpose: str | None
    agreement: str | None
    area: str | None
    authenticated: bool

    @property
    def fingerprint(self) -> tuple[Any, ...]:
        """Every attribute a policy decision may depend on (not ``sub``): a cache key."""
        return (
            self.dept,
            tuple(sorted(self.roles)),
            self.purpose,
            self.agreement,
            self.area,
            self.authenticated,
        )


PUBLIC = Principal(None, None, (), None, None, None, False)


@dataclass(frozen=True)
class VerificationKey:
    kid: str
    algorithm: Algorithm
    public_key: str  # PEM text


@dataclass(frozen=True)
class ClaimNames:
    """``[auth.claims]``: the token claim each principal attribute is read from, for
    providers whose names differ (``dept = "org"``, ``roles = "groups"``). A name with
    dots that is not itself a claim is a path into nested claims (``realm_access.roles``)."""

    dept: str = "dept"
    roles: str = "roles"
    purpose: str = "purpose"
    agreement: str = "agreement"
    area: str = "area"


CLAIM_TARGETS = tuple(f.name for f in fields(ClaimNames))


@dataclass(frozen=True)
class AuthConfig:
    issuer: str
    audience: str
    keys: tuple[VerificationKey, ...]
    leeway_s: float = MAX_LEEWAY_S
    signing_key_path: Path | None = None  # private PEM, read only by `gql-trust token`
    signing_kid: str | None = None
    jwks_url: str | None = None  # an identity provider's key set
    oidc_issuer: str | None = None  # ... or found by OpenID discovery
    claims: ClaimNames = field(default_factory=lambda: ClaimNames())

    def __post_init__(self) -> None:
        if not 0 <= self.leeway_s <= MAX_LEEWAY_S:
            raise ConfigError(
                f"[auth] leeway_s is {self.leeway_s}; use 0 to {MAX_LEEWAY_S:g} seconds"
            )

    def key(self, kid: str) -> VerificationKey | None:
        return next((key for key in self.keys if key.kid == kid), None)


# Settings


_AUTH_FIELDS = {
    "issuer",
    "audience",
    "leeway_s",
    "signing_key",
    "signing_kid",
    "keys",
    "jwks_url",
    "oidc_issuer",
    "claims",
}
_KEY_FIELDS = {"kid", "algorithm", "public_key"}


def auth_from_dict(raw: Any, resolve: Callable[[str], Path], where: str) -> AuthConfig | None:
    """Parse the ``[auth]`` table of a settings file (``None`` when there is none)."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: [auth] must be a table")
    _no_unknown(raw, _AUTH_FIELDS, where, "[auth]")
    jwks_url, oidc_issuer = _provider(raw, where)
    if oidc_issuer is not None and "issuer" not in raw:
        issuer = oidc_issuer  # the provider's tokens name it
    else:
        issuer = _text(raw, "issuer", where, "[auth]")
    audience = _text(raw, "audience", where, "[auth]")
    leeway = raw.get("leeway_s", MAX_LEEWAY_S)
    if isinstance(leeway, bool) or not isinstance(leeway, int | float):
        raise ConfigError(f"{where}: [auth] leeway_s must be a number of seconds")
    if not 0 <= leeway <= MAX_LEEWAY_S:
        raise ConfigError(
            f"{where}: [auth] leeway_s is {leeway}; clock-skew leeway must be "
            f"0 to {MAX_LEEWAY_S:g} seconds"
        )
    keys_raw = raw.get("keys", [] if jwks_url or oidc_issuer else None)
    if not isinstance(keys_raw, list) or not (keys_raw or jwks_url or oidc_issuer):
        raise ConfigError(
            f"{where}: [auth] needs at least one [[auth.keys]] table "
            "(kid, algorithm, public_key) to verify tokens with, or an identity provider "
            "(jwks_url or oidc_issuer)"
        )
    keys = tuple(_key(body, i, resolve, where) for i, body in enumerate(keys_raw))
    kids = [key.kid for key in keys]
    duplicates = sorted({kid for kid in kids if kids.count(kid) > 1})
    if duplicates:
        raise ConfigError(f"{where}: [[auth.keys]] repeats kid {', '.join(duplicates)}")
    signing_key = raw.get("signing_key")
    if signing_key is not None and (not isinstance(signing_key, str) or not signing_key):
        raise ConfigError(f"{where}: [auth] signing_key must be a file path")
    signing_kid = raw.get("signing_kid")
    if signing_kid is not None:
        signing_kid = _text(raw, "signing_kid", where, "[auth]")
        if signing_kid not in kids:
            raise ConfigError(
                f"{where}: [auth] signing_kid {signing_kid!r} names no [[auth.keys]] entry "
                f"(kids: {', '.join(kids)})"
            )
    elif signing_key is not None:
        if len(keys) > 1:
            raise ConfigError(
                f"{where}: [auth] signing_kid is needed with signing_key when there are "
                "several [[auth.keys]]"
            )
        signing_kid = keys[0].kid
    return AuthConfig(
        issuer=issuer,
        audience=audience,
        keys=keys,
        leeway_s=float(leeway),
        signing_key_path=resolve(signing_key) if signing_key else None,
        signing_kid=signing_kid,
        jwks_url=jwks_url,
        oidc_issuer=oidc_issuer,
        claims=_claim_names(raw.get("claims"), where),
    )


def _provider(raw: dict[str, Any], where: str) -> tuple[str | None, str | None]:
    """``jwks_url`` or ``oidc_issuer`` (at most one), each an http(s) URL."""
    chosen = {name: raw[name] for name in ("jwks_url", "oidc_issuer") if name in raw}
    if len(chosen) > 1:
        raise ConfigError(f"{where}: [auth] takes jwks_url or oidc_issuer, not both")
    for name, value in chosen.items():
        if not isinstance(value, str) or not value.startswith(("https://", "http://")):
            raise ConfigError(f"{where}: [auth] {name} must be an https:// (or http://) URL")
    return chosen.get("jwks_url"), chosen.get("oidc_issuer")


def _claim_names(raw: Any, where: str) -> ClaimNames:
    if raw is None:
        return ClaimNames()
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: [auth.claims] must be a table")
    _no_unknown(raw, set(CLAIM_TARGETS), where, "[auth.claims]")
    for target in raw:
        _text(raw, target, where, "[auth.claims]")
    return ClaimNames(**raw)


def _key(body: Any, index: int, resolve: Callable[[str], Path], where: str) -> VerificationKey:
    table = f"[[auth.keys]] #{index + 1}"
    if not isinstance(body, dict):
        raise ConfigError(f"{where}: {table} must be a table")
    _no_unknown(body, _KEY_FIELDS, where, table)
    kid = _text(body, "kid", where, table)
    table = f"[[auth.keys]] kid {kid!r}"
    algorithm = body.get("algorithm")
    if algorithm not in ALGORITHMS:
        raise ConfigError(
            f"{where}: {table} has algorithm {algorithm!r}; use one of {', '.join(ALGORITHMS)}"
        )
    value = _text(body, "public_key", where, table)
    if value.lstrip().startswith("-----BEGIN"):
        pem = value
    else:
        path = resolve(value)
        try:
            pem = path.read_text(encoding="ascii")
        except FileNotFoundError:
            raise ConfigError(f"{where}: {table}: public_key file {path} does not exist") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{where}: {table}: cannot read public_key {path}: {exc}") from exc
    try:
        _public_key(pem, algorithm)
    except ValueError as exc:
        raise ConfigError(f"{where}: {table}: public_key {exc}") from None
    return VerificationKey(kid=kid, algorithm=algorithm, public_key=pem)


def _text(table: dict[str, Any], name: str, where: str, label: str) -> str:
    value = table.get(name)
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{where}: {label} needs '{name}' (a non-empty string)")
    return value


def _no_unknown(table: dict[str, Any], known: set[str], where: str, label: str) -> None:
    unknown = sorted(set(table) - known)
    if unknown:
        raise ConfigError(
            f"{where}: {label} has unknown key(s) {', '.join(unknown)}; "
            f"known: {', '.join(sorted(known))}"
        )


@functools.lru_cache(maxsize=64)
def _public_key(pem: str, algorithm: str) -> Any:
    """The loaded key object (parsed once per PEM text), checked against its algorithm."""
    try:
        key = serialization.load_pem_public_key(pem.encode("ascii"))
    except (ValueError, TypeError, UnicodeEncodeError):
        raise ValueError("is not a PEM public key") from None
    if algorithm == "ES256" and not (
        isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1)
    ):
        raise ValueError("is not a P-256 EC public key, which ES256 needs")
    if algorithm == "RS256" and not (isinstance(key, rsa.RSAPublicKey) and key.key_size >= 2048):
        raise ValueError("is not an RSA public key of at least 2048 bits, which RS256 needs")
    return key


# Verifying


def authenticate(
    authorization_header: str | None, auth: AuthConfig | None, now: float | None = None
) -> Principal:
    """The principal a request's ``Authorization`` header proves, or ``PUBLIC`` without one,
    verified with the configured ``[[auth.keys]]`` (see ``authenticate_request`` for an
    identity provider's keys).

    Raises ``Unauthenticated`` for anything else: a header that is not ``Bearer <jwt>``,
    or a token that is malformed, expired, not yet valid, for another issuer or audience,
    unsigned, signed by an unknown key or wrongly signed. Messages never echo the token.
    """
    token = _bearer(authorization_header, auth)
    if token is None:
        return PUBLIC
    assert auth is not None
    known = _cached(token, auth)
    if known is None:
        header = _header(token)
        known = _verify(token, header, _local_key(header, auth), auth)
    return _current(known, auth, now)


async def authenticate_request(
    authorization_header: str | None,
    auth: AuthConfig | None,
    provider: ProviderKeys | None,
    now: float | None = None,
) -> Principal:
    """``authenticate``, with the identity provider's keys too: a ``kid`` that is not among
    ``[[auth.keys]]`` is looked up in the provider's key set (fetched again if unknown)."""
    token = _bearer(authorization_header, auth)
    if token is None:
        return PUBLIC
    assert auth is not None
    known = _cached(token, auth)
    if known is None:
        header = _header(token)
        key = _local_key(header, auth)
        kid = header.get("kid")
        if key is None and provider is not None and isinstance(kid, str):
            found = await provider.get(kid)
            key = (found.algorithm, found.key) if found is not None else None
        known = _verify(token, header, key, auth)
    return _current(known, auth, now)


def _bearer(authorization_header: str | None, auth: AuthConfig | None) -> str | None:
    if authorization_header is None:
        return None
    scheme, _, token = authorization_header.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or " " in token:
        raise Unauthenticated("the Authorization header must be 'Bearer <token>'")
    if auth is None:
        raise Unauthenticated("this server accepts no tokens")
    return token


# Parsing and checking a token costs more than the rest of a small request, and clients
# reuse a token: keep what recently verified tokens proved. Refusals are not kept, and
# times are checked on every request, so an expired token is refused even when cached.
_VERIFIED: OrderedDict[tuple[str, AuthConfig], tuple[dict[str, Any], Principal]] = OrderedDict()
_VERIFIED_MAX = 4_096


def _cached(token: str, auth: AuthConfig) -> tuple[dict[str, Any], Principal] | None:
    known = _VERIFIED.get((token, auth))
    if known is not None:
        _VERIFIED.move_to_end((token, auth))
    return known


def _current(
    known: tuple[dict[str, Any], Principal], auth: AuthConfig, now: float | None
) -> Principal:
    claims, principal = known
    _check_times(claims, time.time() if now is None else now, auth.leeway_s)
    return principal


def _header(token: str) -> dict[str, Any]:
    try:
        return jwt.get_unverified_header(token)
    except jwt.InvalidTokenError:
        raise Unauthenticated("token is malformed") from None


def _local_key(header: dict[str, Any], auth: AuthConfig) -> tuple[str, Any] | None:
    """(algorithm, key object) of the configured key the token's ``kid`` names."""
    kid = header.get("kid")
    key = auth.key(kid) if isinstance(kid, str) else None
    if key is None:
        return None
    return key.algorithm, _public_key(key.public_key, key.algorithm)


def _verify(
    token: str, header: dict[str, Any], key: tuple[str, Any] | None, auth: AuthConfig
) -> tuple[dict[str, Any], Principal]:
    if key is None:
        raise Unauthenticated("unknown signing key")
    algorithm, public_key = key
    if header.get("alg") != algorithm:
        raise Unauthenticated(f"token algorithm is not accepted; this key signs {algorithm}")
    claims = _decode(token, algorithm, public_key, auth)
    sub = claims["sub"]
    if not isinstance(sub, str) or not sub:
        raise Unauthenticated("token claim 'sub' must be a non-empty string")
    names = auth.claims
    principal = Principal(
        sub=sub,
        dept=_claim(claims, names.dept),
        roles=_roles(claims, names.roles),
        purpose=_claim(claims, names.purpose),
        agreement=_claim(claims, names.agreement),
        area=_claim(claims, names.area),
        authenticated=True,
    )
    _VERIFIED[(token, auth)] = (claims, principal)
    if len(_VERIFIED) > _VERIFIED_MAX:
        _VERIFIED.popitem(last=False)
    return claims, principal


def _decode(token: str, algorithm: str, public_key: Any, auth: AuthConfig) -> dict[str, Any]:
    # Time claims are checked by _check_times (PyJWT's own checks cannot take `now`),
    # and `sub` by authenticate (PyJWT < 2.10 does not check its type).
    options: Any = {
        "require": ["exp", "sub", "iss", "aud"],
        "verify_exp": False,
        "verify_nbf": False,
        "verify_iat": False,
        "verify_sub": False,
    }
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            public_key,
            algorithms=[algorithm],
            audience=auth.audience,
            issuer=auth.issuer,
            leeway=auth.leeway_s,
            options=options,
        )
    except jwt.InvalidSignatureError:
        raise Unauthenticated("token signature is invalid") from None
    except jwt.InvalidAlgorithmError:
        raise Unauthenticated("token algorithm is not accepted") from None
    except jwt.MissingRequiredClaimError as exc:
        raise Unauthenticated(f"token has no '{exc.claim}' claim") from None
    except jwt.InvalidAudienceError:
        raise Unauthenticated("token is for another audience") from None
    except jwt.InvalidIssuerError:
        raise Unauthenticated("token is from an unknown issuer") from None
    except jwt.DecodeError:
        raise Unauthenticated("token is malformed") from None
    except jwt.InvalidTokenError:
        raise Unauthenticated("token is invalid") from None
    return claims


def _check_times(claims: dict[str, Any], now: float, leeway: float) -> None:
    """``exp``, ``nbf`` and ``iat`` with PyJWT's semantics, against ``now`` +/- leeway."""
    for name in ("exp", "nbf", "iat"):
        value = claims.get(name)
        if name in claims and (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            raise Unauthenticated(f"token claim '{name}' must be a number")
    if claims["exp"] <= now - leeway:
        raise Unauthenticated("token expired")
    if any(name in claims and claims[name] > now + leeway for name in ("nbf", "iat")):
        raise Unauthenticated("token is not yet valid")


def _lookup(claims: dict[str, Any], name: str) -> Any:
    """A claim by name, or by a dotted path into nested claims when no claim has the name."""
    if name in claims or "." not in name:
        return claims.get(name)
    value: Any = claims
    for part in name.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _claim(claims: dict[str, Any], name: str) -> str | None:
    value = _lookup(claims, name)
    if value is not None and not isinstance(value, str):
        raise Unauthenticated(f"token claim '{name}' must be a string")
    return value


def _roles(claims: dict[str, Any], name: str = "roles") -> tuple[str, ...]:
    roles = _lookup(claims, name)
    if roles is None:
        roles = []
    if not isinstance(roles, list) or not all(isinstance(role, str) for role in roles):
        raise Unauthenticated(f"token claim '{name}' must be a list of strings")
    return tuple(dict.fromkeys(roles))


# Minting (the demo and tests)


def mint_token(
    auth: AuthConfig,
    *,
    sub: str,
    dept: str | None,
    roles: Sequence[str],
    purpose: str | None = None,
    agreement: str | None = None,
    area: str | None = None,
    ttl_s: int = 3600,
    now: float | None = None,
) -> str:
    """A token signed with ``[auth] signing_key``, valid for ``ttl_s`` seconds from ``now``."""
    if isinstance(roles, str):
        raise TypeError("roles must be a sequence of strings, not one string")
    if ttl_s <= 0:
        raise ValueError(f"ttl_s must be a positive number of seconds, not {ttl_s!r}")
    key = auth.key(auth.signing_kid) if auth.signing_kid else None
    if auth.signing_key_path is None or key is None:
        raise ConfigError(
            "[auth] has no signing_key (and signing_kid): this server can verify "
            "tokens but not issue them"
        )
    issued = int(time.time() if now is None else now)
    claims: dict[str, Any] = {
        "iss": auth.issuer,
        "aud": auth.audience,
        "sub": sub,
        "dept": dept,
        "roles": list(roles),
        "iat": issued,
        "exp": issued + int(ttl_s),
    }
    optional = {"purpose": purpose, "agreement": agreement, "area": area}
    claims.update({name: value for name, value in optional.items() if value is not None})
    return jwt.encode(
        claims,
        _signing_key(auth.signing_key_path, key),
        algorithm=key.algorithm,
        headers={"kid": key.kid},
    )


def _signing_key(path: Path, key: VerificationKey) -> Any:
    try:
        private = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except FileNotFoundError:
        raise ConfigError(f"[auth] signing_key file {path} does not exist") from None
    except (OSError, ValueError, TypeError) as exc:
        raise ConfigError(
            f"[auth] signing_key {path} is not an unencrypted PEM private key: {exc}"
        ) from None
    public = _public_key(key.public_key, key.algorithm)
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    der = serialization.Encoding.DER
    if private.public_key().public_bytes(der, spki) != public.public_bytes(der, spki):
        raise ConfigError(
            f"[auth] signing_key {path} does not match the public key of kid {key.kid!r}"
        )
    return private


def write_demo_keys(directory: Path) -> tuple[Path, Path]:
    """An ES256 (P-256) key pair for the demo: (private PEM, chmod 600; public PEM).

    An existing pair is kept, so tokens already issued stay valid.
    """
    directory = Path(directory)
    private_path = directory / DEMO_PRIVATE_KEY
    public_path = directory / DEMO_PUBLIC_KEY
    if private_path.is_file() and public_path.is_file():
        return private_path, public_path
    directory.mkdir(parents=True, exist_ok=True)
    private = ec.generate_private_key(ec.SECP256R1())
    private_pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public_pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    descriptor = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(private_pem)
    private_path.chmod(0o600)
    public_path.write_bytes(public_pem)
    return private_path, public_path


def provider_keys(auth: AuthConfig | None) -> ProviderKeys | None:
    """The key cache of ``[auth] jwks_url`` / ``oidc_issuer``, if one is configured."""
    if auth is None or (auth.jwks_url is None and auth.oidc_issuer is None):
        return None
    return ProviderKeys(jwks_url=auth.jwks_url, oidc_issuer=auth.oidc_issuer)
