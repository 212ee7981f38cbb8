"""Verification keys from an identity provider: a JWKS URL, or OpenID discovery.

Departments' identity providers (Entra ID, Keycloak, Cognito, GOV.UK sign-in) publish
their signing keys as a JSON Web Key Set and rotate them. ``ProviderKeys`` fetches the
set (for ``[auth] oidc_issuer``, from the ``jwks_uri`` of the issuer's
``/.well-known/openid-configuration``), keeps it, and fetches it again when a token
names a ``kid`` it does not hold (a rotation), at most once per ``refetch_s`` so
that tokens with made-up kids cannot make the server hammer the provider. A set older
than ``max_age_s`` is refreshed on the next request, so a key the provider withdraws
stops verifying; while the provider cannot be reached the keys already held are kept.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import jwt

from .errors import Unauthenticated

log = logging.getLogger("gql_trust.identity")

REFETCH_S = 30.0  # the least time between two fetches of the key set
MAX_AGE_S = 300.0  # a key set older than this is refreshed on the next request
FETCH_TIMEOUT_S = 5.0
MAX_DOCUMENT_BYTES = 1_000_000
DISCOVERY_PATH = "/.well-known/openid-configuration"
# Signature algorithms a provider's key may use (never "none" or an HMAC secret).
PROVIDER_ALGORITHMS = frozenset({"ES256", "ES384", "RS256", "RS384", "RS512", "PS256", "EdDSA"})
_DEFAULT_ALGORITHM: dict[tuple[Any, Any], str] = {
    ("EC", "P-256"): "ES256",
    ("EC", "P-384"): "ES384",
    ("RSA", None): "RS256",
}

Fetch = Callable[[str], Awaitable[Any]]


@dataclass(frozen=True)
class ProviderKey:
    kid: str
    algorithm: str
    key: Any  # a cryptography public key object


class ProviderError(Exception):
    """The provider's discovery document or key set could not be fetched or read."""


async def fetch_json(url: str) -> Any:
    """GET ``url`` and parse it as JSON (in a thread: urllib blocks)."""
    return await asyncio.to_thread(_fetch_json, url)


def _fetch_json(url: str) -> Any:
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=FETCH_TIMEOUT_S) as response:
            body = response.read(MAX_DOCUMENT_BYTES + 1)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise ProviderError(f"cannot fetch {url}: {exc}") from exc
    if len(body) > MAX_DOCUMENT_BYTES:
        raise ProviderError(f"{url} is larger than {MAX_DOCUMENT_BYTES:,} bytes")
    try:
        return json.loads(body)
    except ValueError as exc:
        raise ProviderError(f"{url} is not JSON") from exc


def parse_jwks(document: Any) -> dict[str, ProviderKey]:
    """kid -> key, for the signing keys of a JWKS document; keys that are not for
    signatures, have no kid, or use another algorithm are left out."""
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise ProviderError("the key set is not a JWKS document (no 'keys' list)")
    keys: dict[str, ProviderKey] = {}
    for jwk in document["keys"]:
        if not isinstance(jwk, dict) or jwk.get("use", "sig") != "sig":
            continue
        kid = jwk.get("kid")
        algorithm = jwk.get("alg") or _DEFAULT_ALGORITHM.get(
            (jwk.get("kty"), jwk.get("crv") if jwk.get("kty") == "EC" else None)
        )
        if not isinstance(kid, str) or not kid or algorithm not in PROVIDER_ALGORITHMS:
            continue
        if "d" in jwk or "k" in jwk:  # a private or symmetric key has no place here
            continue
        try:
            key = jwt.PyJWK(jwk, algorithm=algorithm).key
        except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError, TypeError):
            log.warning("skipping unusable key %r in the identity provider's key set", kid)
            continue
        keys[kid] = ProviderKey(kid, algorithm, key)
    return keys


class ProviderKeys:
    """The provider's current signing keys, fetched when needed (see the module doc)."""

    def __init__(
        self,
        *,
        jwks_url: str | None = None,
        oidc_issuer: str | None = None,
        refetch_s: float = REFETCH_S,
        max_age_s: float = MAX_AGE_S,
        fetch: Fetch = fetch_json,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if (jwks_url is None) == (oidc_issuer is None):
            raise ValueError("give exactly one of jwks_url and oidc_issuer")
        self.jwks_url = jwks_url
        self.oidc_issuer = oidc_issuer
        self.refetch_s = refetch_s
        self.max_age_s = max_age_s
        self._fetch = fetch
        self.clock = clock  # replaceable in tests
        self._keys: dict[str, ProviderKey] = {}
        self._fetched_at: float | None = None  # last successful fetch
        self._tried_at: float | None = None  # last attempt, successful or not
        self._lock = asyncio.Lock()
        self._discovered: str | None = None  # the issuer's jwks_uri, once read
        self.fetches = 0  # key set fetches attempted (for tests and metrics)

    async def get(self, kid: str) -> ProviderKey | None:
        """The key named ``kid``, fetching the set again if it is unknown or the set is old
        (and the last attempt is at least ``refetch_s`` ago)."""
        key = self._keys.get(kid)
        if key is not None and not self._stale():
            return key
        async with self._lock:  # concurrent requests with a new kid share one fetch
            if self._may_fetch() and (kid not in self._keys or self._stale()):
                await self._refresh()
        key = self._keys.get(kid)
        if key is None and self._fetched_at is None:
            raise Unauthenticated("the identity provider's signing keys cannot be fetched")
        return key

    def _stale(self) -> bool:
        return self._fetched_at is None or self.clock() - self._fetched_at >= self.max_age_s

    def _may_fetch(self) -> bool:
        return self._tried_at is None or self.clock() - self._tried_at >= self.refetch_s

    async def _refresh(self) -> None:
        self._tried_at = self.clock()
        self.fetches += 1
        try:
            keys = parse_jwks(await self._fetch(await self._jwks_uri()))
        except ProviderError as exc:
            log.warning(
                "identity provider keys not refreshed (keeping %d): %s", len(self._keys), exc
            )
            return
        self._keys, self._fetched_at = keys, self.clock()

    async def _jwks_uri(self) -> str:
        if self.jwks_url is not None:
            return self.jwks_url
        if self._discovered is not None:
            return self._discovered
        assert self.oidc_issuer is not None
        url = self.oidc_issuer.rstrip("/") + DISCOVERY_PATH
        document = await self._fetch(url)
        if not isinstance(document, dict):
            raise ProviderError(f"{url} is not an OpenID provider configuration")
        # OpenID Connect Discovery 1.0, 4.3: the issuer must be exactly the one asked for.
        if document.get("issuer") != self.oidc_issuer:
            raise ProviderError(
                f"{url} names issuer {document.get('issuer')!r}, not {self.oidc_issuer!r}"
            )
        uri = document.get("jwks_uri")
        if not isinstance(uri, str) or not uri.startswith(("https://", "http://")):
            raise ProviderError(f"{url} has no jwks_uri")
        self._discovered = uri
        return uri


__all__ = ["ProviderError", "ProviderKey", "ProviderKeys", "fetch_json", "parse_jwks"]
