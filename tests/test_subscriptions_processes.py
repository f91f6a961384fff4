"""Subscriptions across real `gql-server serve` processes: events travel through PostgreSQL."""

import asyncio
import statistics
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import models
from gql_server.settings import Settings
from gql_server.tenancy import tenant_session
from schema.node import to_global_id
from tests.api import Response, gql
from tests.factories import make_content
from tests.live import LiveServer, Tenant, make_tenant, processes
from tests.waiting import Deadline
from tests.wsclient import GraphQLSocket

CONTENT_CHANGED = """
subscription ($id: ID!) { contentChanged(id: $id) { change content { title version } } }"""
CONTENT_PUBLISHED = "subscription { contentPublished { id title } }"
UPDATE = """
mutation ($id: ID!, $version: Int!, $title: String!) {
  updateContent(input: {id: $id, expectedVersion: $version, title: $title}) {
    content { version } userErrors { code }
  }
}"""
PUBLISH = "mutation ($id: ID!) { publishContent(input: {id: $id}) { userErrors { code } } }"
SUBSCRIBERS = 200
BURST = 50
CONCURRENT = 30
# Until every subscription has received one, an event is triggered this often.
TRIGGER_INTERVAL_SECONDS = 0.5

Sessionmaker = async_sessionmaker[AsyncSession]


@pytest.fixture(scope="module")
async def servers(database_url: str) -> AsyncIterator[list[LiveServer]]:
    async with processes(database_url, 2) as live:
        yield live


@pytest.fixture
async def tenant(sessionmaker: Sessionmaker) -> Tenant:
    return await make_tenant(sessionmaker)


def gid(row: Any) -> str:
    return to_global_id("Content", row.id)


async def mutate(
    server: LiveServer, query: str, variables: dict[str, Any] | None, token: str
) -> Response:
    async with httpx.AsyncClient(base_url=server.http_url, timeout=30) as http:
        return await gql(http, query, variables, token=token)


async def drafts(sessionmaker: Sessionmaker, tenant: Tenant, count: int) -> list[models.Content]:
    async with tenant_session(sessionmaker, tenant.org.id) as db:
        return [
            await make_content(db, author=tenant.instructor, status=models.ContentStatus.DRAFT)
            for _ in range(count)
        ]


async def open_subscription(
    server: LiveServer, token: str, query: str, variables: dict[str, Any] | None = None
) -> GraphQLSocket:
    socket = await GraphQLSocket.open(server.ws_url, token)
    await socket.acknowledged()
    await socket.subscribe(query, variables)
    return socket


Recognise = Callable[[dict[str, Any]], bool]


async def until_delivered(
    sockets: list[GraphQLSocket], trigger: Callable[[], Awaitable[Recognise]]
) -> None:
    """Trigger events until every socket has received one: each subscription is then surely
    registered (another process's, nothing tells when). Each socket then reads on up to the
    last event triggered (which `trigger` returns a test for), so none is left behind."""
    firsts = [asyncio.ensure_future(socket.next()) for socket in sockets]
    deadline = Deadline("every subscription received an event")
    try:
        while True:
            last = await trigger()
            _, pending = await asyncio.wait(firsts, timeout=TRIGGER_INTERVAL_SECONDS)
            if not pending:
                break
            if not deadline.running():
                raise deadline.missed()
    finally:
        for first in firsts:
            first.cancel()
    for socket, first in zip(sockets, firsts, strict=True):
        payload = first.result()
        while not last(payload):
            payload = await socket.next()


def publishing(
    server: LiveServer, sessionmaker: Sessionmaker, tenant: Tenant, settings: Settings
) -> Callable[[], Awaitable[Recognise]]:
    """Publish a new content of `tenant` through `server`; a test that recognises its event."""
    token = tenant.token(settings, tenant.instructor)

    async def publish() -> Recognise:
        (draft,) = await drafts(sessionmaker, tenant, 1)
        response = await mutate(server, PUBLISH, {"id": gid(draft)}, token)
        assert response.data["publishContent"]["userErrors"] == []
        return lambda payload: payload["data"]["contentPublished"]["id"] == gid(draft)

    return publish


