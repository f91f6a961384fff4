"""What every response tells browsers (nosniff, framing, Content-Security-Policy, no-store for
answers with credentials), and GraphiQL: on in development, off in production, a setting."""

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gql_server.app import create_app
from gql_server.graphiql import CONTENT_SECURITY_POLICY
from gql_server.security_headers import API_POLICY
from gql_server.settings import Settings
from tests.api import token_for
from tests.live import make_tenant

PAGE = {"Accept": "text/html"}
PRODUCTION = {"environment": "production", "jwt_secret": "s" * 40}


def assert_hardened(response: httpx.Response) -> None:
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]


async def test_answers_to_a_signed_in_request_are_not_stored(
    client: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    tenant = await make_tenant(sessionmaker)
    token = token_for(settings, tenant.student)
    response = await client.post(
        "/graphql",
        json={"query": "{ viewer { username } }"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.json() == {
        "data": {"viewer": {"username": tenant.student.username}},
        "extensions": response.json()["extensions"],
    }
    assert_hardened(response)
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["content-security-policy"] == API_POLICY

    refused = await client.post(
        "/graphql", json={"query": "{ viewer { id } }"}, headers={"Authorization": "Bearer x"}
    )
    assert refused.status_code == 401
    assert_hardened(refused)
    assert refused.headers["cache-control"] == "no-store"


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/graphql", {"query": "{ __typename }"}),
        ("POST", "/graphql", {"query": "{ viewer { id } }"}),  # 401
        ("POST", "/graphql", {"query": "{"}),  # 400
        ("GET", "/health/live", None),
        ("GET", "/metrics", None),
        ("GET", "/static/graphiql/page.js", None),
        ("GET", "/nowhere", None),  # 404
    ],
)
async def test_every_response_is_hardened(
    client: httpx.AsyncClient, method: str, path: str, body: dict[str, str] | None
) -> None:
    response = await client.request(method, path, json=body)
    assert_hardened(response)
    assert response.headers["content-security-policy"] == API_POLICY
    assert "no-store" not in response.headers.get("cache-control", "")  # no credentials sent


async def test_the_graphiql_page_has_its_own_policy(client: httpx.AsyncClient) -> None:
    page = await client.get("/graphql", headers=PAGE)
    assert page.headers["content-type"].startswith("text/html")
    assert_hardened(page)
    policy = page.headers["content-security-policy"]
    assert policy == CONTENT_SECURITY_POLICY
    directives = dict(directive.split(" ", 1) for directive in policy.split("; "))
    assert directives["default-src"] == "'none'"
    assert directives["script-src"] == "'self'"  # so the page has no inline script
    assert "unsafe" not in policy
    assert "<script>" not in page.text
    assert "<style>" not in page.text


async def test_graphiql_is_off_in_production_unless_asked_for(database_url: str) -> None:
    for settings, served in [
        (Settings(**PRODUCTION), False),
        (Settings(**PRODUCTION, graphiql=True), True),
        (Settings(graphiql=False), False),
        (Settings(), True),
    ]:
        app = create_app(settings, database_url=database_url)
        transport = httpx.ASGITransport(app=app)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=transport, base_url="http://test") as client,
        ):
            page = await client.get("/graphql", headers=PAGE)
            asset = await client.get("/static/graphiql/graphiql.min.js")
        if served:
            assert page.status_code == 200
            assert page.headers["content-type"].startswith("text/html")
            assert asset.status_code == 200
        else:
            # An ordinary GraphQL request: one that accepts no GraphQL response type (406).
            assert page.status_code == 406
            assert page.headers["content-type"].startswith("application/json")
            assert asset.status_code == 404
