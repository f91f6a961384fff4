"""The database restarts under connected subscribers: the listener reconnects, sockets stay open,
and what was committed while the listener was away still reaches them, once and in order.

These tests run their own embedded PostgreSQL (a separate data folder), so restarting it disturbs
no other test. The listener's reconnection goes through a `Gate` where a test must be sure that
something was committed while it was away.
"""

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.pool import NullPool

import models
from gql_server import embedded, migrate
from gql_server.events import EventListener
from gql_server.settings import Settings
from gql_server.tenancy import tenant_session
from schema.events import ContentChange, Event, EventKind
from schema.node import to_global_id
from tests.api import gql
from tests.factories import make_content
from tests.live import Gate, LiveServer, Tenant, in_process, make_tenant
from tests.reliability.postgres import own_postgres, restart, stop
from tests.waiting import Deadline, until
from tests.wsclient import GraphQLSocket

CONTENT_CHANGED = """
subscription ($id: ID!) { contentChanged(id: $id) { change content { version } } }"""
UPDATE = """
mutation ($id: ID!, $version: Int!, $title: String!) {
  updateContent(input: {id: $id, expectedVersion: $version, title: $title}) {
    content { version } userErrors { code }
  }
}"""
VERSION = "query ($id: ID!) { node(id: $id) { ... on Content { version } } }"
CONTENT_PUBLISHED = "subscription { contentPublished { id } }"
PUBLISH = "mutation ($id: ID!) { publishContent(input: {id: $id}) { userErrors { code } } }"
SUBSCRIBERS = 3
BURST = 20


@pytest.fixture(scope="module")
def own_database() -> Iterator[Any]:
    with own_postgres() as server:
        yield server


@pytest.fixture(scope="module")
async def live(own_database: Any) -> AsyncIterator[tuple[LiveServer, Tenant]]:
    url = embedded.asyncpg_url(own_database)
    engine = create_async_engine(url, poolclass=NullPool)
    await migrate.upgrade(engine)
    tenant = await make_tenant(async_sessionmaker(engine, expire_on_commit=False))
    await engine.dispose()
    settings = Settings(database_url=None, statement_timeout_ms=10_000)
    async with in_process(settings, url) as server:
        yield server, tenant


async def edit_when_back(http: httpx.AsyncClient, token: str, pk: uuid.UUID) -> int:
    """Edit the content once HTTP requests work again; its new version.

    After the database comes back, a request may still fail on a pooled connection that died
    with it: that is the HTTP side's business, not what these tests are about.
    """
    headers = {"Authorization": f"Bearer {token}"}
    content = to_global_id("Content", pk)
    deadline = Deadline("HTTP requests work again")
    while deadline.running():
        read = await http.post(
            "/graphql", json={"query": VERSION, "variables": {"id": content}}, headers=headers
        )
        if read.status_code == 200 and "errors" not in read.json():
            version: int = read.json()["data"]["node"]["version"]
            variables = {"id": content, "version": version, "title": f"Edition {version + 1}"}
            response = await gql(http, UPDATE, variables, token=token)
            assert response.data["updateContent"]["userErrors"] == []
            return version + 1
        await asyncio.sleep(0.05)
    raise deadline.missed()


async def test_subscribers_get_events_after_the_database_restarts(
    own_database: Any,
    live: tuple[LiveServer, Tenant],
    settings: Settings,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="gql_server.events")
    server, tenant = live
    assert server.app is not None
    listener: EventListener = server.app.state.events.listener
    content = to_global_id("Content", tenant.published.id)
    token = tenant.token(settings, tenant.student)
    sockets = [await GraphQLSocket.open(server.ws_url, token) for _ in range(SUBSCRIBERS)]
    for socket in sockets:
        await socket.acknowledged()
        await socket.subscribe(CONTENT_CHANGED, {"id": content})
    fanout = server.app.state.events.fanout
    await until(lambda: len(fanout) == SUBSCRIBERS, "every subscription registered")

    async with httpx.AsyncClient(base_url=server.http_url) as http:
        admin = tenant.token(settings, tenant.admin)
        version = await edit_when_back(http, admin, tenant.published.id)
        for socket in sockets:
            assert (await socket.next())["data"]["contentChanged"]["content"]["version"] == version

        await asyncio.to_thread(restart, own_database)
        await until(
            lambda: listener.listening and "event listener reconnected" in caplog.text,
            "the listener reconnected",
        )

        version = await edit_when_back(http, admin, tenant.published.id)
        for socket in sockets:  # the same sockets: nobody reconnected
            assert (await socket.next())["data"]["contentChanged"]["content"]["version"] == version
    for socket in sockets:
        await socket.close()


