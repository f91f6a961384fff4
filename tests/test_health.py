"""Health checks and a first GraphQL query through the real ASGI app, lifespan included."""

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import httpx

from gql_server import migrate
from gql_server.app import create_app
from gql_server.settings import Settings

CreateDatabase = Callable[[], Awaitable[str]]
UNREACHABLE = "postgresql+asyncpg://postgres@127.0.0.1:1/nope"


@asynccontextmanager
async def client_for(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(Settings(pool_size=1, pool_max_overflow=0), database_url=database_url)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client,
    ):
        yield client


async def test_live_answers_without_a_database() -> None:
    async with client_for(UNREACHABLE) as client:
        response = await client.get("/health/live")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_ready_on_the_migrated_database(database_url: str) -> None:
    async with client_for(database_url) as client:
        response = await client.get("/health/ready")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "migrations": migrate.head_revision()}


async def test_not_ready_when_the_database_is_unreachable() -> None:
    async with client_for(UNREACHABLE) as client:
        response = await client.get("/health/ready")
    assert response.status_code == 503
    assert response.json()["status"] == "unavailable"
    assert "database" in response.json()


async def test_not_ready_on_an_unmigrated_database(create_database: CreateDatabase) -> None:
    async with client_for(await create_database()) as client:
        response = await client.get("/health/ready")
    assert response.status_code == 503
    assert response.json() == {
        "status": "unavailable",
        "migrations": {"current": None, "head": migrate.head_revision()},
    }


async def test_graphql_executes_a_query(database_url: str) -> None:
    async with client_for(database_url) as client:
        response = await client.post("/graphql", json={"query": "{ __typename }"})
    assert response.status_code == 200
    body = response.json()
    assert body["data"] == {"__typename": "Query"}
    assert "errors" not in body
