"""The operation context of a WebSocket connection: who signed in, and what its subscriptions
need (`schema.subscriptions.Subscriber`). It holds no session: every event gets a scope of its
own (`open_event`), opened as a request's is (`gql_server.scope.open_scope`), read-only, from the
`EventHub`'s pool.

The token is held to the same rules as on HTTP, for as long as the socket lives: checked at
`connection_init`, again before every event is read, and when it expires the socket is closed
with 4401 at that moment, whether or not an event comes.
"""

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager, AsyncExitStack, suppress
from typing import Any, TypeVar

from graphql import GraphQLError
from sqlalchemy.exc import SQLAlchemyError
from starlette.websockets import WebSocket, WebSocketState
from strawberry.types import ExecutionResult
from strawberry.types.execution import PreExecutionError

from gql_server import auth, unavailable
from gql_server.admission import Admission, Admitted
from gql_server.authenticator import Authenticator
from gql_server.errors import ErrorFormatter
from gql_server.events import EventHub
from gql_server.fanout import Subscription
from gql_server.metrics import EVENTS_REPLAYED
from gql_server.observability import new_request_id
from gql_server.scope import Scope, Who, open_scope
from gql_server.settings import Settings
from gql_server.tenant_limits import TenantLimits
from gql_server.unavailable import DatabaseUnavailable
from schema.context import Context, PageLimits, Viewer
from schema.errors import ErrorCode
from schema.events import Event, Position, Topic, replay_page

log = logging.getLogger(__name__)
T = TypeVar("T")

CLOSE_UNAUTHORIZED = 4401
CLOSE_TOO_SLOW = 4413


class EventScope:
    def __init__(self, scope: Scope, resources: AsyncExitStack) -> None:
        self.context: Context = scope.context
        self._resources = resources

    async def close(self) -> None:
        await self._resources.aclose()


