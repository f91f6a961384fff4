"""Resuming subscriptions: every event carries a cursor, and `after: <cursor>` replays what a
client missed (in its own tenant scope and read policy), then goes on live, each event once."""

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from gql_server import outbox
from gql_server.events import connector
from gql_server.metrics import EVENTS_REPLAYED
from gql_server.settings import Settings
from tests.api import gql
from tests.live import LiveServer, Tenant, in_process, make_tenant
from tests.test_subscriptions import PUBLISH, UPDATE, fanout, gid, server_settings
from tests.test_subscriptions_processes import drafts
from tests.waiting import until
from tests.wsclient import GraphQLSocket

CONTENT_CHANGED = """
subscription ($id: ID!, $after: String) {
  contentChanged(id: $id, after: $after) { change content { title version } }
}"""
CONTENT_PUBLISHED = "subscription ($after: String) { contentPublished(after: $after) { id } }"

Sessionmaker = async_sessionmaker[AsyncSession]


@pytest.fixture(scope="module")
async def server(database_url: str) -> AsyncIterator[LiveServer]:
    async with in_process(server_settings(), database_url) as live:
        yield live


@pytest.fixture(scope="module")
async def http(server: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.http_url) as client:
        yield client


@pytest.fixture
async def tenant(sessionmaker: Sessionmaker) -> Tenant:
    return await make_tenant(sessionmaker)


async def subscribe(
    server: LiveServer, token: str, query: str, variables: dict[str, Any]
) -> GraphQLSocket:
    """A socket whose subscription is registered (its replay, if any, already under way)."""
    before = len(fanout(server))
    socket = await GraphQLSocket.open(server.ws_url, token)
    await socket.acknowledged()
    await socket.subscribe(query, variables)
    await until(lambda: len(fanout(server)) > before, "the subscription registered")
    return socket


async def refusal(server: LiveServer, token: str, query: str, variables: dict[str, Any]) -> Any:
    socket = await GraphQLSocket.open(server.ws_url, token)
    await socket.acknowledged()
    await socket.subscribe(query, variables)
    message = await socket.receive()
    await socket.close()
    assert message["type"] == "error", message
    return message["payload"][0]


ARCHIVE = "mutation ($id: ID!) { archiveContent(input: {id: $id}) { userErrors { code } } }"


class Edits:
    """Changes to one content, by its organization's admin."""

    def __init__(self, http: httpx.AsyncClient, content: Any, token: str) -> None:
        self.http, self.id, self.token, self.version = http, gid(content), token, 1

    async def edit(self) -> str:
        variables = {"id": self.id, "version": self.version, "title": f"v{self.version + 1}"}
        response = await gql(self.http, UPDATE, variables, token=self.token)
        assert response.data["updateContent"]["userErrors"] == []
        self.version = response.data["updateContent"]["content"]["version"]
        return "UPDATED"

    async def archive(self) -> str:
        response = await gql(self.http, ARCHIVE, {"id": self.id}, token=self.token)
        assert response.data["archiveContent"]["userErrors"] == []
        self.version += 1
        return "ARCHIVED"

    async def publish(self) -> str:
        response = await gql(self.http, PUBLISH, {"id": self.id}, token=self.token)
        assert response.data["publishContent"]["userErrors"] == []
        self.version += 1
        return "PUBLISHED"


def change_of(payload: dict[str, Any]) -> str:
    change: str = payload["data"]["contentChanged"]["change"]
    return change


async def test_a_client_that_comes_back_with_its_cursor_gets_exactly_what_it_missed(
    server: LiveServer, http: httpx.AsyncClient, tenant: Tenant, settings: Settings
) -> None:
    admin = tenant.token(settings, tenant.admin)
    edits = Edits(http, tenant.published, admin)
    socket = await subscribe(server, admin, CONTENT_CHANGED, {"id": edits.id})
    await edits.edit()
    seen = await socket.next()
    assert change_of(seen) == "UPDATED"
    cursor = seen["extensions"]["cursor"]
    await socket.close()

    # Events carry ids only: replayed or live, an event shows the content as it is now.
    missed = [await edits.edit(), await edits.archive(), await edits.publish(), await edits.edit()]
    replayed_before = EVENTS_REPLAYED._value.get()
    socket = await subscribe(server, admin, CONTENT_CHANGED, {"id": edits.id, "after": cursor})
    received = [await socket.next() for _ in missed]
    assert [change_of(payload) for payload in received] == missed
    assert {payload["data"]["contentChanged"]["content"]["version"] for payload in received} == {
        edits.version
    }
    # Each replayed event has its own cursor, and the live ones go on from there, once each.
    assert len({payload["extensions"]["cursor"] for payload in received}) == len(missed)
    assert EVENTS_REPLAYED._value.get() - replayed_before == len(missed)
    await edits.archive()
    assert change_of(await socket.next()) == "ARCHIVED"
    assert await socket.nothing_within(0.3)
    await socket.close()

    # The cursor of the last replayed event: nothing missed since but the archiving, once.
    last = received[-1]["extensions"]["cursor"]
    socket = await subscribe(server, admin, CONTENT_CHANGED, {"id": edits.id, "after": last})
    assert change_of(await socket.next()) == "ARCHIVED"
    assert await socket.nothing_within(0.3)
    await socket.close()