class Versions:
    """Successive titles for `updateContent` on one content, tracking its version."""

    def __init__(self, server: LiveServer, content: models.Content, token: str) -> None:
        self.server, self.id, self.token, self.version = server, gid(content), token, 1

    async def update(self) -> Response:
        response = await mutate(
            self.server,
            UPDATE,
            {"id": self.id, "version": self.version, "title": f"v{self.version + 1}"},
            self.token,
        )
        self.version = response.data["updateContent"]["content"]["version"]
        return response

    async def updated(self) -> Recognise:
        """Update; a test that recognises the event of this update."""
        await self.update()
        version = self.version
        return lambda payload: payload["data"]["contentChanged"]["content"]["version"] == version


async def test_a_mutation_on_one_process_reaches_a_subscriber_of_the_other(
    servers: list[LiveServer],
    tenant: Tenant,
    settings: Settings,
    capsys: pytest.CaptureFixture[str],
) -> None:
    first, second = servers
    edits = Versions(first, tenant.published, tenant.token(settings, tenant.admin))
    socket = await open_subscription(
        second, tenant.token(settings, tenant.student), CONTENT_CHANGED, {"id": edits.id}
    )
    await until_delivered([socket], edits.updated)

    async def received() -> tuple[float, dict[str, Any]]:
        payload = await socket.next()
        return time.perf_counter(), payload

    latencies, after_answer = [], []
    for _ in range(10):
        receiving = asyncio.create_task(received())
        started = time.perf_counter()
        await edits.update()
        answered = time.perf_counter()
        arrived, payload = await receiving
        latencies.append(arrived - started)
        after_answer.append(arrived - answered)
        assert payload["data"]["contentChanged"] == {
            "change": "UPDATED",
            "content": {"title": f"v{edits.version}", "version": edits.version},
        }
    await socket.close()
    with capsys.disabled():
        print(
            f"\n  mutation sent to :{first.port} -> event at :{second.port}:"
            f" median {statistics.median(latencies) * 1000:.1f} ms,"
            f" max {max(latencies) * 1000:.1f} ms; after the mutation's answer:"
            f" median {statistics.median(after_answer) * 1000:+.1f} ms"
        )


async def test_a_subscriber_of_another_tenant_receives_nothing(
    servers: list[LiveServer], sessionmaker: Sessionmaker, settings: Settings
) -> None:
    first, second = servers
    ours, theirs = await make_tenant(sessionmaker), await make_tenant(sessionmaker)
    our_socket = await open_subscription(
        second, ours.token(settings, ours.admin), CONTENT_PUBLISHED
    )
    their_socket = await open_subscription(
        second, theirs.token(settings, theirs.admin), CONTENT_PUBLISHED
    )
    publish_theirs = publishing(first, sessionmaker, theirs, settings)

    await until_delivered([their_socket], publish_theirs)
    await until_delivered([our_socket], publishing(first, sessionmaker, ours, settings))
    # Theirs committed after ours: their next event, in commit order, is theirs.
    theirs_last = await publish_theirs()
    assert theirs_last(await their_socket.next())
    await our_socket.close()
    await their_socket.close()


async def test_a_mutation_that_fails_with_user_errors_announces_nothing(
    servers: list[LiveServer], tenant: Tenant, settings: Settings
) -> None:
    first, second = servers
    admin = tenant.token(settings, tenant.admin)
    edits = Versions(first, tenant.published, admin)
    socket = await open_subscription(
        second, tenant.token(settings, tenant.admin), CONTENT_CHANGED, {"id": edits.id}
    )
    await until_delivered([socket], edits.updated)

    stale = {"id": edits.id, "version": edits.version - 1, "title": "Stale"}
    refused = await mutate(first, UPDATE, stale, admin)
    assert refused.data["updateContent"]["userErrors"] == [{"code": "VERSION_MISMATCH"}]
    student = tenant.token(settings, tenant.student)
    forbidden = await mutate(first, PUBLISH, {"id": edits.id}, student)
    assert forbidden.data["publishContent"]["userErrors"] == [{"code": "FORBIDDEN"}]
    await edits.update()
    last = await edits.updated()

    # Events arrive in commit order: between the refusals and the last update, exactly one.
    events = [await socket.next()]
    while not last(events[-1]):
        events.append(await socket.next())
    assert [event["data"]["contentChanged"]["change"] for event in events] == 2 * ["UPDATED"]
    await socket.close()


