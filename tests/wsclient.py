"""A small graphql-transport-ws client over `websockets`, for tests that count and time messages."""

import asyncio
import json
from dataclasses import dataclass
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.waiting import WAIT_SECONDS

PROTOCOL = "graphql-transport-ws"


@dataclass
class Closed:
    code: int | None
    reason: str


class GraphQLSocket:
    def __init__(self, connection: ClientConnection) -> None:
        self.connection = connection

    @classmethod
    async def open(
        cls, url: str, token: str | None = None, *, init: bool = True, subprotocol: str = PROTOCOL
    ) -> "GraphQLSocket":
        connection = await connect(url, subprotocols=[subprotocol], open_timeout=WAIT_SECONDS)  # type: ignore[list-item]
        socket = cls(connection)
        if init:
            payload = {} if token is None else {"Authorization": f"Bearer {token}"}
            await socket.send({"type": "connection_init", "payload": payload})
        return socket

    async def send(self, message: dict[str, Any]) -> None:
        await self.connection.send(json.dumps(message))

    async def receive(self, seconds: float = WAIT_SECONDS) -> dict[str, Any]:
        raw = await asyncio.wait_for(self.connection.recv(), seconds)
        message: dict[str, Any] = json.loads(raw)
        return message

    async def acknowledged(self, seconds: float = WAIT_SECONDS) -> None:
        message = await self.receive(seconds)
        assert message["type"] == "connection_ack", message

    async def subscribe(
        self, query: str, variables: dict[str, Any] | None = None, id: str = "1"
    ) -> None:
        await self.send(
            {"id": id, "type": "subscribe", "payload": {"query": query, "variables": variables}}
        )

    async def next(self, seconds: float = WAIT_SECONDS) -> dict[str, Any]:
        """The payload of the next `next` message (skipping pongs)."""
        while True:
            message = await self.receive(seconds)
            if message["type"] == "next":
                payload: dict[str, Any] = message["payload"]
                return payload
            assert message["type"] == "pong", message

    async def nothing_within(self, seconds: float) -> bool:
        """No message within `seconds`. Only proves something where an expected message then
        follows, in order; alone, a late message on a loaded machine would pass unnoticed."""
        try:
            message = await self.receive(seconds)
        except TimeoutError:
            return True
        raise AssertionError(f"expected no message, got {message}")

    async def closed(self, seconds: float = WAIT_SECONDS) -> Closed:
        try:
            while True:
                await asyncio.wait_for(self.connection.recv(), seconds)
        except ConnectionClosed as closed:
            received = closed.rcvd
            return Closed(received.code if received else None, received.reason if received else "")

    async def close(self) -> None:
        await self.connection.close()
