"""`/graphql` over WebSocket: graphql-transport-ws (and the legacy graphql-ws) for subscriptions.

Strawberry's ASGI view speaks the protocols; this module decides who is connected and what the
subscriptions may do:
- The token travels in `connection_init` (`{"Authorization": "Bearer ..."}`). A missing or bad
  token, or a user who is not active, closes the connection with 4401; no `connection_init`
  within `GQL_SUBSCRIPTION_INIT_TIMEOUT_SECONDS` closes it with 4408. (The legacy protocol
  answers `connection_error` instead, as it specifies.)
- The operation context is a `gql_server.subscriber.Connection`: the viewer, and one short
  session per event; it never holds a session itself.
- Queries and mutations go over HTTP; sent over the socket, they get an `error` message.
- A connection whose subscriptions fall more than `GQL_SUBSCRIPTION_QUEUE_SIZE` events behind is
  closed with 4413: its events are gone, and clients such as graphql-ws reconnect and resubscribe.
"""

import logging
from datetime import timedelta

from graphql import GraphQLError, GraphQLSyntaxError, OperationType, get_operation_ast
from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_WS_PROTOCOL
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import (
    ConnectionInitMessage,
    Message,
    SubscribeMessage,
)
from strawberry.subscriptions.protocols.graphql_ws.handlers import BaseGraphQLWSHandler
from strawberry.subscriptions.protocols.graphql_ws.types import OperationMessage
from strawberry.types.unset import UnsetType

from gql_server import auth
from gql_server.graphql_request import parse_document
from gql_server.metrics import EVENTS_DELIVERED
from gql_server.settings import Settings
from gql_server.subscriber import Connection
from gql_server.unavailable import DatabaseUnavailable
from schema import schema
from schema.context import PageLimits

log = logging.getLogger(__name__)

CLOSE_UNAUTHORIZED = 4401
CLOSE_TRY_AGAIN_LATER = 1013  # not fatal to graphql-ws clients: they retry
# Browsers send no credentials of ours with the handshake (the token comes in connection_init),
# so a page on any origin may connect: there is no ambient authority to protect.
ANY_ORIGIN = ("*",)
LEGACY_KEEP_ALIVE_SECONDS = 15.0


def _refusal(error: Exception) -> tuple[int, str]:
    """Close code and reason for a connection_init that did not sign in."""
    if isinstance(error, DatabaseUnavailable):
        log.warning("connection_init refused: the database is unavailable (%s)", error)
        return CLOSE_TRY_AGAIN_LATER, "the database is unavailable; try again later"
    return CLOSE_UNAUTHORIZED, str(error)[:120]  # a close reason holds at most 123 bytes


def _is_subscription(message: SubscribeMessage) -> bool:
    payload = message["payload"]
    try:
        document = parse_document(payload["query"])
    except GraphQLSyntaxError:
        return True  # Strawberry answers it as the protocol says (4400)
    operation = get_operation_ast(document, payload.get("operationName"))
    return operation is None or operation.operation is OperationType.SUBSCRIPTION


class TransportWSHandler(BaseGraphQLTransportWSHandler[Connection, None]):
    async def handle(self) -> None:
        try:
            await super().handle()
        finally:
            await self.context.shutdown()

    async def handle_connection_init(self, message: ConnectionInitMessage) -> None:
        payload = message.get("payload", {})
        first = not (self.connection_init_received or self.connection_timed_out)
        if first and isinstance(payload, dict):
            if self.connection_init_timeout_task:
                self.connection_init_timeout_task.cancel()
            self.context.connection_params = payload
            try:
                await self.context.sign_in()
            except (auth.Unauthenticated, DatabaseUnavailable) as error:
                self.connection_init_received = True
                await self.websocket.close(*_refusal(error))
                return
        await super().handle_connection_init(message)

    async def handle_subscribe(self, message: SubscribeMessage) -> None:
        if self.connection_acknowledged and not _is_subscription(message):
            error = GraphQLError(
                "only subscriptions run over WebSocket; send queries and mutations over HTTP",
                extensions={"code": "BAD_REQUEST"},
            )
            await self.send_message(
                {"id": message["id"], "type": "error", "payload": [error.formatted]}
            )
            return
        await super().handle_subscribe(message)

    async def send_message(self, message: Message) -> None:
        await super().send_message(message)
        if message["type"] == "next":
            EVENTS_DELIVERED.inc()


class LegacyWSHandler(BaseGraphQLWSHandler[Connection, None]):
    async def handle(self) -> None:
        try:
            await super().handle()
        finally:
            await self.context.shutdown()

    async def send_message(self, message: OperationMessage) -> None:
        await super().send_message(message)
        if message["type"] == "data":
            EVENTS_DELIVERED.inc()


class GraphQLWebSocket(GraphQL[Connection, None]):
    graphql_transport_ws_handler_class = TransportWSHandler
    graphql_ws_handler_class = LegacyWSHandler

    def __init__(self, settings: Settings) -> None:
        super().__init__(
            schema,
            graphql_ide=None,
            keep_alive=True,  # `ka` messages, for legacy clients; graphql-transport-ws pings
            keep_alive_interval=LEGACY_KEEP_ALIVE_SECONDS,
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_WS_PROTOCOL),
            connection_init_wait_timeout=timedelta(
                seconds=settings.subscription_init_timeout_seconds
            ),
            max_subscriptions_per_connection=settings.subscriptions_per_connection,
            allowed_origins=ANY_ORIGIN,
        )
        self.settings = settings
        self.limits = PageLimits(settings.default_page_size, settings.max_page_size)

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> Connection:
        assert isinstance(request, WebSocket), "HTTP goes to gql_server.endpoint"
        return Connection(request, self.settings, self.limits)

    async def on_ws_connect(self, context: Connection) -> UnsetType | dict[str, object] | None:
        # The legacy protocol's init; graphql-transport-ws signed in already (4401 on failure).
        try:
            await context.sign_in()
        except (auth.Unauthenticated, DatabaseUnavailable) as error:
            raise ConnectionRejectionError({"message": _refusal(error)[1]}) from None
        return UnsetType()  # the singleton: connection_ack without a payload
