"""The organizations' identity providers (`GQL_IDENTITY_PROVIDERS`): what each one is trusted for,
and where its tokens say who signs in.

One entry per issuer (Keycloak realm, Auth0 tenant, Cognito pool, Entra tenant, Google...):

- its keys: `jwks_url`, or OpenID Connect discovery from `issuer` when left out;
- what a token must be: `audience`, `algorithms` (asymmetric only: a provider publishes public
  keys, and an HMAC algorithm would take one of them for a shared secret), `clock_skew_seconds`;
- the organization: fixed (`organization`, by id or slug), or read from a claim
  (`organization_claim`, holding an id or a slug as `organization_by` says), then limited to
  `organizations` when given;
- the user: `subject_claim` (matched to `users.external_id`), and for a user created at first
  sign-in (`create_users`) its `email_claim`, `name_claim`, `username_claim`, and its role:
  `role_claim` (a name or a list of names) mapped to ours by `roles`.

A claim is named by its path: `org_id`, `realm_access.roles`, or a namespaced claim such as
`https://example.com/claims.org` (the object under `https://example.com/claims`, its key `org`):
at each step the longest key present wins, so dots inside a key need no escaping. A JSON list of
keys (`["https://example.com/claims", "org"]`) says the same explicitly.
"""

import re
from collections.abc import Sequence
from typing import Annotated, Any, Literal
from uuid import UUID

from jwt.algorithms import HMACAlgorithm, NoneAlgorithm, get_default_algorithms
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from models import Role

ClaimPath = str | list[str]
SLUG = re.compile(r"[a-z0-9][a-z0-9-]{1,62}")
MISSING = object()


class IdentityProvider(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    issuer: str = Field(min_length=1)  # exactly as the tokens' `iss`
    audience: Annotated[list[str], Field(min_length=1)]  # any one of them, in `aud`
    jwks_url: str | None = None
    algorithms: Annotated[list[str], Field(min_length=1)] = ["RS256"]
    clock_skew_seconds: int = Field(default=30, ge=0, le=300)
    # Keys are fetched again after this long, or sooner for a token signed with a key (`kid`)
    # not among them; such refreshes at most once per cooldown, whatever tokens arrive.
    jwks_cache_seconds: float = Field(default=300, gt=0)
    jwks_refresh_cooldown_seconds: float = Field(default=30, ge=0)

    organization: str | None = None
    organization_claim: ClaimPath | None = None
    organization_by: Literal["id", "slug"] = "id"
    organizations: list[str] | None = None

    subject_claim: ClaimPath = "sub"
    role_claim: ClaimPath | None = None
    roles: dict[str, Role] = Field(default_factory=dict)
    create_users: bool = False
    email_claim: ClaimPath = "email"
    name_claim: ClaimPath = "name"
    username_claim: ClaimPath = "preferred_username"

    @field_validator("audience", mode="before")
    @classmethod
    def _one_or_more(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("issuer", "jwks_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("https://", "http://")):
            raise ValueError("must be an http(s) URL")
        return value

    @field_validator("algorithms")
    @classmethod
    def _asymmetric(cls, value: list[str]) -> list[str]:
        known = get_default_algorithms()
        for name in value:
            algorithm = known.get(name)
            if algorithm is None or isinstance(algorithm, NoneAlgorithm | HMACAlgorithm):
                raise ValueError(
                    f"algorithm {name} is not allowed: a provider signs with a private key"
                    " (RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512, EdDSA)"
                )
        return value

    @field_validator("organization")
    @classmethod
    def _organization(cls, value: str | None) -> str | None:
        if value is not None and not (is_uuid(value) or SLUG.fullmatch(value)):
            raise ValueError("must be an organization id or slug")
        return value

    @model_validator(mode="after")
    def _one_way_to_the_organization(self) -> "IdentityProvider":
        if (self.organization is None) == (self.organization_claim is None):
            raise ValueError(
                f"{self.issuer}: give either `organization` (every token of this issuer signs"
                " in to it) or `organization_claim` (the claim naming it)"
            )
        if self.organization is not None and self.organizations is not None:
            raise ValueError(f"{self.issuer}: `organizations` goes with `organization_claim`")
        for tenant in self.organizations or ():
            if not (is_uuid(tenant) if self.organization_by == "id" else SLUG.fullmatch(tenant)):
                raise ValueError(
                    f"{self.issuer}: `organizations` holds what the claim holds"
                    f" (organization_by={self.organization_by}): {tenant!r} is no such"
                )
        return self

    @property
    def tenants(self) -> frozenset[str] | None:
        """The organizations this issuer may sign in to (ids or slugs, as its tokens name them);
        None: any."""
        if self.organization is not None:
            return frozenset({self.organization})
        return None if self.organizations is None else frozenset(self.organizations)

    @property
    def discovery_url(self) -> str:
        return self.issuer.rstrip("/") + "/.well-known/openid-configuration"


def check_providers(providers: Sequence[IdentityProvider]) -> None:
    """Several issuers must each be limited to their own organizations: otherwise one
    organization's provider could sign in as the users of another's."""
    issuers = [provider.issuer for provider in providers]
    if len(set(issuers)) != len(issuers):
        raise ValueError("GQL_IDENTITY_PROVIDERS names an issuer twice")
    if len(providers) < 2:
        return
    seen: dict[str, str] = {}
    for provider in providers:
        if provider.tenants is None:
            raise ValueError(
                f"GQL_IDENTITY_PROVIDERS: with several issuers, {provider.issuer} needs"
                " `organization` or `organizations`, so that it signs in to its own only"
            )
        for tenant in provider.tenants:
            if tenant in seen:
                raise ValueError(
                    f"GQL_IDENTITY_PROVIDERS: organization {tenant} is named by both"
                    f" {seen[tenant]} and {provider.issuer}"
                )
            seen[tenant] = provider.issuer


def claim(payload: dict[str, Any], path: ClaimPath) -> Any:
    """The value at `path` (see the module's note), or MISSING."""
    keys = path if isinstance(path, list) else None
    if keys is not None:
        value: Any = payload
        for key in keys:
            if not isinstance(value, dict) or key not in value:
                return MISSING
            value = value[key]
        return value
    assert isinstance(path, str)
    return _dotted(payload, path)


def _dotted(value: Any, path: str) -> Any:
    if not isinstance(value, dict):
        return MISSING
    if path in value:
        return value[path]
    # The longest key that is a prefix ending before a dot, then the rest below it.
    for cut in reversed([index for index, char in enumerate(path) if char == "."]):
        head, rest = path[:cut], path[cut + 1 :]
        if head in value:
            found = _dotted(value[head], rest)
            if found is not MISSING:
                return found
    return MISSING


def is_uuid(value: str) -> bool:
    try:
        UUID(value)
    except ValueError:
        return False
    return True
