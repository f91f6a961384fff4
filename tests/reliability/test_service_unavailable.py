"""Database failures met at each point of a request, through the real app in-process.

A connection is killed just before a chosen statement (as a database restart or a network cut
would), so each path is met for certain: the transaction's setup (retried once on a fresh
connection), a resolver's read, a mutation's write, an operation of a batch; and a pool that
has no connection to give within its timeout.
"""

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from starlette.applications import Starlette

from gql_server.settings import Settings
from schema.node import to_global_id
from tests.factories import count_rows
from tests.reliability.load import ADD_COMMENT, NODE, UNAVAILABLE_BODY
from tests.reliability.world import World, make_world

SETUP = "begin_request"  # the transaction's first statement (tenancy.tenant_session)


@contextmanager
def killed_before(engine: AsyncEngine, marker: str, times: int = 1) -> Iterator[list[str]]:
    """Kill the connection just before each of the next `times` statements containing `marker`,
    whether it goes through SQLAlchemy's execution or straight to asyncpg (loaders' reads)."""
    killed: list[str] = []

    def kill(connection: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if marker in statement and len(killed) < times:
            killed.append(statement)
            connection.connection.dbapi_connection._connection.terminate()

    fetch = asyncpg.Connection.fetch

    async def fetch_or_kill(self: asyncpg.Connection, query: str, *args: Any, **kw: Any) -> Any:
        if marker in query and len(killed) < times:
            killed.append(query)
            self.terminate()
        return await fetch(self, query, *args, **kw)

    event.listen(engine.sync_engine, "before_cursor_execute", kill)
    asyncpg.Connection.fetch = fetch_or_kill  # type: ignore[method-assign]
    try:
        yield killed
    finally:
        asyncpg.Connection.fetch = fetch  # type: ignore[method-assign]
        event.remove(engine.sync_engine, "before_cursor_execute", kill)


@pytest.fixture(scope="module")
async def world(sessionmaker: async_sessionmaker[AsyncSession]) -> World:
    return await make_world(sessionmaker)


def ask(world: World, settings: Settings) -> dict[str, Any]:
    (token,) = world.tokens(settings, world.admins[:1])
    return {"headers": {"Authorization": f"Bearer {token}"}}


def node(world: World) -> dict[str, Any]:
    return {"query": NODE, "variables": {"id": to_global_id("Content", world.published[0].id)}}


def assert_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.json() == UNAVAILABLE_BODY
    assert response.headers["retry-after"] == "1"


async def test_a_dead_connection_under_the_first_statement_is_retried(
    client: httpx.AsyncClient, app: Starlette, world: World, settings: Settings
) -> None:
    with killed_before(app.state.engine, SETUP) as killed:
        response = await client.post("/graphql", json=node(world), **ask(world, settings))
    assert len(killed) == 1
    assert response.status_code == 200
    assert response.json()["data"]["node"]["id"] == node(world)["variables"]["id"]


async def test_a_second_dead_connection_is_a_503(
    client: httpx.AsyncClient, app: Starlette, world: World, settings: Settings
) -> None:
    with killed_before(app.state.engine, SETUP, times=2) as killed:
        response = await client.post("/graphql", json=node(world), **ask(world, settings))
    assert len(killed) == 2
    assert_unavailable(response)
    again = await client.post("/graphql", json=node(world), **ask(world, settings))
    assert again.status_code == 200


async def test_a_connection_lost_by_a_resolver_is_a_503_for_the_request(
    client: httpx.AsyncClient, app: Starlette, world: World, settings: Settings
) -> None:
    with killed_before(app.state.engine, "FROM contents") as killed:
        response = await client.post("/graphql", json=node(world), **ask(world, settings))
    assert killed
    assert_unavailable(response)
    assert (await client.post("/graphql", json=node(world), **ask(world, settings))).is_success


async def test_a_write_on_a_lost_connection_is_a_503_and_not_stored(
    client: httpx.AsyncClient,
    app: Starlette,
    world: World,
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    before = await count_rows(sessionmaker, "comments", world.org.id)
    variables = {"id": to_global_id("Content", world.published[0].id), "body": "lost"}
    with killed_before(app.state.engine, "INSERT INTO comments") as killed:
        response = await client.post(
            "/graphql", json={"query": ADD_COMMENT, "variables": variables}, **ask(world, settings)
        )
    assert killed
    assert_unavailable(response)
    assert await count_rows(sessionmaker, "comments", world.org.id) == before


async def test_a_batch_meeting_a_lost_connection_is_a_503_as_a_whole(
    client: httpx.AsyncClient, app: Starlette, world: World, settings: Settings
) -> None:
    batch = [node(world), {"query": "{ contents(first: 1) { edges { cursor } } }"}]
    with killed_before(app.state.engine, "FROM contents", times=2):
        response = await client.post("/graphql", json=batch, **ask(world, settings))
    assert_unavailable(response)


@pytest.fixture
async def small_pool(database_url: str) -> AsyncIterator[tuple[Starlette, httpx.AsyncClient]]:
    """The app with a pool of one connection that waits 0.2 s for it."""
    from gql_server.app import create_app

    settings = Settings(
        database_url=None, pool_size=1, pool_max_overflow=0, pool_timeout_seconds=0.2
    )
    application = create_app(settings, database_url=database_url)
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            yield application, http


async def test_no_connection_within_the_pool_timeout_is_a_503(
    small_pool: tuple[Starlette, httpx.AsyncClient], world: World, settings: Settings
) -> None:
    application, http = small_pool
    async with application.state.engine.connect():  # the pool's only connection
        started = asyncio.get_running_loop().time()
        response = await http.post("/graphql", json=node(world), **ask(world, settings))
        waited = asyncio.get_running_loop().time() - started
    assert_unavailable(response)
    # The pool's 0.2 s applied, not the 5 s default: a bound with room for a busy machine.
    assert waited < 3.0
    assert (await http.post("/graphql", json=node(world), **ask(world, settings))).is_success