async def test_a_replay_reads_under_the_subscribers_own_read_policy(
    server: LiveServer,
    http: httpx.AsyncClient,
    sessionmaker: Sessionmaker,
    tenant: Tenant,
    settings: Settings,
) -> None:
    instructor = tenant.token(settings, tenant.instructor)
    student = tenant.token(settings, tenant.student)
    first, hidden, visible = await drafts(sessionmaker, tenant, 3)
    socket = await subscribe(server, student, CONTENT_PUBLISHED, {})
    await gql(http, PUBLISH, {"id": gid(first)}, token=instructor)
    cursor = (await socket.next())["extensions"]["cursor"]
    await socket.close()

    for content in (hidden, visible):
        response = await gql(http, PUBLISH, {"id": gid(content)}, token=instructor)
        assert response.data["publishContent"]["userErrors"] == []
    # Archived before the student comes back: students read published contents only.
    await gql(http, ARCHIVE, {"id": gid(hidden)}, token=instructor)

    socket = await subscribe(server, student, CONTENT_PUBLISHED, {"after": cursor})
    assert (await socket.next())["data"]["contentPublished"] == {"id": gid(visible)}
    assert await socket.nothing_within(0.3)
    await socket.close()


async def test_a_cursor_past_the_retention_is_refused_with_cursor_expired(
    server: LiveServer,
    http: httpx.AsyncClient,
    engine: AsyncEngine,
    tenant: Tenant,
    settings: Settings,
) -> None:
    admin = tenant.token(settings, tenant.admin)
    edits = Edits(http, tenant.published, admin)
    socket = await subscribe(server, admin, CONTENT_CHANGED, {"id": edits.id})
    await edits.edit()
    cursor = (await socket.next())["extensions"]["cursor"]
    await socket.close()
    await edits.edit()

    connection = await connector(engine)()
    try:
        assert await outbox.prune(connection, retention_seconds=0, batch=100) >= 2
    finally:
        await connection.close()
    error = await refusal(server, admin, CONTENT_CHANGED, {"id": edits.id, "after": cursor})
    assert error["extensions"]["code"] == "CURSOR_EXPIRED"
    assert "refetch" in error["message"]

    # Subscribing afresh works, and so does the cursor of an event still kept.
    socket = await subscribe(server, admin, CONTENT_CHANGED, {"id": edits.id})
    await edits.edit()
    kept = (await socket.next())["extensions"]["cursor"]
    await socket.close()
    await edits.archive()
    socket = await subscribe(server, admin, CONTENT_CHANGED, {"id": edits.id, "after": kept})
    assert change_of(await socket.next()) == "ARCHIVED"
    await socket.close()


async def test_a_cursor_that_is_not_ours_is_bad_input_and_another_tenants_is_no_key(
    server: LiveServer,
    http: httpx.AsyncClient,
    sessionmaker: Sessionmaker,
    tenant: Tenant,
    settings: Settings,
) -> None:
    student = tenant.token(settings, tenant.student)
    for garbage in ("", "not-a-cursor", "eHgxOjE6Mg", "ZXYxOjE6Mgo"):
        error = await refusal(server, student, CONTENT_PUBLISHED, {"after": garbage})
        assert error["extensions"]["code"] == "BAD_USER_INPUT", garbage

    other = await make_tenant(sessionmaker)
    socket = await subscribe(server, other.token(settings, other.student), CONTENT_PUBLISHED, {})
    (content,) = await drafts(sessionmaker, other, 1)
    await gql(http, PUBLISH, {"id": gid(content)}, token=other.token(settings, other.instructor))
    theirs = (await socket.next())["extensions"]["cursor"]
    await socket.close()
    error = await refusal(server, student, CONTENT_PUBLISHED, {"after": theirs})
    assert error["extensions"]["code"] == "CURSOR_EXPIRED"
