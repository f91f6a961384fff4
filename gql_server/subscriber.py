"""The operation context of a WebSocket connection: who signed in, and what its subscriptions
need (`schema.subscriptions.Subscriber`). It holds no session: every event gets its own, short,
read-only one as the viewer (`open_event`), from the `EventHub`'s pool.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager, AsyncExitStack, suppress
from typing import Any, TypeVar

from graphql import GraphQLError
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm.interfaces import ORMOption
from starlette.websockets import WebSocket, WebSocketState

from gql_server import auth, unavailable
from gql_server.events import EventHub
from gql_server.fanout import Subscription
from gql_server.settings import Settings
from gql_server.tenancy import READ_CRITERIA, VIEWER, tenant_session
from gql_server.unavailable import DatabaseUnavailable
from loaders import Loaders, RequestDB
from models import Role, UserStatus
from schema.context import Context, PageLimits, Viewer
from schema.errors import ErrorCode
from schema.events import Topic
from schema.policy import read_criteria

log = logging.getLogger(__name__)
T = TypeVar("T")

CLOSE_TOO_SLOW = 4413


class EventScope:
    def __init__(self, context: Context, resources: AsyncExitStack) -> None:
        self.context = context
        self._resources = resources

    async def close(self) -> None:
        # As for a request: a loader batch an error cut short finishes before the session goes.
        await self.context.db.finish()
        await self._resources.aclose()


class Connection:
    """One WebSocket connection: who is signed in, and what its subscriptions need."""

    def __init__(self, websocket: WebSocket, settings: Settings, limits: PageLimits) -> None:
        self.connection_params: dict[str, Any] | None = None  # set by Strawberry on init
        self._settings = settings
        self._limits = limits
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
        header = _authorization(self.connection_params or {})
        if header is None:
            raise auth.Unauthenticated(
                'send {"Authorization": "Bearer <token>"} in connection_init'
            )
        token = auth.bearer_token(header)
        assert token is not None
        claims = auth.verify(token, self._settings)
        async with tenant_session(
            self._events.sessionmaker,
            claims.organization_id,
            read_only=True,
            statement_timeout_ms=self._settings.statement_timeout_ms,
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
        """`work()` with the endpoint's rules: once more on a connection that did not survive a
        database restart, and DatabaseUnavailable when the database cannot be reached."""
        try:
            return await unavailable.once_more_if_stale(work)
        except (SQLAlchemyError, OSError) as error:
            if unavailable.is_unavailable(error):
                raise DatabaseUnavailable(str(error)) from error
            raise

    async def _open_event(self) -> EventScope:
        viewer = self.viewer
        resources = AsyncExitStack()
        try:
            session = await resources.enter_async_context(
                tenant_session(
                    self._events.sessionmaker,
                    viewer.organization_id,
                    read_only=True,
                    statement_timeout_ms=self._settings.statement_timeout_ms,
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
            context = Context(viewer, db, Loaders(db, viewer.id), self._limits)
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


def _authorization(params: dict[str, Any]) -> str | None:
    """`Authorization` from connection_init's payload, also nested in `headers` as some clients
    send it (Apollo's `connectionParams: {headers: ...}`), in any case."""
    headers = params.get("headers")
    for source in (params, headers if isinstance(headers, dict) else {}):
        for name, value in source.items():
            if name.lower() == "authorization" and isinstance(value, str):
                return value
    return None
