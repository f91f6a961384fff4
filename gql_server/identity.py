"""Tokens of the organizations' identity providers, verified against the keys each publishes.

Keys come from the provider's JWKS (its `jwks_url`, or the `jwks_uri` of its OpenID Connect
discovery document) through PyJWT's `PyJWKClient`, which keeps them `jwks_cache_seconds` and
fetches them again when a token names a key (`kid`) it does not hold, as after the provider
rotated its keys; at most once per `jwks_refresh_cooldown_seconds`, so a flood of tokens with
made-up kids costs the provider one request per cooldown, not one each. The client fetches with
blocking I/O: it runs in a worker thread, and only for a token not seen before (`gql_server.auth`
keeps verified tokens).

What a verified token says (subject, organization, role, and what a first-time user is created
with) is read by the provider's claim mapping (`gql_server.providers`).
"""

import asyncio
import json
import time
import urllib.request
from dataclasses import dataclass
from typing import Any
from urllib.error import URLError

import jwt
from jwt import PyJWK, PyJWKClient
from jwt.exceptions import PyJWKClientConnectionError, PyJWKClientError, PyJWKSetError

from gql_server.auth import Unauthenticated
from gql_server.providers import MISSING, ClaimPath, IdentityProvider, claim, is_uuid
from models import Role
from models.user import EXTERNAL_ID_MAX

FETCH_TIMEOUT_SECONDS = 5.0
# How PyJWKClient says that the keys, fetched again if the cooldown allowed, hold no such kid
# (its other errors are the provider's: no JSON, no signing keys).
NO_SUCH_KEY = "Unable to find a signing key that matches"
_NOT_ALLOWED = "the token's algorithm is not allowed (allowed: {})"
# The most senior role wins when a token carries several that map.
_SENIORITY = (Role.ADMIN, Role.INSTRUCTOR, Role.STUDENT)


class ProviderUnavailable(Exception):
    """A provider's keys cannot be fetched right now; the request is answered 503."""


@dataclass(frozen=True, slots=True)
class Identity:
    """Who a provider's verified token says signs in, before it is matched to a user."""

    provider: IdentityProvider
    subject: str
    organization: str  # an id or a slug, as `provider.organization_by` says (or fixed)
    by_slug: bool
    role: Role  # mapped from the provider's role names; STUDENT when none maps
    email: str | None
    name: str | None
    username: str | None
    expires_at: float  # seconds since the epoch, clock skew included


class ProviderKeys:
    """One provider's published keys."""

    def __init__(self, provider: IdentityProvider) -> None:
        self.provider = provider
        self._client: PyJWKClient | None = None
        self._lock = asyncio.Lock()
        self._failed_at: float | None = None

    async def signing_key(self, kid: str) -> PyJWK:
        client = await self._jwks_client()
        try:
            return await asyncio.to_thread(client.get_signing_key, kid)
        except PyJWKClientError as error:
            if isinstance(error, PyJWKClientConnectionError) or not str(error).startswith(
                NO_SUCH_KEY
            ):
                raise ProviderUnavailable(f"{self.provider.issuer}: {error}") from None
            raise Unauthenticated(
                f"the token was signed with a key {self.provider.issuer} does not publish"
            ) from None
        except (PyJWKSetError, ValueError) as error:  # not JSON, or no key of it usable
            raise ProviderUnavailable(f"{self.provider.issuer}: {error}") from None

    async def _jwks_client(self) -> PyJWKClient:
        if self._client is not None:
            return self._client
        async with self._lock:
            if self._client is None:
                self._client = PyJWKClient(
                    await self._jwks_url(),
                    cache_jwk_set=True,
                    lifespan=self.provider.jwks_cache_seconds,
                    timeout=FETCH_TIMEOUT_SECONDS,
                    cooldown_duration=self.provider.jwks_refresh_cooldown_seconds,
                )
        return self._client

    async def _jwks_url(self) -> str:
        """`jwks_url`, or discovered: tried again after a failure only once the cooldown passed."""
        if self.provider.jwks_url is not None:
            return self.provider.jwks_url
        cooldown = self.provider.jwks_refresh_cooldown_seconds
        if self._failed_at is not None and time.monotonic() - self._failed_at < cooldown:
            raise ProviderUnavailable(f"{self.provider.issuer}: discovery failed moments ago")
        try:
            document = await asyncio.to_thread(_fetch_json, self.provider.discovery_url)
        except (URLError, TimeoutError, OSError, ValueError) as error:
            self._failed_at = time.monotonic()
            raise ProviderUnavailable(f"{self.provider.discovery_url}: {error}") from None
        # OpenID Connect Discovery 1.0, 4.3: the document must name the issuer it was asked for.
        if document.get("issuer") != self.provider.issuer or not isinstance(
            document.get("jwks_uri"), str
        ):
            self._failed_at = time.monotonic()
            raise ProviderUnavailable(
                f"{self.provider.discovery_url} does not describe issuer {self.provider.issuer}"
                " with a jwks_uri"
            )
        url: str = document["jwks_uri"]
        if self.provider.issuer.startswith("https://") and not url.startswith("https://"):
            self._failed_at = time.monotonic()  # keys over plain HTTP could be anyone's
            raise ProviderUnavailable(f"{self.provider.discovery_url}: jwks_uri is not https")
        return url


