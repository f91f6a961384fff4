"""Events in a server process: one LISTEN connection feeding the process's fan-out.

Each server process keeps one raw asyncpg connection (outside the pool) listening on
`schema.events.CHANNEL`, and turns every notification into an `Event` for its `Fanout`. When that
connection is lost (the database restarts, the network drops it, a keepalive goes unanswered),
the listener reconnects with exponential backoff. Notifications sent while it was away are not
replayed: NOTIFY is not a queue.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable
from contextlib import suppress
from typing import Any

import asyncpg
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from gql_server.database import create_sessionmaker
from gql_server.fanout import Fanout
from gql_server.metrics import EVENT_LISTENER_RECONNECTS
from gql_server.settings import Settings
from schema.events import CHANNEL, Event

log = logging.getLogger(__name__)

Connect = Callable[[], Awaitable[asyncpg.Connection]]

FIRST_CONNECT_SECONDS = 5.0
CONNECT_TIMEOUT_SECONDS = 5.0
BACKOFF_SECONDS = 0.1
MAX_BACKOFF_SECONDS = 5.0
# Per-event reads wait this long for a connection of their pool (bursts queue up there).
READ_POOL_TIMEOUT_SECONDS = 30.0
# What a lost or refused connection raises (TimeoutError: connect or keepalive unanswered).
CONNECTION_ERRORS = (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError)
# SQLAlchemy's own options in the URL's query; asyncpg.connect() does not take them.
_SQLALCHEMY_OPTIONS = ("prepared_statement_cache_size", "prepared_statement_name_func")


def connector(engine: AsyncEngine) -> Connect:
    """Connect to the engine's database as the engine would, but outside its pool."""
    _args, params = engine.dialect.create_connect_args(engine.url)
    options: dict[str, Any] = {k: v for k, v in params.items() if k not in _SQLALCHEMY_OPTIONS}
    options["server_settings"] = {"application_name": "gql_server listener"}

    async def connect() -> asyncpg.Connection:
        return await asyncpg.connect(timeout=CONNECT_TIMEOUT_SECONDS, **options)

    return connect


class EventListener:
    def __init__(self, connect: Connect, fanout: Fanout, *, keepalive_seconds: float) -> None:
        self._connect = connect
        self._fanout = fanout
        self._keepalive_seconds = keepalive_seconds
        self._listening = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def listening(self) -> bool:
        return self._listening.is_set()

    async def start(self) -> None:
        """Start listening; waits briefly for the first LISTEN so early events are not missed."""
        self._task = asyncio.create_task(self._run(), name="gql-event-listener")
        with suppress(TimeoutError):
            await asyncio.wait_for(self._listening.wait(), FIRST_CONNECT_SECONDS)
        if not self.listening:
            log.warning("event listener not connected yet; subscriptions wait for it")

    async def stop(self) -> None:
        if self._task is None:
            return
        self._task.cancel()
        with suppress(asyncio.CancelledError):
            await self._task
        self._task = None

    async def _run(self) -> None:
        failures = 0
        connected_before = False
        while True:
            try:
                connection = await self._connect()
            except CONNECTION_ERRORS as error:
                delay = min(MAX_BACKOFF_SECONDS, BACKOFF_SECONDS * 2**failures)
                failures += 1
                log.warning("event listener cannot connect (%s); retrying in %.1f s", error, delay)
                await asyncio.sleep(delay)
                continue
            failures = 0
            try:
                await self._listen(connection)
                if connected_before:
                    EVENT_LISTENER_RECONNECTS.inc()
                    log.info("event listener reconnected")
                connected_before = True
                await self._until_lost(connection)
            except CONNECTION_ERRORS as error:
                log.warning("event listener lost its connection (%s); reconnecting", error)
            else:
                log.warning("event listener lost its connection; reconnecting")
            finally:
                self._listening.clear()
                connection.terminate()

    async def _listen(self, connection: asyncpg.Connection) -> None:
        await connection.add_listener(CHANNEL, self._on_notification)
        self._listening.set()

    async def _until_lost(self, connection: asyncpg.Connection) -> None:
        lost = asyncio.Event()
        connection.add_termination_listener(lambda _connection: lost.set())
        while not connection.is_closed():
            with suppress(TimeoutError):
                await asyncio.wait_for(lost.wait(), self._keepalive_seconds)
                return
            # Quiet for a while: make sure the connection is still there (a dropped network
            # path looks exactly like silence).
            await asyncio.wait_for(connection.execute("select 1"), self._keepalive_seconds)

    def _on_notification(
        self, _connection: object, _pid: int, channel: str, payload: str | bytes
    ) -> None:
        try:
            event = Event.from_json(payload)
        except ValueError:
            log.warning(
                "ignoring a notification on %s that is not an event: %.200r",
                channel,
                payload,
            )
            return
        self._fanout.publish(event)


class EventHub:
    """What the subscriptions of one process share: the fan-out, the LISTEN connection feeding
    it, and a small pool of their own for the per-event reads.

    That pool is apart from the request pool, so a burst of events cannot take the connections
    HTTP requests need, nor the other way round. It skips the pre-ping (three round trips per
    checkout with asyncpg, more than a whole event read): a pooled connection that died with a
    database restart fails on its first statement, which invalidates the pool, and
    `gql_server.subscriptions` retries that read once on a fresh connection.
    """

    def __init__(self, engine: AsyncEngine, settings: Settings) -> None:
        self.fanout = Fanout(settings.subscription_queue_size)
        self.listener = EventListener(
            connector(engine),
            self.fanout,
            keepalive_seconds=settings.event_listener_keepalive_seconds,
        )
        self.engine = create_async_engine(
            engine.url,
            pool_size=settings.subscription_sessions,
            max_overflow=0,
            pool_timeout=READ_POOL_TIMEOUT_SECONDS,
            pool_pre_ping=False,
            connect_args={"server_settings": {"application_name": "gql_server subscriptions"}},
        )
        self.sessionmaker = create_sessionmaker(self.engine)

    async def start(self) -> None:
        await self.listener.start()

    async def stop(self) -> None:
        await self.listener.stop()
        await self.engine.dispose()
