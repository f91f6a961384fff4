"""Subscriptions over a real socket, the app running under uvicorn in this process."""

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gql_server.fanout import Fanout
from gql_server.metrics import EVENTS_DROPPED
from gql_server.settings import Settings
from gql_server.tenancy import tenant_session
from schema.node import to_global_id
from tests.api import gql
from tests.differential import Differential
from tests.factories import make_content
from tests.live import LiveServer, Tenant, in_process, make_tenant
from tests.waiting import WAIT_SECONDS, until
from tests.wsclient import GraphQLSocket

CONTENT_CHANGED = """
subscription ($id: ID!) {
  contentChanged(id: $id) { change contentId content { title version status author { username } } }
}"""
CONTENT_PUBLISHED = "subscription { contentPublished { id title status author { username } } }"
UPDATE = """
mutation ($id: ID!, $version: Int!, $title: String!) {
  updateContent(input: {id: $id, expectedVersion: $version, title: $title}) {
    content { version } userErrors { code }
  }
}"""
COMMENT_ADDED = """
subscription ($contentId: ID!) {
  commentAdded(contentId: $contentId) { id body author { username } content { title } }
}"""
ADD_COMMENT = """
mutation ($contentId: ID!, $body: String!) {
  addComment(input: {contentId: $contentId, body: $body}) { comment { id } userErrors { code } }
}"""
PUBLISH = "mutation ($id: ID!) { publishContent(input: {id: $id}) { userErrors { code } } }"
ARCHIVE = "mutation ($id: ID!) { archiveContent(input: {id: $id}) { userErrors { code } } }"

Sessionmaker = async_sessionmaker[AsyncSession]


def server_settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {"database_url": None, "statement_timeout_ms": 10_000}
    return Settings(**{**values, **overrides})


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


def fanout(server: LiveServer) -> Fanout:
    assert server.app is not None
    result: Fanout = server.app.state.events.fanout
    return result


async def subscribed(
    server: LiveServer, token: str, query: str, variables: dict[str, Any] | None = None
) -> GraphQLSocket:
    """A socket with one subscription that the server has registered."""
    before = len(fanout(server))
    socket = await GraphQLSocket.open(server.ws_url, token)
    await socket.acknowledged()
    await socket.subscribe(query, variables)
    await until(lambda: len(fanout(server)) > before, "the subscription registered")
    return socket


def gid(content: Any) -> str:
    return to_global_id("Content", content.id)


async def test_a_missing_token_closes_the_connection_with_4401(server: LiveServer) -> None:
    socket = await GraphQLSocket.open(server.ws_url, token=None)
    closed = await socket.closed()
    assert closed.code == 4401
    assert "Authorization" in closed.reason


async def test_a_bad_token_closes_the_connection_with_4401(server: LiveServer) -> None:
    socket = await GraphQLSocket.open(server.ws_url, token="not-a-jwt")
    assert (await socket.closed()).code == 4401


async def test_the_token_may_come_nested_in_headers(
    server: LiveServer, tenant: Tenant, settings: Settings
) -> None:
    socket = await GraphQLSocket.open(server.ws_url, init=False)
    authorization = f"Bearer {tenant.token(settings, tenant.student)}"
    await socket.send(
        {"type": "connection_init", "payload": {"headers": {"authorization": authorization}}}
    )
    await socket.acknowledged()
    await socket.close()


async def test_a_connection_that_never_inits_is_closed_with_4408(database_url: str) -> None:
    # A server of its own: a timeout this short would refuse slow clients of the other tests.
    settings = server_settings(subscription_init_timeout_seconds=0.3)
    async with in_process(settings, database_url) as server:
        socket = await GraphQLSocket.open(server.ws_url, init=False)
        assert (await socket.closed()).code == 4408


async def test_subscribing_before_the_server_acknowledged_is_refused(
    server: LiveServer, tenant: Tenant, settings: Settings
) -> None:
    socket = await GraphQLSocket.open(server.ws_url, init=False)
    await socket.subscribe(CONTENT_PUBLISHED)
    assert (await socket.closed()).code == 4401


