"""Events in a server process: one listener feeding the process's fan-out from the outbox.

Each server process keeps one raw asyncpg connection (outside the pool) that LISTENs on
`schema.events.CHANNEL` and reads the outbox (`gql_server.outbox`). The listener remembers the
position of the last event it handed to its `Fanout`; a notification only wakes it, and it reads
everything after that position. After every (re)connect it first reads what it missed and only
then counts as listening again, so an open subscription receives every committed event exactly
once, in the outbox's order, however long the connection was away (within the retention).

When that connection is lost (the database restarts, the network drops it, a keepalive goes
unanswered), the listener reconnects with exponential backoff, a second at most. While an event
waits for an older transaction still in flight (see `gql_server.outbox`), the listener asks again
after `HOLD_BACK_POLL_SECONDS`, less and less often: that transaction may end without a
notification (a rollback).

The listener also reads the `tables_written` rows every writing transaction leaves (which tables
of which tenant it wrote) and hands them to `on_written`: the response cache's invalidation, in
the same order and with the same catching up as subscriptions' events.

The hub also prunes the outbox: every `GQL_EVENT_PRUNE_INTERVAL_SECONDS`, the events older than
`GQL_EVENT_RETENTION_SECONDS` go, a small batch per transaction.
"""

import asyncio
import logging
from asyncio import FIRST_COMPLETED
from collections.abc import Awaitable, Callable
from contextlib import suppress
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from gql_server import outbox
from gql_server.database import connect_args, create_sessionmaker, direct_url
from gql_server.fanout import Fanout
from gql_server.metrics import EVENT_LISTENER_RECONNECTS, EVENTS_PRUNED, OUTBOX_LAG
from gql_server.outbox import Written
from gql_server.settings import Settings
from schema.events import CHANNEL, Position

log = logging.getLogger(__name__)

Connect = Callable[[], Awaitable[asyncpg.Connection]]
# Told of every committed `tables_written` event: the response cache's invalidation.
OnWritten = Callable[[Written], Awaitable[None]]

FIRST_CONNECT_SECONDS = 5.0
CONNECT_TIMEOUT_SECONDS = 5.0
BACKOFF_SECONDS = 0.1
# A refused connection costs the database next to nothing, and every second the listener waits
# after the database is back is a second of events held back from every subscriber.
MAX_BACKOFF_SECONDS = 1.0
# Events read from the outbox per statement.
READ_BATCH = 500
# Events deleted per pruning transaction: short, so vacuum and replicas keep up.
PRUNE_BATCH = 1000
# How soon to read again while an event waits for an older transaction to finish, doubling up
# to the maximum while nothing else wakes the listener (a commit with events notifies anyway;
# the polls are for a transaction that ends without any: a rollback, a write elsewhere).
HOLD_BACK_POLL_SECONDS = 0.05
MAX_HOLD_BACK_POLL_SECONDS = 1.0
# Per-event reads wait this long for a connection of their pool (bursts queue up there).
READ_POOL_TIMEOUT_SECONDS = 30.0
# What a lost or refused connection raises (TimeoutError: connect or keepalive unanswered).
CONNECTION_ERRORS = (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError)
# SQLAlchemy's own options in the URL's query; asyncpg.connect() does not take them.
_SQLALCHEMY_OPTIONS = ("prepared_statement_cache_size", "prepared_statement_name_func")


def connector(engine: AsyncEngine, url: str | None = None) -> Connect:
    """Connect to the engine's database (or to `url`, the same database by another way) as the
    engine would, but outside its pool."""
    _args, params = engine.dialect.create_connect_args(make_url(url) if url else engine.url)
    options: dict[str, Any] = {k: v for k, v in params.items() if k not in _SQLALCHEMY_OPTIONS}
    options["server_settings"] = {"application_name": "gql_server listener"}

    async def connect() -> asyncpg.Connection:
        return await asyncpg.connect(timeout=CONNECT_TIMEOUT_SECONDS, **options)

    return connect


