"""`/graphql` over WebSocket: graphql-transport-ws (and the legacy graphql-ws) for subscriptions.

Strawberry's ASGI view speaks the protocols; this module holds them to the server's rules, the
same as HTTP's:
- Every message is checked before it is read: a frame that is not a JSON object, lacks its
  `type`, or whose `id` or `payload` are not what the protocol says closes the socket with 4400
  and a reason.
- The token travels in `connection_init` (`{"Authorization": "Bearer ..."}`). A missing or bad
  token, or a user who is not active, closes the connection with 4401; no `connection_init`
  within `GQL_SUBSCRIPTION_INIT_TIMEOUT_SECONDS` closes it with 4408. The token expiring closes
  it with 4401 at that moment (`gql_server.subscriber`). (The legacy protocol answers
  `connection_error` at init instead, as it specifies.)
- Every `subscribe` goes through the door HTTP requests go through (`gql_server.admission`):
  persisted documents, parsing, validation, every limit of the viewer's tenant, variables. A
  document that does not parse closes the socket with 4400, as the protocol says; any other
  refusal is an `error` message with the same errors an HTTP request gets.
- A page on another origin may connect only from an origin of `GQL_CORS_ORIGINS`, as for
  `fetch`; the handshake of any other is refused (403) before the socket opens.
- Queries and mutations go over HTTP; sent over the socket, they get an `error` message.
- Errors of an event are classified as on HTTP (`gql_server.errors`).
- A connection whose subscriptions fall more than `GQL_SUBSCRIPTION_QUEUE_SIZE` events behind is
  closed with 4413: its events are gone, and clients such as graphql-ws reconnect and resubscribe.
"""

import asyncio
import logging
from contextlib import suppress
from datetime import timedelta
from typing import Any, cast

from graphql import GraphQLFormattedError, OperationType
from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http.exceptions import WebSocketDisconnected
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_WS_PROTOCOL
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
    Operation,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import (
    ConnectionInitMessage,
    ErrorMessage,
    Message,
    NextMessage,
    NextMessagePayload,
    SubscribeMessage,
)
from strawberry.subscriptions.protocols.graphql_ws.handlers import BaseGraphQLWSHandler
from strawberry.subscriptions.protocols.graphql_ws.types import (
    DataMessage,
    DataMessagePayload,
    OperationMessage,
    StartMessage,
)
from strawberry.subscriptions.protocols.graphql_ws.types import ErrorMessage as LegacyErrorMessage
from strawberry.types.execution import PreExecutionError
from strawberry.types.unset import UnsetType
from strawberry.utils.aio import aclosing

from gql_server import auth, cors
from gql_server.admission import Admission, Admitted, Refused
from gql_server.errors import ErrorFormatter
from gql_server.identity import ProviderUnavailable
from gql_server.metrics import EVENTS_DELIVERED
from gql_server.settings import Settings
from gql_server.subscriber import CLOSE_UNAUTHORIZED, Connection
from gql_server.tenant_limits import TenantLimits
from gql_server.unavailable import DatabaseUnavailable
from schema import schema
from schema.context import PageLimits

log = logging.getLogger(__name__)

CLOSE_BAD_REQUEST = 4400
CLOSE_TRY_AGAIN_LATER = 1013  # not fatal to graphql-ws clients: they retry
LEGACY_KEEP_ALIVE_SECONDS = 15.0
ONLY_SUBSCRIPTIONS = "only subscriptions run over WebSocket; send queries and mutations over HTTP"
# What each message type's `payload` must be, by protocol (None: no payload allowed to matter).
_OPERATION_MESSAGES = {"subscribe", "complete", "start", "stop"}


def frame_problem(message: Any, payload_types: frozenset[str]) -> str | None:
    """What is wrong with a received frame, or None; `payload_types` are the message types
    whose payload must be an operation (`subscribe`, `start`)."""
    if not isinstance(message, dict):
        return "a message must be a JSON object"
    kind = message.get("type")
    if not isinstance(kind, str):
        return "a message needs a `type` string"
    payload = message.get("payload")
    if kind == "connection_init" and payload is not None and not isinstance(payload, dict):
        return "the connection_init payload must be an object"
    if kind in _OPERATION_MESSAGES:
        operation_id = message.get("id")
        if not isinstance(operation_id, str) or not operation_id:
            return f"a {kind} message needs an `id` string"
    if kind in payload_types:
        if not isinstance(payload, dict):
            return f"a {kind} message needs a `payload` object"
        for key, types, what in (
            ("query", (str,), "a string"),
            ("operationName", (str,), "a string"),
            ("variables", (dict,), "an object"),
            ("extensions", (dict,), "an object"),
        ):
            value = payload.get(key)
            if value is not None and not isinstance(value, types):
                return f"`payload.{key}` must be {what}"
    return None


