"""`/graphql` over WebSocket: graphql-transport-ws (and the legacy graphql-ws) for subscriptions.

Strawberry's ASGI view speaks the protocols; this module decides who is connected and what the
subscriptions may do:
- The token travels in `connection_init` (`{"Authorization": "Bearer ..."}`). A missing or bad
  token, or a user who is not active, closes the connection with 4401; no `connection_init`
  within `GQL_SUBSCRIPTION_INIT_TIMEOUT_SECONDS` closes it with 4408. (The legacy protocol
  answers `connection_error` instead, as it specifies.)
- A `Connection` is the operation context: the viewer and a way to open one short session per
  event (`open_event`); it never holds a session itself. Event reads use the process's
  `EventHub` pool (`GQL_SUBSCRIPTION_SESSIONS` connections), not the request pool.
- Queries and mutations go over HTTP; sent over the socket, they get an `error` message.
- A connection whose subscriptions fall more than `GQL_SUBSCRIPTION_QUEUE_SIZE` events behind is
  closed with 4413: its events are gone, and clients such as graphql-ws reconnect and resubscribe.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager, AsyncExitStack, suppress
from datetime import timedelta
from typing import Any, TypeVar

from graphql import GraphQLError, GraphQLSyntaxError, OperationType, get_operation_ast
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm.interfaces import ORMOption
from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket, WebSocketState
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
from gql_server.endpoint import parse_document
from gql_server.events import CONNECTION_ERRORS, EventHub
from gql_server.fanout import Subscription
from gql_server.metrics import EVENTS_DELIVERED
from gql_server.settings import Settings
from gql_server.tenancy import READ_CRITERIA, VIEWER, tenant_session
from loaders import Loaders, RequestDB
from models import Role, UserStatus
from schema import schema
from schema.context import Context, PageLimits, Viewer
from schema.errors import ErrorCode
from schema.events import Topic
from schema.policy import read_criteria

log = logging.getLogger(__name__)
T = TypeVar("T")

CLOSE_UNAUTHORIZED = 4401
CLOSE_TOO_SLOW = 4413
CLOSE_TRY_AGAIN_LATER = 1013  # not fatal to graphql-ws clients: they retry
# Browsers send no credentials of ours with the handshake (the token comes in connection_init),
# so a page on any origin may connect: there is no ambient authority to protect.
ANY_ORIGIN = ("*",)
LEGACY_KEEP_ALIVE_SECONDS = 15.0


class DatabaseUnavailable(Exception):
    """The database cannot be reached right now."""


class EventScope:
    def __init__(self, context: Context, resources: AsyncExitStack) -> None:
        self.context = context
        self._resources = resources

    async def close(self) -> None:
        await self._resources.aclose()


class Connection:
    """One WebSocket connection: who is signed in, and what its subscriptions need."""

    def __init__(self, view: "GraphQLWebSocket", websocket: WebSocket) -> None:
        self.connection_params: dict[str, Any] | None = None  # set by Strawberry on init
        self._view = view
        self._websocket = websocket
        self._events: EventHub = websocket.app.state.events
        self._viewer: Viewer | None = None
        self._closing: asyncio.Task[None] | None = None
        # Built once per role, not per event: building loader criteria costs more than a read.
        self._read_criteria: dict[Role, tuple[ORMOption, ...]] = {}

    @property
    def viewer(self) -> Viewer:
        if self._viewer is None:  # Strawberry runs no operation before connection_ack
            raise GraphQLError("not signed in", extensions={"code": ErrorCode.UNAUTHENTICATED})
        return self._viewer

    async def sign_in(self) -> None:
        if self._viewer is None:
            await self._reaching_database(self._sign_in)

    async def _sign_in(self) -> None:
        params = self.connection_params or {}
        header = params.get("Authorization", params.get("authorization"))
        if not isinstance(header, str):
            raise auth.Unauthenticated(
                'send {"Authorization": "Bearer <token>"} in connection_init'
            )
        token = auth.bearer_token(header)
        assert token is not None
        claims = auth.verify(token, self._view.settings)
        async with tenant_session(
            self._events.sessionmaker,
            claims.organization_id,
            read_only=True,
            statement_timeout_ms=self._view.settings.statement_timeout_ms,
            viewer_id=claims.user_id,
        ) as session:
            row = session.info[VIEWER]
        if row is None or row.status != UserStatus.ACTIVE.value:
            raise auth.Unauthenticated("the user is not active in this organization")
        self._viewer = Viewer(claims.user_id, claims.organization_id, Role(row.role))

    def listen(self, topic: Topic) -> AbstractContextManager[Subscription]:
        fanout = self._events.fanout
        return fanout.subscribe(self.viewer.organization_id, topic, on_overflow=self.too_slow)

    async def open_event(self) -> EventScope | None:
        """A read-only session as the viewer, with its current role and fresh loaders; None
        while the database cannot be reached (the event is lost, the subscription goes on)."""
        try:
            return await self._reaching_database(self._open_event)
        except DatabaseUnavailable as error:
            log.warning("subscription event not delivered: %s", error)
            return None

    async def _reaching_database(self, work: Callable[[], Awaitable[T]]) -> T:
        for attempt in (1, 2):
            try:
                return await work()
            except DBAPIError as error:
                if not error.connection_invalidated:
                    raise
                if attempt == 2:
                    raise DatabaseUnavailable(str(error.orig)) from error
                # A pooled connection from before a database restart; the pool is renewed now.
                log.info("retrying on a fresh connection (%s)", error.orig)
            except CONNECTION_ERRORS as error:
                raise DatabaseUnavailable(str(error)) from error
        raise AssertionError("unreachable")

    async def _open_event(self) -> EventScope:
        viewer = self.viewer
        resources = AsyncExitStack()
        try:
            session = await resources.enter_async_context(
                tenant_session(
                    self._events.sessionmaker,
                    viewer.organization_id,
                    read_only=True,
                    statement_timeout_ms=self._view.settings.statement_timeout_ms,
                    viewer_id=viewer.id,
                )
            )
            row = session.info[VIEWER]
            if row is None or row.status != UserStatus.ACTIVE.value:
                raise GraphQLError(
                    "the user is no longer active", extensions={"code": ErrorCode.UNAUTHENTICATED}
                )
            viewer = Viewer(viewer.id, viewer.organization_id, Role(row.role))
            session.info[READ_CRITERIA] = self._criteria(viewer)
            db = RequestDB(session)
            context = Context(viewer, db, Loaders(db, viewer.id), self._view.limits)
        except BaseException:
            await resources.aclose()
            raise
        return EventScope(context, resources)

    def _criteria(self, viewer: Viewer) -> tuple[ORMOption, ...]:
        criteria = self._read_criteria.get(viewer.role)
        if criteria is None:
            criteria = self._read_criteria[viewer.role] = tuple(read_criteria(viewer))
        return criteria

    def too_slow(self) -> None:
        if self._closing is None:
            self._closing = asyncio.create_task(self._close_too_slow())

    async def _close_too_slow(self) -> None:
        if self._websocket.application_state is WebSocketState.CONNECTED:
            queue_size = self._events.fanout.queue_size
            reason = f"subscriber too slow: more than {queue_size} events behind"
            with suppress(RuntimeError, OSError):
                await self._websocket.close(code=CLOSE_TOO_SLOW, reason=reason)

    async def shutdown(self) -> None:
        if self._closing is not None:
            with suppress(asyncio.CancelledError):
                await self._closing


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
        return Connection(self, request)

    async def on_ws_connect(self, context: Connection) -> UnsetType | dict[str, object] | None:
        # The legacy protocol's init; graphql-transport-ws signed in already (4401 on failure).
        try:
            await context.sign_in()
        except (auth.Unauthenticated, DatabaseUnavailable) as error:
            raise ConnectionRejectionError({"message": _refusal(error)[1]}) from None
        return UnsetType()  # the singleton: connection_ack without a payload
