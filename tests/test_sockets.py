"""The WebSocket door holds its frames and tokens to the rules: a malformed frame closes the
socket with 4400 and a reason, on either protocol, and the server goes on serving; a token is
checked on every event and closes the socket with 4401 the moment it expires."""

import json
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import models
from gql_server import auth
from gql_server.settings import Settings
from gql_server.tenancy import tenant_session
from schema.node import to_global_id
from tests.api import gql, token_for
from tests.live import LiveServer, in_process, make_tenant
from tests.waiting import until
from tests.wsclient import GraphQLSocket

Sessionmaker = async_sessionmaker[AsyncSession]
SUBSCRIPTION = "subscription { contentPublished { id } }"

# graphql-transport-ws frames (after connection_ack) that the protocol does not allow.
MALFORMED: dict[str, Any] = {
    "a number": 5,
    "an array": [],
    "a string": "subscribe",
    "an object without a type": {"id": "1"},
    "a type that is no string": {"type": 7},
    "a subscribe without an id": {"type": "subscribe", "payload": {"query": SUBSCRIPTION}},
    "a subscribe with a numeric id": {
        "id": 1,
        "type": "subscribe",
        "payload": {"query": SUBSCRIPTION},
    },
    "a payload that is a list": {"id": "1", "type": "subscribe", "payload": [SUBSCRIPTION]},
    "a query that is a list": {"id": "1", "type": "subscribe", "payload": {"query": ["{ a }"]}},
    "a query that is an object": {"id": "1", "type": "subscribe", "payload": {"query": {}}},
    "a query that is a number": {"id": "1", "type": "subscribe", "payload": {"query": 42}},
    "variables that are a list": {
        "id": "1",
        "type": "subscribe",
        "payload": {"query": SUBSCRIPTION, "variables": [1]},
    },
    "an operation name that is a number": {
        "id": "1",
        "type": "subscribe",
        "payload": {"query": SUBSCRIPTION, "operationName": 3},
    },
    "a complete without an id": {"type": "complete"},
}


def legacy(frame: Any) -> Any:
    """The same frame in the legacy protocol's words."""
    if isinstance(frame, dict) and frame.get("type") == "subscribe":
        return {**frame, "type": "start"}
    if isinstance(frame, dict) and frame.get("type") == "complete":
        return {**frame, "type": "stop"}
    return frame


@pytest.fixture(scope="module")
async def server(database_url: str) -> AsyncIterator[LiveServer]:
    async with in_process(Settings(database_url=None), database_url) as live:
        yield live


@pytest.fixture(scope="module")
async def token(sessionmaker: Sessionmaker, settings: Settings) -> str:
    return token_for(settings, (await make_tenant(sessionmaker)).student)


async def send_raw(socket: GraphQLSocket, frame: Any) -> None:
    await socket.connection.send(json.dumps(frame))


@pytest.mark.parametrize("subprotocol", ["graphql-transport-ws", "graphql-ws"])
@pytest.mark.parametrize("name", MALFORMED)
async def test_a_malformed_frame_closes_the_socket_with_4400(
    server: LiveServer, token: str, name: str, subprotocol: str
) -> None:
    frame = MALFORMED[name] if subprotocol == "graphql-transport-ws" else legacy(MALFORMED[name])
    socket = await GraphQLSocket.open(server.ws_url, token, subprotocol=subprotocol)
    await socket.acknowledged()
    await send_raw(socket, frame)
    closed = await socket.closed()
    assert closed.code == 4400, (name, closed)
    assert closed.reason  # says what was wrong
    # ... and the next client is served.
    again = await GraphQLSocket.open(server.ws_url, token, subprotocol=subprotocol)
    await again.acknowledged()
    await again.close()


async def test_a_frame_that_is_no_json_closes_the_socket_with_4400(
    server: LiveServer, token: str
) -> None:
    socket = await GraphQLSocket.open(server.ws_url, token)
    await socket.acknowledged()
    await socket.connection.send("{not json")
    assert (await socket.closed()).code == 4400


async def test_the_socket_closes_with_4401_when_its_token_expires(
    server: LiveServer, sessionmaker: Sessionmaker, settings: Settings
) -> None:
    tenant = await make_tenant(sessionmaker)
    user = tenant.student
    token = auth.issue(
        settings,
        user_id=user.id,
        organization_id=user.organization_id,
        role=user.role,
        ttl_seconds=5,  # long enough to be accepted on a busy machine, short for a test
    )
    expires_at = auth.verify(token, settings).expires_at
    socket = await GraphQLSocket.open(server.ws_url, token)
    await socket.acknowledged()
    await socket.subscribe(SUBSCRIPTION)
    closed = await socket.closed(seconds=30)
    assert closed.code == 4401
    assert "expired" in closed.reason
    assert time.time() >= expires_at  # not before


async def test_a_user_deactivated_meanwhile_gets_no_more_events(
    server: LiveServer, sessionmaker: Sessionmaker, settings: Settings
) -> None:
    tenant = await make_tenant(sessionmaker)
    socket = await GraphQLSocket.open(server.ws_url, token_for(settings, tenant.student))
    await socket.acknowledged()
    await socket.subscribe(SUBSCRIPTION)
    assert server.app is not None
    fanout = server.app.state.events.fanout
    await until(lambda: len(fanout), "the subscription registered")
    async with tenant_session(sessionmaker, tenant.org.id) as db:
        await db.execute(
            update(models.User)
            .where(models.User.id == tenant.student.id)
            .values(status=models.UserStatus.SUSPENDED)
        )
    async with httpx.AsyncClient(base_url=server.http_url) as http:
        published = await gql(
            http,
            "mutation ($id: ID!) { publishContent(input: {id: $id}) { userErrors { code } } }",
            {"id": to_global_id("Content", tenant.draft.id)},
            token=token_for(settings, tenant.instructor),
        )
    assert published.data["publishContent"]["userErrors"] == []
    closed = await socket.closed()
    assert closed.code == 4401
    assert "not active" in closed.reason
