"""`GQL_IDENTITY_PROVIDERS`, checked at start-up: what each issuer may sign in to, with which
algorithms, and where its claims are read."""

import json
import uuid
from typing import Any

import pytest

from gql_server.providers import MISSING, claim
from gql_server.settings import InvalidSettings, get_settings

ISSUER = "https://idp.example.com/realms/acme"


def refusal(monkeypatch: pytest.MonkeyPatch, providers: list[dict[str, Any]], **env: str) -> str:
    monkeypatch.setenv("GQL_IDENTITY_PROVIDERS", json.dumps(providers))
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    try:
        with pytest.raises(InvalidSettings) as refused:
            get_settings()
    finally:
        get_settings.cache_clear()
    return str(refused.value)


def provider(**fields: Any) -> dict[str, Any]:
    return {"issuer": ISSUER, "audience": "api", "organization": "acme", **fields}


def test_a_provider_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "GQL_IDENTITY_PROVIDERS",
        json.dumps([provider(roles={"teacher": "INSTRUCTOR"}, algorithms=["RS256", "ES256"])]),
    )
    get_settings.cache_clear()
    try:
        [read] = get_settings().identity_providers
    finally:
        get_settings.cache_clear()
    assert read.audience == ["api"]
    assert read.tenants == frozenset({"acme"})
    assert read.discovery_url == f"{ISSUER}/.well-known/openid-configuration"


@pytest.mark.parametrize("algorithm", ["none", "HS256", "HS512", "XS999"])
def test_only_asymmetric_algorithms(monkeypatch: pytest.MonkeyPatch, algorithm: str) -> None:
    message = refusal(monkeypatch, [provider(algorithms=[algorithm])])
    assert message.startswith("GQL_IDENTITY_PROVIDERS (0.algorithms): ")
    assert f"algorithm {algorithm} is not allowed" in message


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"organization": None}, "give either `organization`"),
        ({"organization_claim": "org"}, "give either `organization`"),
        ({"organization": "Not a slug!"}, "must be an organization id or slug"),
        ({"audience": []}, "audience"),
        ({"issuer": "idp.example.com"}, "must be an http(s) URL"),
        ({"clock_skew_seconds": 3600}, "clock_skew_seconds"),
        ({"roles": {"teacher": "OWNER"}}, "roles.teacher"),
        ({"organisation": "acme"}, "organisation"),  # a misspelt field is no silent default
        (
            {"organization": None, "organization_claim": "org", "organizations": ["acme"]},
            "'acme' is no such",  # ids, as the claim holds (organization_by=id)
        ),
    ],
)
def test_a_provider_must_say_what_it_signs_in_to(
    monkeypatch: pytest.MonkeyPatch, fields: dict[str, Any], expected: str
) -> None:
    assert expected in refusal(monkeypatch, [provider(**fields)])


def test_several_issuers_each_sign_in_to_their_own_organizations(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    other = "https://other.example.com"
    unbound = provider(issuer=other, organization=None, organization_claim="org")
    assert "needs `organization` or `organizations`" in refusal(monkeypatch, [provider(), unbound])
    shared = provider(issuer=other)
    expected = f"organization acme is named by both {ISSUER} and {other}"
    assert expected in refusal(monkeypatch, [provider(), shared])
    assert "names an issuer twice" in refusal(monkeypatch, [provider(), provider()])


def test_production_reaches_providers_over_https_only(monkeypatch: pytest.MonkeyPatch) -> None:
    message = refusal(
        monkeypatch,
        [provider(jwks_url="http://idp.example.com/certs")],
        GQL_ENVIRONMENT="production",
        GQL_JWT_SECRET="s" * 40,
    )
    assert "must be reached over https in production" in message


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("sub", "u1"),
        ("org_id", MISSING),
        ("https://example.com/claims.org", "acme"),  # the object under the URL, its key `org`
        ("https://example.com/org", "flat"),  # Auth0's namespaced claims are top-level keys
        (["https://example.com/claims", "org"], "acme"),
        ("realm_access.roles", ["teacher"]),
        ("resource_access.gql-api.roles", ["editor"]),
        ("realm_access.roles.0", MISSING),
    ],
)
def test_claim_paths(path: str | list[str], expected: Any) -> None:
    payload = {
        "sub": "u1",
        "https://example.com/claims": {"org": "acme"},
        "https://example.com/org": "flat",
        "realm_access": {"roles": ["teacher"]},
        "resource_access": {"gql-api": {"roles": ["editor"]}},
        "id": str(uuid.uuid4()),
    }
    assert claim(payload, path) == expected
