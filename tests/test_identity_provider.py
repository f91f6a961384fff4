"""Tokens of the organizations' own identity providers, verified against the keys each publishes
over real HTTP (tests.identity_provider), on every door.

Three issuers at once: a Keycloak-like realm found by discovery, whose tokens name their
organization by slug in a namespaced claim and whose first-time users are created; an Auth0-like
one with its JWKS URL given, bound to one organization, users linked by an admin; and one whose
keys cannot be fetched.
"""

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.applications import Starlette

import models
from gql_server.app import create_app
from gql_server.identity import identity
from gql_server.providers import IdentityProvider
from gql_server.settings import Settings
from gql_server.tenancy import tenant_session
from schema.node import to_global_id
from tests.api import token_for
from tests.factories import make_org, make_user
from tests.identity_provider import AUDIENCE, Key, Provider
from tests.live import free_socket, in_process
from tests.wsclient import GraphQLSocket

CLAIMS = "https://example.com/claims"
LINK = (
    "mutation ($id: ID!, $externalId: String) { updateUser(input: {id: $id, externalId:"
    " $externalId}) { userErrors { field code } } }"
)
GONE = f"gone-{uuid.uuid4().hex[:8]}"
VIEWER = {"query": "{ viewer { id username fullName role } }"}


@dataclass
class World:
    keycloak: Provider  # discovery, org by slug in a nested claim, users created at sign-in
    auth0: Provider  # JWKS URL given, one organization, users linked by an admin
    down: Provider  # its keys cannot be fetched
    acme: models.Organization
    globex: models.Organization
    initech: models.Organization
    settings: Settings


@pytest.fixture(scope="module")
def providers() -> Iterator[tuple[Provider, Provider, Provider]]:
    keycloak, auth0, down = Provider("acme"), Provider("globex"), Provider("initech")
    with keycloak.serving(), auth0.serving(), down.serving():
        yield keycloak, auth0, down  # `down`'s JWKS URL points where nothing listens


@pytest.fixture(scope="module")
async def world(
    providers: tuple[Provider, Provider, Provider],
    sessionmaker: async_sessionmaker[AsyncSession],
) -> World:
    keycloak, auth0, down = providers
    acme, globex, initech = [await make_org(sessionmaker) for _ in range(3)]
    with free_socket() as closed:
        nowhere = f"http://127.0.0.1:{closed.getsockname()[1]}/jwks"
    settings = Settings(
        database_url=None,
        statement_timeout_ms=10_000,
        identity_providers=[
            IdentityProvider(
                issuer=keycloak.issuer,
                audience=AUDIENCE,
                organization_claim=f"{CLAIMS}.org",
                organization_by="slug",
                organizations=[acme.slug, GONE],
                role_claim="realm_access.roles",
                roles={"teacher": models.Role.INSTRUCTOR, "org-admin": models.Role.ADMIN},
                create_users=True,
                jwks_refresh_cooldown_seconds=0,
            ),
            IdentityProvider(
                issuer=auth0.issuer,
                audience=["https://api.example.com", AUDIENCE],
                jwks_url=auth0.jwks_url,
                organization=str(globex.id),
                jwks_refresh_cooldown_seconds=3600,
            ),
            IdentityProvider(
                issuer=down.issuer, audience=AUDIENCE, jwks_url=nowhere, organization=initech.slug
            ),
        ],
    )
    return World(keycloak, auth0, down, acme, globex, initech, settings)


@pytest.fixture(scope="module")
async def app(world: World, database_url: str) -> AsyncIterator[Starlette]:
    application = create_app(world.settings, database_url=database_url)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture(scope="module")
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