async def test_content_changes_reach_a_student_only_while_it_may_see_the_content(
    server: LiveServer,
    http: httpx.AsyncClient,
    tenant: Tenant,
    settings: Settings,
    differential: Differential,
) -> None:
    planned_before = differential.compared_events
    admin = tenant.token(settings, tenant.admin)
    content = gid(tenant.published)
    socket = await subscribed(
        server, tenant.token(settings, tenant.student), CONTENT_CHANGED, {"id": content}
    )

    await gql(http, UPDATE, {"id": content, "version": 1, "title": "Edited"}, token=admin)
    event = (await socket.next())["data"]["contentChanged"]
    assert event["change"] == "UPDATED"
    assert event["contentId"] == content
    assert event["content"]["title"] == "Edited"
    assert event["content"]["version"] == 2
    assert event["content"]["author"]["username"] == tenant.instructor.username
    # The same values again: no change, no event. Events arrive in commit order, so the next
    # one being the archiving proves it (as further below: the hidden edit is not the student's).
    await gql(http, UPDATE, {"id": content, "version": 2, "title": "Edited"}, token=admin)

    await gql(http, ARCHIVE, {"id": content}, token=admin)  # students see published contents only
    event = (await socket.next())["data"]["contentChanged"]
    assert event == {"change": "ARCHIVED", "contentId": content, "content": None}

    await gql(http, UPDATE, {"id": content, "version": 3, "title": "Hidden"}, token=admin)

    await gql(http, PUBLISH, {"id": content}, token=admin)
    event = (await socket.next())["data"]["contentChanged"]
    assert event["change"] == "PUBLISHED"
    assert event["content"]["title"] == "Hidden"
    await socket.close()
    # Each event was answered by the subscription's plan (and compared with the standard way).
    assert differential.compared_events - planned_before == 3