class Connection:
    """One WebSocket connection: who is signed in, and what its subscriptions need."""

    def __init__(
        self,
        websocket: WebSocket,
        settings: Settings,
        limits: PageLimits,
        admission: Admission,
        tenants: TenantLimits,
        errors: ErrorFormatter,
    ) -> None:
        self.connection_params: dict[str, Any] | None = None  # set by Strawberry on init
        # Quoted by internal errors of its events, and in their log lines.
        self.connection_id = new_request_id()
        self._settings = settings
        self._limits = limits
        self._admission = admission
        self._tenants = tenants
        self._errors = errors
        self._websocket = websocket
        self._events: EventHub = websocket.app.state.events
        self._claims: auth.Claims | None = None
        self._viewer: Viewer | None = None
        self._closing: asyncio.Task[None] | None = None
        self._expiry: asyncio.TimerHandle | None = None

    @property
    def compiled_execution(self) -> bool:
        return self._settings.compiled_execution

    @property
    def viewer(self) -> Viewer:
        if self._viewer is None:  # Strawberry runs no operation before connection_ack
            raise GraphQLError("not signed in", extensions={"code": ErrorCode.UNAUTHENTICATED})
        return self._viewer

    @property
    def signed_in(self) -> bool:
        return self._viewer is not None

    async def sign_in(self) -> None:
        if self._viewer is None:
            await self._reaching_database(self._sign_in)

    async def _sign_in(self) -> None:
        header = _authorization(self.connection_params or {})
        if header is None:
            raise auth.Unauthenticated(
                'send {"Authorization": "Bearer <token>"} in connection_init'
            )
        token = auth.bearer_token(header)
        assert token is not None
        authenticator: Authenticator = self._websocket.app.state.authenticator
        claims = await authenticator.claims(token)
        async with self._scope(claims) as scope:
            viewer = scope.viewer
        self._claims, self._viewer = claims, viewer
        delay = max(0.0, claims.expires_at - time.time())
        self._expiry = asyncio.get_running_loop().call_later(delay, self.token_expired)

    def _scope(self, claims: auth.Claims) -> Any:
        return open_scope(
            self._events.sessionmaker,
            Who(claims.user_id, claims.organization_id),
            read_only=True,
            statement_timeout_ms=self._settings.statement_timeout_ms,
            page_limits=self._limits,
        )

    async def admit(self, params: dict[str, Any]) -> Admitted:
        """An operation of this connection, through the door HTTP requests go through, with
        the limits of the viewer's tenant; Refused otherwise."""
        operation = await self._admission.read(params)
        return self._admission.admit(operation, self._tenants.of(self.viewer.organization_id))

    def payload(self, result: ExecutionResult | PreExecutionError) -> dict[str, Any]:
        """An event's answer as the protocols carry it, its errors classified as on HTTP."""
        payload: dict[str, Any] = {"data": result.data}
        if result.errors:
            payload["errors"] = self._errors.format(result.errors, self.connection_id)
        if result.extensions:
            payload["extensions"] = result.extensions
        return payload

    def listen(self, topic: Topic) -> AbstractContextManager[Subscription]:
        fanout = self._events.fanout
        return fanout.subscribe(self.viewer.organization_id, topic, on_overflow=self.too_slow)

    async def open_event(self) -> EventScope | None:
        """A read-only scope as the viewer, with its current role and fresh loaders; None while
        the database cannot be reached (the event is lost, the subscription goes on), or when the
        viewer may no longer read (the socket is being closed with 4401)."""
        claims = self._claims
        if claims is None or claims.expired:
            self.token_expired()
            return None
        try:
            return await self._reaching_database(lambda: self._open_event(claims))
        except DatabaseUnavailable as error:
            log.warning("subscription event not delivered: %s", error)
            return None
        except auth.Unauthenticated as error:
            self.close(CLOSE_UNAUTHORIZED, str(error))
            return None

    async def replay(self, topic: Topic, after: Position, limit: int) -> list[Event] | None:
        scope = await self.open_event()
        if scope is None:
            return None
        try:
            page = await replay_page(scope.context.db, topic, after, limit)
        finally:
            await scope.close()
        EVENTS_REPLAYED.inc(len(page))
        return page

    async def _open_event(self, claims: auth.Claims) -> EventScope:
        resources = AsyncExitStack()
        try:
            scope = await resources.enter_async_context(self._scope(claims))
        except BaseException:
            await resources.aclose()
            raise
        return EventScope(scope, resources)

    async def _reaching_database(self, work: Callable[[], Awaitable[T]]) -> T:
        """`work()` with the endpoint's rules: once more on a connection that did not survive a
        database restart, and DatabaseUnavailable when the database cannot be reached."""
        try:
            return await unavailable.once_more_if_stale(work)
        except (SQLAlchemyError, OSError) as error:
            if unavailable.is_unavailable(error):
                raise DatabaseUnavailable(str(error)) from error
            raise

    def token_expired(self) -> None:
        self.close(CLOSE_UNAUTHORIZED, "the token has expired")

    def too_slow(self) -> None:
        queue_size = self._events.fanout.queue_size
        self.close(CLOSE_TOO_SLOW, f"subscriber too slow: more than {queue_size} events behind")

    def close(self, code: int, reason: str) -> None:
        """Close the socket (once) with `code`; events are no longer read meanwhile."""
        if self._closing is None:
            self._closing = asyncio.create_task(self._close(code, reason[:120]))

    async def _close(self, code: int, reason: str) -> None:
        if self._websocket.application_state is WebSocketState.CONNECTED:
            with suppress(RuntimeError, OSError):
                await self._websocket.close(code=code, reason=reason)

    async def shutdown(self) -> None:
        if self._expiry is not None:
            self._expiry.cancel()
        if self._closing is not None:
            with suppress(asyncio.CancelledError):
                await self._closing


def _authorization(params: dict[str, Any]) -> str | None:
    """`Authorization` from connection_init's payload, also nested in `headers` as some clients
    send it (Apollo's `connectionParams: {headers: ...}`), in any case."""
    headers = params.get("headers")
    for source in (params, headers if isinstance(headers, dict) else {}):
        for name, value in source.items():
            if name.lower() == "authorization" and isinstance(value, str):
                return value
    return None