async def viewer(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.post("/graphql", json=VIEWER, headers={"Authorization": f"Bearer {token}"})


def refused(response: httpx.Response) -> str:
    assert response.status_code == 401, response.text
    error = response.json()["errors"][0]
    assert error["extensions"]["code"] == "UNAUTHENTICATED"
    message: str = error["message"]
    return message


def acme_token(world: World, subject: str | None = None, **claims: Any) -> str:
    claims.setdefault(CLAIMS, {"org": world.acme.slug})
    return world.keycloak.token(subject, **claims)


async def users_of(
    sessionmaker: async_sessionmaker[AsyncSession], org: models.Organization, subject: str
) -> list[models.User]:
    async with tenant_session(sessionmaker, org.id) as db:
        rows = await db.scalars(select(models.User).where(models.User.external_id == subject))
        return list(rows)


async def test_a_first_sign_in_creates_the_user_from_nested_claims(
    client: httpx.AsyncClient, world: World, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    subject = str(uuid.uuid4())
    claims = {
        "email": "Ada.Lovelace@Example.com",
        "name": "Ada Lovelace",
        "preferred_username": "Ada Lovelace",
        "realm_access": {"roles": ["offline_access", "teacher"]},
    }
    first = await viewer(client, acme_token(world, subject, **claims))
    assert first.status_code == 200, first.text
    me = first.json()["data"]["viewer"]
    assert me["fullName"] == "Ada Lovelace"
    assert me["role"] == "INSTRUCTOR"  # the provider's `teacher`
    [user] = await users_of(sessionmaker, world.acme, subject)
    assert (user.email, user.username) == ("ada.lovelace@example.com", "ada-lovelace")
    assert user.created_by == user.id

    # Another token of the same subject is the same user; the database's role wins from now on.
    async with tenant_session(sessionmaker, world.acme.id) as db:
        await db.execute(
            update(models.User).where(models.User.id == user.id).values(role=models.Role.STUDENT)
        )
    again = await viewer(client, acme_token(world, subject, **claims))
    assert again.json()["data"]["viewer"] == {**me, "role": "STUDENT"}
    assert len(await users_of(sessionmaker, world.acme, subject)) == 1


async def test_first_sign_ins_get_free_usernames_and_need_an_email(
    client: httpx.AsyncClient, world: World, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    name = f"grace{uuid.uuid4().hex[:6]}"
    names = []
    for _ in range(2):
        token = acme_token(
            world, email=f"{uuid.uuid4().hex[:8]}@example.com", preferred_username=name
        )
        response = await viewer(client, token)
        names.append(response.json()["data"]["viewer"]["username"])
        assert response.json()["data"]["viewer"]["role"] == "STUDENT"  # no role claim
    assert names == [name, f"{name}-2"]

    subject = str(uuid.uuid4())
    message = refused(await viewer(client, acme_token(world, subject)))
    assert message == "a first sign-in needs the token's email, and it carries none"
    assert await users_of(sessionmaker, world.acme, subject) == []


async def test_an_email_already_in_the_organization_is_not_taken_over(
    client: httpx.AsyncClient, world: World, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    async with tenant_session(sessionmaker, world.acme.id) as db:
        existing = await make_user(db)
    subject = str(uuid.uuid4())
    message = refused(await viewer(client, acme_token(world, subject, email=existing.email)))
    assert "already exists in this organization, not linked to this sign-in" in message
    assert await users_of(sessionmaker, world.acme, subject) == []


async def test_without_create_users_an_unknown_subject_is_refused_until_linked(
    client: httpx.AsyncClient, world: World, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    subject = f"auth0|{uuid.uuid4().hex}"
    token = world.auth0.token(subject, email="new@example.com")
    message = refused(await viewer(client, token))
    assert message.startswith(f"no user of this organization signs in as {subject!r}")
    assert "externalId" in message

    # An admin (signed in with the server's own token here) links a user to the subject.
    async with tenant_session(sessionmaker, world.globex.id) as db:
        admin = await make_user(db, role=models.Role.ADMIN)
        linked, other = await make_user(db), await make_user(db)
    as_admin = {"Authorization": f"Bearer {token_for(world.settings, admin)}"}
    for user, errors in [
        (linked, []),
        (other, [{"field": ["input", "externalId"], "code": "CONFLICT"}]),  # one user a subject
    ]:
        variables = {"id": to_global_id("User", user.id), "externalId": subject}
        answer = await client.post(
            "/graphql", json={"query": LINK, "variables": variables}, headers=as_admin
        )
        assert answer.json()["data"]["updateUser"]["userErrors"] == errors, answer.text

    response = await viewer(client, world.auth0.token(subject))
    assert response.json()["data"]["viewer"]["username"] == linked.username
    assert response.json()["data"]["viewer"]["role"] == "STUDENT"  # the database's

    async with tenant_session(sessionmaker, world.globex.id) as db:
        count = select(func.count()).select_from(models.User)
        users = await db.scalar(count)
    assert users == 3  # nobody was created


async def test_keys_are_cached_and_fetched_again_for_a_rotated_key(
    client: httpx.AsyncClient, world: World
) -> None:
    provider = world.keycloak
    email = {"email": f"{uuid.uuid4().hex[:8]}@example.com"}
    subject = str(uuid.uuid4())
    assert (await viewer(client, acme_token(world, subject, **email))).status_code == 200
    fetches = provider.key_fetches
    for _ in range(3):
        assert (await viewer(client, acme_token(world, subject, **email))).status_code == 200
    assert provider.key_fetches == fetches  # cached

    old = provider.keys[0]
    new = provider.rotate()
    response = await viewer(client, acme_token(world, subject, key=new))
    assert response.status_code == 200, response.text
    assert provider.key_fetches == fetches + 1  # the unknown kid made it fetch the keys again

    message = refused(await viewer(client, acme_token(world, subject, key=old)))
    assert message == f"the token was signed with a key {provider.issuer} does not publish"


async def test_a_flood_of_unknown_kids_fetches_the_keys_once_per_cooldown(
    client: httpx.AsyncClient, world: World
) -> None:
    provider = world.auth0
    await viewer(client, provider.token())  # the keys are fetched once
    fetches = provider.key_fetches
    forger = Key.generate()
    for _ in range(20):
        forged = Key(uuid.uuid4().hex, "RS256", forger.private)  # a kid never published
        message = refused(await viewer(client, provider.token(key=forged)))
        assert message == f"the token was signed with a key {provider.issuer} does not publish"
    assert provider.key_fetches <= fetches + 1


@pytest.mark.parametrize(
    ("claims", "expected"),
    [
        ({"aud": "another-api"}, f"the token is for another audience (expected {AUDIENCE})"),
        ({"aud": None}, "the token has no `aud` claim"),
        ({"ttl": -120}, "the token has expired"),
        ({"not_before": 10**10}, "the token is not valid yet (nbf, iat)"),
        ({CLAIMS: {}}, f"the token names no organization (claim `{CLAIMS}.org`)"),
        ({CLAIMS: {"org": GONE}}, f"no organization {GONE!r}"),  # allowed, but not there
    ],
)
async def test_what_a_token_must_be(
    client: httpx.AsyncClient, world: World, claims: dict[str, Any], expected: str
) -> None:
    assert refused(await viewer(client, acme_token(world, **claims))) == expected


async def test_clock_skew_is_tolerated(client: httpx.AsyncClient, world: World) -> None:
    token = acme_token(world, email=f"{uuid.uuid4().hex[:8]}@example.com", ttl=-5)
    assert (await viewer(client, token)).status_code == 200  # 30 s of skew by default


async def test_an_issuer_signs_in_to_its_own_organizations_only(
    client: httpx.AsyncClient, world: World
) -> None:
    other = acme_token(world, email="x@example.com", **{CLAIMS: {"org": world.globex.slug}})
    expected = f"{world.keycloak.issuer} does not sign in to organization {world.globex.slug!r}"
    assert refused(await viewer(client, other)) == expected

    # Signed by the Keycloak realm's key, claiming to come from the Auth0 tenant.
    forged = world.keycloak.token(iss=world.auth0.issuer)
    assert "does not publish" in refused(await viewer(client, forged))

    with Provider("stranger").serving() as stranger:
        message = refused(await viewer(client, stranger.token()))
    assert message == f"the token's issuer {stranger.issuer!r} is not one of GQL_IDENTITY_PROVIDERS"


async def test_algorithms_outside_the_allow_list_are_refused(
    client: httpx.AsyncClient, world: World
) -> None:
    provider = world.keycloak
    ec_key = Key.generate("ES256")
    provider.keys = [*provider.keys, ec_key]  # published, but ES256 is not allowed
    message = refused(await viewer(client, acme_token(world, key=ec_key)))
    assert message == "the token's algorithm is not allowed (allowed: RS256)"

    # HS256 "signed" with the public key, the classic confusion; and no signature at all.
    import jwt

    payload = {"iss": provider.issuer, "aud": AUDIENCE, "sub": "x", "exp": 10**10}
    public = provider.keys[0].public_jwk()["n"]
    fetches = provider.key_fetches
    for token in (
        jwt.encode(payload, public, algorithm="HS256", headers={"kid": provider.keys[0].kid}),
        jwt.encode(payload, None, algorithm="none", headers={"kid": provider.keys[0].kid}),
        jwt.encode(payload, public, algorithm="HS256", headers={"kid": "made-up"}),
    ):
        message = refused(await viewer(client, token))
        assert message == "the token's algorithm is not allowed (allowed: RS256)"
    assert provider.key_fetches == fetches  # refused before any key was looked up


async def test_the_servers_own_tokens_still_sign_in(
    client: httpx.AsyncClient, world: World, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    async with tenant_session(sessionmaker, world.acme.id) as db:
        user = await make_user(db)
    response = await viewer(client, token_for(world.settings, user))
    assert response.json()["data"]["viewer"]["username"] == user.username


async def test_a_provider_that_cannot_be_reached_is_a_503(
    client: httpx.AsyncClient, world: World
) -> None:
    response = await viewer(client, world.down.token())
    assert response.status_code == 503
    assert response.json()["errors"][0]["extensions"]["code"] == "SERVICE_UNAVAILABLE"
    assert response.headers["retry-after"]


@pytest.mark.parametrize("body", [b"<html>maintenance</html>", b'{"keys": []}', b"[1, 2]"])
async def test_keys_that_cannot_be_read_are_a_503_and_the_old_ones_stay(
    client: httpx.AsyncClient, world: World, body: bytes
) -> None:
    email = {"email": f"{uuid.uuid4().hex[:8]}@example.com"}
    subject = str(uuid.uuid4())
    assert (await viewer(client, acme_token(world, subject, **email))).status_code == 200
    world.keycloak.jwks_body = body
    try:
        unknown = acme_token(world, subject, key=Key.generate())  # makes it fetch the keys
        response = await viewer(client, unknown)
    finally:
        world.keycloak.jwks_body = None
    assert response.status_code == 503, response.text
    assert response.json()["errors"][0]["extensions"]["code"] == "SERVICE_UNAVAILABLE"
    assert (await viewer(client, acme_token(world, subject, **email))).status_code == 200


async def test_both_websocket_protocols_take_the_providers_tokens(
    world: World, database_url: str
) -> None:
    token = acme_token(world, email=f"{uuid.uuid4().hex[:8]}@example.com")
    async with in_process(world.settings, database_url) as server:
        socket = await GraphQLSocket.open(server.ws_url, token)
        await socket.acknowledged()
        await socket.close()

        legacy = await GraphQLSocket.open(server.ws_url, token, subprotocol="graphql-ws")
        assert (await legacy.receive())["type"] == "connection_ack"
        await legacy.close()

        expired = await GraphQLSocket.open(server.ws_url, acme_token(world, ttl=-120))
        closed = await expired.closed()
        assert (closed.code, closed.reason) == (4401, "the token has expired")

        legacy = await GraphQLSocket.open(
            server.ws_url, acme_token(world, aud="another"), subprotocol="graphql-ws"
        )
        error = await legacy.receive()
        assert error["type"] == "connection_error"
        assert "another audience" in error["payload"]["message"]
        await legacy.close()


async def test_concurrent_first_sign_ins_make_one_user_each(
    client: httpx.AsyncClient, world: World, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    """The same user's first requests at once, and two users wanting the same username."""
    subject = str(uuid.uuid4())
    name = f"lin{uuid.uuid4().hex[:6]}"
    same = [acme_token(world, subject, email=f"{name}@example.com") for _ in range(4)]
    others = [
        acme_token(world, email=f"{uuid.uuid4().hex[:8]}@example.com", preferred_username=name)
        for _ in range(3)
    ]
    answers = await asyncio.gather(*(viewer(client, token) for token in [*same, *others]))
    assert [answer.status_code for answer in answers] == [200] * 7, [a.text for a in answers]
    ids = {answer.json()["data"]["viewer"]["id"] for answer in answers[:4]}
    assert len(ids) == 1
    assert len(await users_of(sessionmaker, world.acme, subject)) == 1
    usernames = [answer.json()["data"]["viewer"]["username"] for answer in answers]
    assert len(set(usernames[3:])) == 4  # the first user's, and three more


@pytest.mark.parametrize(
    ("claims", "expected"),
    [
        ({"sub": "x" * 256}, "the token's subject is longer than 255 characters"),
        ({"sub": ""}, "the token has no subject (claim `sub`)"),
        ({"email": "not an email"}, "a first sign-in needs a valid email: "),
    ],
)
async def test_odd_claims_are_refused_not_failed(
    client: httpx.AsyncClient, world: World, claims: dict[str, Any], expected: str
) -> None:
    subject = claims.pop("sub", None)
    token = (
        acme_token(world, **claims)
        if subject is None
        else world.keycloak.token(sub=subject, **{CLAIMS: {"org": world.acme.slug}})
    )
    assert refused(await viewer(client, token)).startswith(expected)


async def test_nul_characters_in_claims_are_dropped(
    client: httpx.AsyncClient, world: World
) -> None:
    token = acme_token(
        world,
        email=f"{uuid.uuid4().hex[:8]}@example.com",
        name="Nul\x00Name",
        preferred_username="a\x00b",
    )
    response = await viewer(client, token)
    assert response.json()["data"]["viewer"]["fullName"] == "NulName"


def test_the_claim_mapping_reads_ids_slugs_and_roles() -> None:
    org = str(uuid.uuid4())
    by_id = IdentityProvider(
        issuer="https://idp.example.com/",
        audience="api",
        organization_claim="org_id",
        subject_claim="https://example.com/uid",
        role_claim="https://example.com/claims.roles",
        roles={"Admin": models.Role.ADMIN},
    )
    payload = {
        "sub": "ignored",
        "https://example.com/uid": "u-7",
        "org_id": org,
        "https://example.com/claims": {"roles": ["Reader", "INSTRUCTOR", "Admin"]},
        "exp": 100,
    }
    read = identity(by_id, payload)
    assert (read.subject, read.organization, read.by_slug) == ("u-7", org, False)
    assert read.role is models.Role.ADMIN  # the most senior of those that map
    assert read.expires_at == 130  # the clock skew included
    assert identity(by_id, {**payload, CLAIMS: {"roles": "Reader"}}).role is models.Role.STUDENT

    fixed = IdentityProvider(issuer="https://idp.example.com/", audience="api", organization="acme")
    assert (identity(fixed, payload).organization, identity(fixed, payload).by_slug) == (
        "acme",
        True,
    )


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        ({"issuer": "https://idp.example.com/", "jwks_uri": "http://idp.example.com/k"}, "https"),
        ({"issuer": "https://evil.example.com/", "jwks_uri": "https://e/k"}, "does not describe"),
        ({"issuer": "https://idp.example.com/"}, "does not describe"),
    ],
)
async def test_discovery_must_describe_the_issuer_over_https(
    monkeypatch: pytest.MonkeyPatch, document: dict[str, str], expected: str
) -> None:
    from gql_server import identity as module

    monkeypatch.setattr(module, "_fetch_json", lambda _url: document)
    keys = module.ProviderKeys(
        IdentityProvider(issuer="https://idp.example.com/", audience="api", organization="acme")
    )
    with pytest.raises(module.ProviderUnavailable, match=expected):
        await keys.signing_key("kid")
    with pytest.raises(module.ProviderUnavailable, match="discovery failed moments ago"):
        await keys.signing_key("kid")  # not asked again before the cooldown