def _fetch_json(url: str) -> dict[str, Any]:
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    with urllib.request.urlopen(request, timeout=FETCH_TIMEOUT_SECONDS) as response:
        document = json.load(response)
    if not isinstance(document, dict):
        raise ValueError("not a JSON object")
    return document


class Providers:
    """Every configured provider, by issuer."""

    def __init__(self, providers: list[IdentityProvider]) -> None:
        self._keys = {provider.issuer: ProviderKeys(provider) for provider in providers}

    def __bool__(self) -> bool:
        return bool(self._keys)

    def issues(self, issuer: object) -> bool:
        return isinstance(issuer, str) and issuer in self._keys

    async def verify(self, token: str, issuer: str) -> Identity:
        """The identity a token of `issuer` (read unverified, to find its keys) carries."""
        keys = self._keys[issuer]
        provider = keys.provider
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError:
            raise Unauthenticated("the token is invalid") from None
        # Refused before any key is looked up: such a token costs the provider nothing.
        if header.get("alg") not in provider.algorithms:
            raise Unauthenticated(_NOT_ALLOWED.format(", ".join(provider.algorithms)))
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise Unauthenticated("the token names no signing key (kid)")
        key = await keys.signing_key(kid)
        try:
            payload = jwt.decode(
                token,
                key,
                algorithms=provider.algorithms,
                audience=provider.audience,
                issuer=provider.issuer,
                leeway=provider.clock_skew_seconds,
                options={"require": ["exp", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("the token has expired") from None
        except jwt.ImmatureSignatureError:
            raise Unauthenticated("the token is not valid yet (nbf, iat)") from None
        except jwt.InvalidAudienceError:
            raise Unauthenticated(
                f"the token is for another audience (expected {', '.join(provider.audience)})"
            ) from None
        except jwt.InvalidAlgorithmError:  # the key's own algorithm is another
            raise Unauthenticated(_NOT_ALLOWED.format(", ".join(provider.algorithms))) from None
        except jwt.MissingRequiredClaimError as error:
            raise Unauthenticated(f"the token has no `{error.claim}` claim") from None
        except jwt.InvalidTokenError:
            raise Unauthenticated("the token is invalid") from None
        return identity(provider, payload)


def identity(provider: IdentityProvider, payload: dict[str, Any]) -> Identity:
    """What a verified payload says, by the provider's claim mapping."""
    subject = _text(payload, provider.subject_claim)
    if subject is None:
        raise Unauthenticated(f"the token has no subject (claim {_named(provider.subject_claim)})")
    if len(subject) > EXTERNAL_ID_MAX:
        raise Unauthenticated(f"the token's subject is longer than {EXTERNAL_ID_MAX} characters")
    if provider.organization is not None:
        organization = provider.organization
        by_slug = not is_uuid(organization)
    else:
        assert provider.organization_claim is not None
        found = _text(payload, provider.organization_claim)
        if found is None:
            raise Unauthenticated(
                f"the token names no organization (claim {_named(provider.organization_claim)})"
            )
        organization, by_slug = found, provider.organization_by == "slug"
    return Identity(
        provider=provider,
        subject=subject,
        organization=organization,
        by_slug=by_slug,
        role=_role(provider, payload),
        email=_text(payload, provider.email_claim),
        name=_text(payload, provider.name_claim),
        username=_text(payload, provider.username_claim),
        expires_at=float(payload["exp"]) + provider.clock_skew_seconds,
    )


def _role(provider: IdentityProvider, payload: dict[str, Any]) -> Role:
    if provider.role_claim is None:
        return Role.STUDENT
    value = claim(payload, provider.role_claim)
    names = [
        name for name in (value if isinstance(value, list) else [value]) if isinstance(name, str)
    ]
    # A name the mapping leaves out counts when it is one of ours (`ADMIN`, ...).
    mapped = {provider.roles.get(name) or Role.__members__.get(name) for name in names}
    return next((role for role in _SENIORITY if role in mapped), Role.STUDENT)


def _text(payload: dict[str, Any], path: ClaimPath) -> str | None:
    value = claim(payload, path)
    if value is MISSING or value is None or isinstance(value, dict | list | bool):
        return None
    # PostgreSQL text holds no NUL; a claim's value is the provider's, not ours to refuse.
    text = str(value).replace("\x00", "").strip()
    return text or None


def _named(path: ClaimPath) -> str:
    return f"`{path}`" if isinstance(path, str) else f"`{json.dumps(path)}`"
