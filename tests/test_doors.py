"""One door for every transport: the same operation is admitted or refused the same way over
HTTP and over both WebSocket protocols (graphql-transport-ws and the legacy graphql-ws).

Each case is a subscription document; HTTP refuses what is over a limit before it says that
subscriptions run over a WebSocket, so all three doors answer every case with the same codes.
"""

import hashlib
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gql_server.settings import Settings
from tests.api import gql, token_for
from tests.live import LiveServer, in_process, make_tenant
from tests.wsclient import GraphQLSocket


@dataclass(frozen=True)
class Case:
    query: str | None
    codes: list[str]
    variables: dict[str, Any] | None = None
    extensions: dict[str, Any] | None = field(default=None)


PARENTS = "parent { " * 9 + "id" + " }" * 9
ORDERED = (
    "subscription ($o: ContentOrder = CREATED_AT_DESC) { contentPublished {"
    " author { contents(first: 1, orderBy: $o) { nodes { id } } } } }"
)
UNKNOWN_HASH = hashlib.sha256(uuid.uuid4().bytes).hexdigest()
CASES = {
    "depth": Case(
        f"subscription {{ contentPublished {{ comments(first: 1) {{ nodes {{ {PARENTS} }} }} }} }}",
        ["DEPTH_LIMIT_EXCEEDED"],
    ),
    "aliases": Case(
        "subscription { contentPublished { " + " ".join(f"a{i}: id" for i in range(31)) + " } }",
        ["ALIAS_LIMIT_EXCEEDED"],
    ),
    "directives": Case(
        "subscription { contentPublished { " + "id @include(if: true) " * 51 + "} }",
        ["DIRECTIVE_LIMIT_EXCEEDED"],
    ),
    "cost": Case(
        "subscription { contentPublished {"
        " comments(first: 100) { nodes { replies(first: 100) { nodes { id } } } } } }",
        ["COST_LIMIT_EXCEEDED"],
    ),
    "tokens": Case(
        "subscription { contentPublished { " + "id " * 5_000 + "} }", ["TOKEN_LIMIT_EXCEEDED"]
    ),
    "unknown field": Case(
        "subscription { contentPublished { secret } }", ["GRAPHQL_VALIDATION_FAILED"]
    ),
    "a string for an Int variable": Case(
        "subscription ($n: Int) { contentPublished { comments(first: $n) { nodes { id } } } }",
        ["BAD_USER_INPUT"],
        {"n": "ten"},
    ),
    "an unknown enum value": Case(ORDERED, ["BAD_USER_INPUT"], {"o": "SECRET"}),
    # As Relay writes it: a nullable variable with a default, sent as null.
    "null for a variable used where null is not allowed": Case(
        ORDERED, ["BAD_USER_INPUT"], {"o": None}
    ),
    "a persisted query the server does not know": Case(
        None,
        ["PERSISTED_QUERY_NOT_FOUND"],
        extensions={"persistedQuery": {"version": 1, "sha256Hash": UNKNOWN_HASH}},
    ),
}


@pytest.fixture(scope="module")
async def server(database_url: str) -> AsyncIterator[LiveServer]:
    settings = Settings(database_url=None, subscription_init_timeout_seconds=2)
    async with in_process(settings, database_url) as live:
        yield live


@pytest.fixture(scope="module")
async def token(sessionmaker: async_sessionmaker[AsyncSession]) -> str:
    tenant = await make_tenant(sessionmaker)
    return token_for(Settings(database_url=None), tenant.student)


def payload(case: Case) -> dict[str, Any]:
    sent: dict[str, Any] = {"variables": case.variables}
    if case.query is not None:
        sent["query"] = case.query
    if case.extensions is not None:
        sent["extensions"] = case.extensions
    return sent


async def over_http(server: LiveServer, token: str, case: Case) -> list[str]:
    async with httpx.AsyncClient(base_url=server.http_url) as client:
        response = await client.post(
            "/graphql", json=payload(case), headers={"Authorization": f"Bearer {token}"}
        )
    assert response.status_code == 200, response.text
    body = response.json()
    assert "data" not in body, body  # refused before it ran
    return [error["extensions"]["code"] for error in body["errors"]]


async def over_transport_ws(server: LiveServer, token: str, case: Case) -> list[str]:
    socket = await GraphQLSocket.open(server.ws_url, token)
    try:
        await socket.acknowledged()
        await socket.send({"id": "1", "type": "subscribe", "payload": payload(case)})
        message = await socket.receive()
        assert message["type"] == "error", message
        return [error["extensions"]["code"] for error in message["payload"]]
    finally:
        await socket.close()


async def over_legacy_ws(server: LiveServer, token: str, case: Case) -> list[str]:
    socket = await GraphQLSocket.open(server.ws_url, token, subprotocol="graphql-ws")
    try:
        await socket.acknowledged()
        await socket.send({"id": "1", "type": "start", "payload": payload(case)})
        message = await socket.receive()
        while message["type"] == "ka":
            message = await socket.receive()
        assert message["type"] == "error", message
        return [message["payload"]["extensions"]["code"]]  # the protocol carries one error
    finally:
        await socket.close()


@pytest.mark.parametrize("name", CASES)
async def test_each_door_refuses_the_same_way(server: LiveServer, token: str, name: str) -> None:
    case = CASES[name]
    assert await over_http(server, token, case) == case.codes
    assert await over_transport_ws(server, token, case) == case.codes
    assert await over_legacy_ws(server, token, case) == case.codes[:1]


async def test_a_document_that_does_not_parse(server: LiveServer, token: str) -> None:
    case = Case("subscription { contentPublished {", ["GRAPHQL_PARSE_FAILED"])
    assert await over_http(server, token, case) == case.codes
    assert await over_legacy_ws(server, token, case) == case.codes
    # graphql-transport-ws says so: an unparsable subscribe closes the socket with 4400.
    socket = await GraphQLSocket.open(server.ws_url, token)
    await socket.acknowledged()
    await socket.send({"id": "1", "type": "subscribe", "payload": payload(case)})
    closed = await socket.closed()
    assert closed.code == 4400
    assert "Syntax Error" in closed.reason


async def test_an_admitted_subscription_is_pointed_to_the_websocket_over_http(
    server: LiveServer, token: str
) -> None:
    async with httpx.AsyncClient(base_url=server.http_url) as client:
        response = await gql(client, "subscription { contentPublished { id } }", token=token)
    assert response.status == 400
    assert "WebSocket" in json.dumps(response.body)