def _refusal(error: Exception) -> tuple[int, str]:
    """Close code and reason for a connection_init that did not sign in."""
    if isinstance(error, DatabaseUnavailable):
        log.warning("connection_init refused: the database is unavailable (%s)", error)
        return CLOSE_TRY_AGAIN_LATER, "the database is unavailable; try again later"
    if isinstance(error, ProviderUnavailable):
        log.warning("connection_init refused: the identity provider is unavailable (%s)", error)
        return CLOSE_TRY_AGAIN_LATER, "the identity provider is unavailable; try again later"
    return CLOSE_UNAUTHORIZED, str(error)[:120]  # a close reason holds at most 123 bytes


def _is_syntax_error(refused: Refused) -> bool:
    return refused.codes == ["GRAPHQL_PARSE_FAILED"]


class TransportWSHandler(BaseGraphQLTransportWSHandler[Connection, None]):
    _admitted: dict[str, Admitted]

    async def handle(self) -> None:
        self._admitted = {}
        try:
            await super().handle()
        finally:
            await self.context.shutdown()

    async def handle_message(self, message: Message) -> None:
        problem = frame_problem(message, frozenset({"subscribe"}))
        if problem is not None:
            await self.handle_invalid_message(problem)
            return
        await super().handle_message(message)

    async def handle_connection_init(self, message: ConnectionInitMessage) -> None:
        payload = message.get("payload") or {}
        first = not (self.connection_init_received or self.connection_timed_out)
        if first:
            if self.connection_init_timeout_task:
                self.connection_init_timeout_task.cancel()
            self.context.connection_params = payload
            try:
                await self.context.sign_in()
            except (auth.Unauthenticated, DatabaseUnavailable, ProviderUnavailable) as error:
                self.connection_init_received = True
                await self.websocket.close(*_refusal(error))
                return
        await super().handle_connection_init(message)

    async def handle_subscribe(self, message: SubscribeMessage) -> None:
        operation_id = message["id"]
        if not self.connection_acknowledged or operation_id in self.operations:
            await super().handle_subscribe(message)  # closes with 4401, or 4409
            return
        limit = self.max_subscriptions_per_connection
        if limit is not None and len(self.operations) >= limit:
            await self._error(operation_id, [{"message": "Subscription limit reached"}])
            return
        try:
            admitted = await self.context.admit(dict(message["payload"]))
        except Refused as refused:
            if _is_syntax_error(refused):
                await self.websocket.close(CLOSE_BAD_REQUEST, refused.errors[0]["message"][:120])
            else:
                await self._error(operation_id, refused.errors)
            return
        if admitted.kind is not OperationType.SUBSCRIPTION:
            error = {"message": ONLY_SUBSCRIPTIONS, "extensions": {"code": "BAD_REQUEST"}}
            await self._error(operation_id, [error])
            return
        operation = Operation(
            self,
            operation_id,
            admitted.operation.text,
            admitted.operation.variables,
            admitted.operation.name,
        )
        self._admitted[operation_id] = admitted
        operation.task = asyncio.create_task(self.run_operation(operation))
        operation.task.add_done_callback(self._task_done)
        self.operations[operation_id] = operation

    async def run_operation(self, operation: Operation[Connection, None]) -> None:
        admitted = self._admitted.pop(operation.id)
        try:
            results = await schema.subscribe_operation(admitted.operation, self.context)
            async with aclosing(results):
                async for result in results:
                    payload = self.context.payload(result)
                    if isinstance(result, PreExecutionError):  # the subscription did not start
                        await operation.send_operation_message(
                            ErrorMessage(id=operation.id, type="error", payload=payload["errors"])
                        )
                        return
                    await operation.send_operation_message(
                        NextMessage(
                            id=operation.id, type="next", payload=cast(NextMessagePayload, payload)
                        )
                    )
            await operation.send_operation_message({"id": operation.id, "type": "complete"})
        except WebSocketDisconnected:
            return  # the client left while an event was on its way: nothing went wrong
        except Exception as error:
            await self.handle_task_exception(error)
            with suppress(Exception):
                await operation.send_operation_message({"id": operation.id, "type": "complete"})
            raise

    async def _error(self, operation_id: str, errors: list[dict[str, Any]]) -> None:
        await self.send_message(
            ErrorMessage(
                id=operation_id, type="error", payload=cast(list[GraphQLFormattedError], errors)
            )
        )

    async def send_message(self, message: Message) -> None:
        await super().send_message(message)
        if message["type"] == "next":
            EVENTS_DELIVERED.inc()