class EventListener:
    def __init__(
        self,
        connect: Connect,
        fanout: Fanout,
        *,
        keepalive_seconds: float,
        batch_size: int = READ_BATCH,
        on_written: OnWritten | None = None,
    ) -> None:
        self.connect = connect
        self._fanout = fanout
        self._on_written = on_written or _ignore
        self._keepalive_seconds = keepalive_seconds
        self._batch_size = batch_size
        self._listening = asyncio.Event()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        # The last event handed to the fan-out; None until the first connection says where to
        # start. Kept across reconnects: that is what makes catching up possible.
        self.position: Position | None = None

    @property
    def listening(self) -> bool:
        """Connected, caught up, and waiting for notifications."""
        return self._listening.is_set()

    async def start(self) -> None:
        """Start listening; waits briefly for the first LISTEN so early events are not missed."""
        self._task = asyncio.create_task(self._run(), name="gql-event-listener")
        with suppress(TimeoutError):
            await asyncio.wait_for(self._listening.wait(), FIRST_CONNECT_SECONDS)
        if not self.listening:
            log.warning("event listener not connected yet; subscriptions wait for it")

    async def stop(self) -> None:
        if self._task is not None:
            await _cancelled(self._task)
            self._task = None

    async def _run(self) -> None:
        failures = 0
        connected_before = False
        while True:
            try:
                connection = await self.connect()
            except CONNECTION_ERRORS as error:
                delay = min(MAX_BACKOFF_SECONDS, BACKOFF_SECONDS * 2**failures)
                failures += 1
                log.warning("event listener cannot connect (%s); retrying in %.1f s", error, delay)
                await asyncio.sleep(delay)
                continue
            went_live = False
            try:
                await connection.add_listener(CHANNEL, self._on_notification)
                if self.position is None:
                    self.position = await outbox.start(connection)
                # Listening already, so nothing committed from now on goes unnoticed; what was
                # committed while away is read before the listener counts as live again.
                waiting = await self._catch_up(connection)
                self._listening.set()
                went_live = True
                if connected_before:
                    EVENT_LISTENER_RECONNECTS.inc()
                    log.info("event listener reconnected")
                connected_before = True
                await self._follow(connection, waiting)
            except CONNECTION_ERRORS as error:
                log.warning("event listener lost its connection (%s); reconnecting", error)
            else:
                log.warning("event listener lost its connection; reconnecting")
            finally:
                self._listening.clear()
                connection.terminate()
            # A connection that failed before the listener was live (a database without the
            # outbox yet, say) is retried with the same backoff as one that cannot be opened.
            failures = 0 if went_live else failures + 1
            if failures:
                await asyncio.sleep(min(MAX_BACKOFF_SECONDS, BACKOFF_SECONDS * 2 ** (failures - 1)))

    async def _follow(self, connection: asyncpg.Connection, waiting: bool) -> None:
        """Read after every wake-up until the connection is lost.

        A quiet connection is read anyway every `keepalive_seconds`: a dropped network path looks
        exactly like silence, and the read finds out.
        """
        lost = asyncio.Event()
        connection.add_termination_listener(lambda _connection: lost.set())
        polls = 0  # reads in a row that found an event waiting and no notification came since
        while not connection.is_closed():
            polls = polls + 1 if waiting and not self._wake.is_set() else 0
            timeout = (
                min(MAX_HOLD_BACK_POLL_SECONDS, HOLD_BACK_POLL_SECONDS * 2 ** (polls - 1))
                if waiting
                else self._keepalive_seconds
            )
            woken = asyncio.create_task(self._wake.wait(), name="gql-event-listener: woken")
            gone = asyncio.create_task(lost.wait(), name="gql-event-listener: lost")
            try:
                await asyncio.wait((woken, gone), timeout=timeout, return_when=FIRST_COMPLETED)
            finally:
                woken.cancel()
                gone.cancel()
            if lost.is_set():
                return
            waiting = await self._catch_up(connection)

    async def _catch_up(self, connection: asyncpg.Connection) -> bool:
        """Hand every event after `position` to the fan-out; whether one waits for an older
        transaction (then the caller asks again shortly)."""
        position = self.position
        assert position is not None
        while True:
            self._wake.clear()  # a notification from now on means: read again
            async with asyncio.timeout(self._keepalive_seconds):  # no task of its own
                read = await outbox.read_after(connection, position, self._batch_size)
            for event, age in zip(read.events, read.ages, strict=True):
                self._fanout.publish(event)
                OUTBOX_LAG.observe(age)
            for written in read.writes:
                await self._on_written(written)
            if read.last is not None:
                self.position = position = read.last
            if read.waiting or not read.full:
                return read.waiting

    def _on_notification(
        self, _connection: object, _pid: int, _channel: str, _payload: str | bytes
    ) -> None:
        self._wake.set()