async def test_subscribing_to_a_content_the_viewer_cannot_see_is_refused(
    server: LiveServer, tenant: Tenant, settings: Settings
) -> None:
    socket = await GraphQLSocket.open(server.ws_url, tenant.token(settings, tenant.student))
    await socket.acknowledged()
    await socket.subscribe(CONTENT_CHANGED, {"id": gid(tenant.draft)})
    message = await socket.receive()
    assert message["type"] == "error"
    assert message["payload"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    await socket.close()


async def test_a_published_draft_reaches_every_viewer_and_a_draft_edit_reaches_no_student(
    server: LiveServer, http: httpx.AsyncClient, tenant: Tenant, settings: Settings
) -> None:
    published = await subscribed(server, tenant.token(settings, tenant.student), CONTENT_PUBLISHED)
    instructor = tenant.token(settings, tenant.instructor)
    draft = gid(tenant.draft)

    # An edit of a draft publishes nothing: the first event is the publication.
    await gql(http, UPDATE, {"id": draft, "version": 1, "title": "Still a draft"}, token=instructor)
    await gql(http, PUBLISH, {"id": draft}, token=instructor)
    event = (await published.next())["data"]["contentPublished"]
    assert event == {
        "id": draft,
        "title": "Still a draft",
        "status": "PUBLISHED",
        "author": {"username": tenant.instructor.username},
    }
    await published.close()


async def test_queries_and_mutations_belong_to_http(
    server: LiveServer, tenant: Tenant, settings: Settings
) -> None:
    socket = await GraphQLSocket.open(server.ws_url, tenant.token(settings, tenant.student))
    await socket.acknowledged()
    await socket.subscribe("{ viewer { username } }")
    message = await socket.receive()
    assert message["type"] == "error"
    assert "HTTP" in message["payload"][0]["message"]
    await socket.close()


async def test_closing_connections_releases_subscriptions_tasks_and_sessions(
    server: LiveServer, tenant: Tenant, settings: Settings
) -> None:
    assert server.app is not None
    token = tenant.token(settings, tenant.student)

    def tasks() -> int:
        # The listener's own come and go as it reads what is written (the set-up's writes too).
        return sum(not t.get_name().startswith("gql-event-") for t in asyncio.all_tasks())

    baseline = tasks()
    sockets = [await subscribed(server, token, CONTENT_PUBLISHED) for _ in range(20)]
    assert len(fanout(server)) == 20
    assert tasks() > baseline

    await asyncio.gather(*(socket.close() for socket in sockets))
    await until(
        lambda: len(fanout(server)) == 0 and tasks() <= baseline,
        "every subscription and its tasks gone",
    )
    assert server.app.state.engine.pool.checkedout() == 0
    assert server.app.state.events.engine.pool.checkedout() == 0


async def test_a_subscriber_that_falls_behind_is_disconnected_with_4413(
    database_url: str, sessionmaker: Sessionmaker, settings: Settings
) -> None:
    tenant = await make_tenant(sessionmaker)
    instructor = tenant.token(settings, tenant.instructor)
    drafts = [tenant.draft]
    # One transaction publishing many contents: the events arrive at once, faster than any
    # subscriber reads them.
    async with tenant_session(sessionmaker, tenant.org.id) as db:
        for _ in range(9):
            drafts.append(
                await make_content(db, author=tenant.instructor, status=tenant.draft.status)
            )
    fields = " ".join(
        f'p{i}: publishContent(input: {{id: "{gid(draft)}"}}) {{ userErrors {{ code }} }}'
        for i, draft in enumerate(drafts)
    )
    burst = f"mutation {{ {fields} }}"
    dropped_before = EVENTS_DROPPED._value.get()

    async with in_process(server_settings(subscription_queue_size=3), database_url) as live:
        socket = await subscribed(live, tenant.token(settings, tenant.student), CONTENT_PUBLISHED)
        async with httpx.AsyncClient(base_url=live.http_url) as http:
            response = await gql(http, burst, token=instructor)
        assert all(not payload["userErrors"] for payload in response.data.values())
        closed = await socket.closed()
        assert closed.code == 4413
        assert "too slow" in closed.reason
        await until(lambda: len(fanout(live)) == 0, "the slow subscriber gone")
    assert EVENTS_DROPPED._value.get() > dropped_before


@pytest.mark.parametrize("subprotocol", ["graphql-transport-ws", "graphql-ws"])
async def test_the_gql_client_subscribes_and_receives_an_event(
    server: LiveServer,
    http: httpx.AsyncClient,
    tenant: Tenant,
    settings: Settings,
    subprotocol: str,
) -> None:
    from gql import Client
    from gql import gql as document
    from gql.transport.websockets import WebsocketsTransport

    content = gid(tenant.published)
    transport = WebsocketsTransport(
        url=server.ws_url,
        init_payload={"Authorization": f"Bearer {tenant.token(settings, tenant.student)}"},
        subprotocols=[subprotocol],
    )
    request = document(COMMENT_ADDED)
    request.variable_values = {"contentId": content}
    before = len(fanout(server))
    async with Client(transport=transport) as session:
        results = session.subscribe(request)
        first = asyncio.ensure_future(anext(results))
        await until(lambda: len(fanout(server)) > before, "the subscription registered")
        added = await gql(
            http,
            ADD_COMMENT,
            {"contentId": content, "body": "First!"},
            token=tenant.token(settings, tenant.admin),
        )
        result = await asyncio.wait_for(first, WAIT_SECONDS)
        await results.aclose()
    comment = added.data["addComment"]["comment"]
    assert result == {
        "commentAdded": {
            "id": comment["id"],
            "body": "First!",
            "author": {"username": tenant.admin.username},
            "content": {"title": tenant.published.title},
        }
    }


async def test_sockets_closed_in_the_middle_of_a_burst_leave_nothing_behind(
    server: LiveServer,
    http: httpx.AsyncClient,
    tenant: Tenant,
    settings: Settings,
    sessionmaker: Sessionmaker,
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert server.app is not None
    async with tenant_session(sessionmaker, tenant.org.id) as db:
        drafts = [
            await make_content(db, author=tenant.instructor, status=tenant.draft.status)
            for _ in range(15)
        ]
    fields = " ".join(
        f'p{i}: publishContent(input: {{id: "{gid(draft)}"}}) {{ userErrors {{ code }} }}'
        for i, draft in enumerate(drafts)
    )
    nested = "subscription { contentPublished { title author { username profile { bio } } } }"
    token = tenant.token(settings, tenant.student)
    sockets = [await subscribed(server, token, nested) for _ in range(30)]

    await gql(http, f"mutation {{ {fields} }}", token=tenant.token(settings, tenant.instructor))
    for socket in sockets:  # events are being read for every subscriber when the sockets go
        await socket.next()
    await asyncio.gather(*(socket.close() for socket in sockets))

    await until(lambda: len(fanout(server)) == 0, "every subscription gone")
    await until(
        lambda: server.app.state.events.engine.pool.checkedout() == 0, "every event read done"
    )
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]