class LegacyWSHandler(BaseGraphQLWSHandler[Connection, None]):
    _admitted: dict[str, Admitted]

    async def handle(self) -> None:
        self._admitted = {}
        try:
            await super().handle()
        finally:
            await self.context.shutdown()

    async def handle_message(self, message: OperationMessage) -> None:
        problem = frame_problem(message, frozenset({"start"}))
        if problem is not None:
            await self.websocket.close(code=CLOSE_BAD_REQUEST, reason=problem)
            return
        await super().handle_message(message)

    async def handle_start(self, message: StartMessage) -> None:
        operation_id = message["id"]
        if self.connection_acknowledged:
            try:
                admitted = await self.context.admit(dict(message["payload"]))
            except Refused as refused:
                await self._error(operation_id, refused.errors[0])
                return
            if admitted.kind is not OperationType.SUBSCRIPTION:
                error = {"message": ONLY_SUBSCRIPTIONS, "extensions": {"code": "BAD_REQUEST"}}
                await self._error(operation_id, error)
                return
            self._admitted[operation_id] = admitted
        await super().handle_start(message)

    async def handle_async_results(
        self,
        operation_id: str,
        query: str,
        operation_name: str | None,
        variables: dict[str, object] | None,
    ) -> None:
        admitted = self._admitted.pop(operation_id)
        try:
            results = await schema.subscribe_operation(admitted.operation, self.context)
            self.subscriptions[operation_id] = results
            async for result in results:
                payload = self.context.payload(result)
                if isinstance(result, PreExecutionError):  # the subscription did not start
                    await self._error(operation_id, payload["errors"][0])
                    return
                await self.send_message(
                    DataMessage(
                        type="data", id=operation_id, payload=cast(DataMessagePayload, payload)
                    )
                )
            await self.send_message({"type": "complete", "id": operation_id})
        except asyncio.CancelledError:
            with suppress(WebSocketDisconnected):
                await self.send_message({"type": "complete", "id": operation_id})
        except WebSocketDisconnected:
            return  # the client went away meanwhile: there is no one left to tell
        finally:
            self.subscriptions.pop(operation_id, None)
            self.tasks.pop(operation_id, None)

    async def _error(self, operation_id: str, error: dict[str, Any]) -> None:
        await self.send_message(
            LegacyErrorMessage(
                type="error", id=operation_id, payload=cast(GraphQLFormattedError, error)
            )
        )

    async def send_message(self, message: OperationMessage) -> None:
        await super().send_message(message)
        if message["type"] == "data":
            EVENTS_DELIVERED.inc()


class GraphQLWebSocket(GraphQL[Connection, None]):
    graphql_transport_ws_handler_class = TransportWSHandler
    graphql_ws_handler_class = LegacyWSHandler

    def __init__(self, settings: Settings, origins: cors.AllowedOrigins) -> None:
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
        )
        self.settings = settings
        self.origins = origins
        self.limits = PageLimits(settings.default_page_size, settings.max_page_size)
        self.errors = ErrorFormatter(
            production=settings.is_production, statement_timeout_ms=settings.statement_timeout_ms
        )

    def is_websocket_origin_allowed(self, request: WebSocket, origin: str) -> bool:
        # Asked for cross-origin handshakes only (same-origin pages and clients that send no
        # Origin, which are no browsers, connect); the same origins as for fetch (CORS).
        return self.origins.allows(origin)

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> Connection:
        assert isinstance(request, WebSocket), "HTTP goes to gql_server.endpoint"
        state = request.app.state
        admission: Admission = state.admission
        tenants: TenantLimits = state.tenant_limits
        return Connection(request, self.settings, self.limits, admission, tenants, self.errors)

    async def on_ws_connect(self, context: Connection) -> UnsetType | dict[str, object] | None:
        # The legacy protocol's init; graphql-transport-ws signed in already (4401 on failure).
        try:
            await context.sign_in()
        except (auth.Unauthenticated, DatabaseUnavailable, ProviderUnavailable) as error:
            raise ConnectionRejectionError({"message": _refusal(error)[1]}) from None
        return UnsetType()  # the singleton: connection_ack without a payload