async def test_while_the_database_is_down_nothing_breaks_for_good(
    own_database: Any,
    live: tuple[LiveServer, Tenant],
    settings: Settings,
    caplog: pytest.LogCaptureFixture,
) -> None:
    server, tenant = live
    assert server.app is not None
    fanout = server.app.state.events.fanout
    content = tenant.published
    token = tenant.token(settings, tenant.student)
    socket = await GraphQLSocket.open(server.ws_url, token)
    await socket.acknowledged()
    await socket.subscribe(CONTENT_CHANGED, {"id": to_global_id("Content", content.id)})
    await until(lambda: len(fanout) == 1, "the subscription registered")

    listener: EventListener = server.app.state.events.listener
    gate = Gate(listener.connect)
    listener.connect = gate
    gate.open.clear()  # the listener stays away until the edit below is committed
    await asyncio.to_thread(stop, own_database)
    try:
        refused = await GraphQLSocket.open(server.ws_url, token)
        closed = await refused.closed()
        assert (closed.code, closed.reason) == (
            1013,
            "the database is unavailable; try again later",
        )
        # An event already on its way when the database went: it cannot be read, so it is lost.
        fanout.publish(
            Event(
                tenant.org.id,
                EventKind.CONTENT_CHANGED,
                content.id,
                content.id,
                ContentChange.UPDATED,
            )
        )
        await until(lambda: "subscription event not delivered" in caplog.text, "the event given up")
    finally:
        await asyncio.to_thread(own_database.ensure_postgres_running)

    async with httpx.AsyncClient(base_url=server.http_url) as http:
        version = await edit_when_back(http, tenant.token(settings, tenant.admin), content.id)
    assert not listener.listening  # committed while the listener was away: no NOTIFY for it
    gate.open.set()
    event = (await socket.next())["data"]["contentChanged"]  # the same subscription, still alive
    assert event["content"]["version"] == version
    assert await socket.nothing_within(0.3)
    await socket.close()


async def test_a_burst_committed_while_the_listener_is_away_arrives_once_and_in_order(
    own_database: Any, live: tuple[LiveServer, Tenant], settings: Settings
) -> None:
    server, tenant = live
    assert server.app is not None
    listener: EventListener = server.app.state.events.listener
    gate = Gate(listener.connect)
    listener.connect = gate
    engine = create_async_engine(embedded.asyncpg_url(own_database), poolclass=NullPool)
    burst = await drafts(engine, tenant, BURST)
    await engine.dispose()
    socket = await GraphQLSocket.open(server.ws_url, tenant.token(settings, tenant.student))
    await socket.acknowledged()
    await socket.subscribe(CONTENT_PUBLISHED)
    fanout = server.app.state.events.fanout
    await until(lambda: len(fanout) == 1, "the subscription registered")

    gate.open.clear()
    await asyncio.to_thread(restart, own_database)
    instructor = tenant.token(settings, tenant.instructor)
    async with httpx.AsyncClient(base_url=server.http_url) as http:
        await publish_when_back(http, instructor, burst[0].id)
        for content in burst[1:]:
            response = await gql(
                http, PUBLISH, {"id": to_global_id("Content", content.id)}, token=instructor
            )
            assert response.data["publishContent"]["userErrors"] == []
    assert not listener.listening  # every one of them committed while the listener was away
    gate.open.set()

    received = [(await socket.next())["data"]["contentPublished"]["id"] for _ in burst]
    assert received == [to_global_id("Content", content.id) for content in burst]
    assert await socket.nothing_within(0.5)
    await socket.close()


async def drafts(engine: AsyncEngine, tenant: Tenant, count: int) -> list[models.Content]:
    sessionmaker = async_sessionmaker(engine, expire_on_commit=False)
    async with tenant_session(sessionmaker, tenant.org.id) as db:
        return [
            await make_content(db, author=tenant.instructor, status=models.ContentStatus.DRAFT)
            for _ in range(count)
        ]


async def publish_when_back(http: httpx.AsyncClient, token: str, pk: uuid.UUID) -> None:
    """Publish the content once HTTP requests work again (see `edit_when_back`)."""
    variables = {"id": to_global_id("Content", pk)}
    deadline = Deadline("HTTP requests work again")
    while deadline.running():
        response = await http.post(
            "/graphql",
            json={"query": PUBLISH, "variables": variables},
            headers={"Authorization": f"Bearer {token}"},
        )
        if response.status_code == 200 and "errors" not in response.json():
            assert response.json()["data"]["publishContent"]["userErrors"] == []
            return
        await asyncio.sleep(0.05)
    raise deadline.missed()