async def test_two_processes_deliver_the_same_sequence_of_concurrent_commits(
    servers: list[LiveServer], sessionmaker: Sessionmaker, tenant: Tenant, settings: Settings
) -> None:
    student = tenant.token(settings, tenant.student)
    instructor = tenant.token(settings, tenant.instructor)
    contents = await drafts(sessionmaker, tenant, CONCURRENT)
    sockets = [await open_subscription(server, student, CONTENT_PUBLISHED) for server in servers]
    publish = publishing(servers[0], sessionmaker, tenant, settings)
    await until_delivered(sockets, publish)  # both registered before the burst starts

    # Several at once through both processes: transactions overlap and commit in any order.
    responses = await asyncio.gather(
        *(
            mutate(servers[index % 2], PUBLISH, {"id": gid(content)}, instructor)
            for index, content in enumerate(contents)
        )
    )
    assert all(response.data["publishContent"]["userErrors"] == [] for response in responses)
    sequences = [[await socket.next() for _ in contents] for socket in sockets]
    first, second = (
        [
            (payload["data"]["contentPublished"]["id"], payload["extensions"]["cursor"])
            for payload in sequence
        ]
        for sequence in sequences
    )
    assert first == second
    assert sorted(content_id for content_id, _ in first) == sorted(gid(row) for row in contents)
    last = await publish()
    for socket in sockets:  # and nothing else, once
        assert last(await socket.next())
        await socket.close()


async def test_200_subscribers_receive_a_burst_of_50_events_in_order(
    servers: list[LiveServer],
    sessionmaker: Sessionmaker,
    tenant: Tenant,
    settings: Settings,
    capsys: pytest.CaptureFixture[str],
) -> None:
    server = servers[0]
    token = tenant.token(settings, tenant.student)
    instructor = tenant.token(settings, tenant.instructor)
    burst = await drafts(sessionmaker, tenant, BURST)

    opened = time.perf_counter()
    sockets = await asyncio.gather(
        *(open_subscription(server, token, CONTENT_PUBLISHED) for _ in range(SUBSCRIBERS))
    )
    connect_seconds = time.perf_counter() - opened
    await until_delivered(sockets, publishing(server, sessionmaker, tenant, settings))

    async def receive_all(socket: GraphQLSocket) -> list[str]:
        return [(await socket.next())["data"]["contentPublished"]["id"] for _ in burst]

    started, cpu = time.perf_counter(), server.cpu_seconds()
    receivers = [asyncio.create_task(receive_all(socket)) for socket in sockets]
    try:
        for row in burst:  # one after the other: the commit order is the order to expect
            response = await mutate(server, PUBLISH, {"id": gid(row)}, instructor)
            assert response.data["publishContent"]["userErrors"] == []
        published = time.perf_counter() - started
        received = await asyncio.gather(*receivers)
    finally:
        for receiver in receivers:
            receiver.cancel()
    seconds, cpu = time.perf_counter() - started, server.cpu_seconds() - cpu

    expected = [gid(row) for row in burst]
    assert all(ids == expected for ids in received)
    await asyncio.gather(*(socket.close() for socket in sockets))
    deliveries = SUBSCRIBERS * BURST
    with capsys.disabled():
        print(
            f"\n  {SUBSCRIBERS} subscribers x {BURST} events: {deliveries} deliveries in"
            f" {seconds:.2f} s ({deliveries / seconds:.0f}/s, one read per subscriber and"
            f" event; the {BURST} mutations took {published:.2f} s); server CPU"
            f" {cpu:.2f} s = {cpu / deliveries * 1000:.2f} ms per delivery; connecting"
            f" {SUBSCRIBERS} sockets took {connect_seconds:.2f} s"
        )