class EventHub:
    """What the subscriptions of one process share: the fan-out, the LISTEN connection feeding
    it, and a small pool of their own for the per-event reads.

    That pool is apart from the request pool, so a burst of events cannot take the connections
    HTTP requests need, nor the other way round. It skips the pre-ping (three round trips per
    checkout with asyncpg, more than a whole event read): a pooled connection that died with a
    database restart fails on its first statement, which invalidates the pool, and
    `gql_server.subscriptions` retries that read once on a fresh connection.
    """

    def __init__(
        self, engine: AsyncEngine, settings: Settings, on_written: OnWritten | None = None
    ) -> None:
        # LISTEN holds a session: past a transaction-mode pooler, straight to the database.
        direct = direct_url(settings, engine.url.render_as_string(hide_password=False))
        self.fanout = Fanout(settings.subscription_queue_size)
        self.listener = EventListener(
            connector(engine, direct),
            self.fanout,
            keepalive_seconds=settings.event_listener_keepalive_seconds,
            on_written=on_written,
        )
        self.engine = create_async_engine(
            engine.url,
            pool_size=settings.subscription_sessions,
            max_overflow=0,
            pool_timeout=READ_POOL_TIMEOUT_SECONDS,
            pool_pre_ping=False,
            connect_args=connect_args(settings, "gql_server subscriptions"),
        )
        self.sessionmaker = create_sessionmaker(self.engine)
        self._settings = settings
        self._connect = connector(engine, direct)
        self._pruner: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.listener.start()
        self._pruner = asyncio.create_task(self._prune_forever(), name="gql-event-pruner")

    async def stop(self) -> None:
        if self._pruner is not None:
            await _cancelled(self._pruner)
        await self.listener.stop()
        await self.engine.dispose()

    async def prune(self) -> int:
        """Remove the events past the retention now; how many went.

        On a connection of its own, outside the pools: maintenance, not a subscriber's work.
        """
        connection = await self._connect()
        try:
            pruned = await outbox.prune(
                connection, self._settings.event_retention_seconds, PRUNE_BATCH
            )
        finally:
            await connection.close()
        EVENTS_PRUNED.inc(pruned)
        return pruned

    async def _prune_forever(self) -> None:
        while True:
            await asyncio.sleep(self._settings.event_prune_interval_seconds)
            try:
                pruned = await self.prune()
            except CONNECTION_ERRORS as error:
                log.warning("pruning the outbox failed (%s); trying again later", error)
                continue
            if pruned:
                log.info("pruned %d events older than the retention", pruned)


async def _ignore(_written: Written) -> None:
    return None


async def _cancelled(task: "asyncio.Task[None]") -> None:
    """Cancel `task` and wait until it has ended. A cancellation can be lost where it meets a
    timeout that fires at the same moment (asyncio.wait_for before Python 3.12, asyncpg's
    connect): it is sent again until the task ends, or stopping would wait forever."""
    while not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=1.0)
    with suppress(asyncio.CancelledError):
        task.result()
