"""The outbox under the listener: commit order, catching up after a lost connection, pruning, and
who may read it. Real transactions on the suite's database; no sockets."""

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from gql_server import outbox
from gql_server.events import EventHub, EventListener, connector
from gql_server.fanout import Fanout, Subscription
from gql_server.metrics import EVENTS_PRUNED
from gql_server.settings import Settings
from gql_server.tenancy import tenant_session
from schema.events import ContentChange, Event, EventKind, Position, Topic, publish
from tests.conftest import CreateDatabase
from tests.factories import make_org
from tests.live import Gate
from tests.test_subscriptions_events import context_for
from tests.waiting import WAIT_SECONDS, until

Sessionmaker = async_sessionmaker[AsyncSession]


@pytest.fixture
async def gate(engine: AsyncEngine) -> Gate:
    return Gate(connector(engine))


@pytest.fixture
async def raw(engine: AsyncEngine) -> AsyncIterator[asyncpg.Connection]:
    """A connection like the listener's and the pruner's: the login role, outside any pool."""
    connection = await connector(engine)()
    yield connection
    await connection.close()


@pytest.fixture
async def listener(gate: Gate) -> AsyncIterator[EventListener]:
    listener = EventListener(gate, Fanout(queue_size=100), keepalive_seconds=5)
    await listener.start()
    assert listener.listening
    yield listener
    await listener.stop()


@pytest.fixture
async def org(sessionmaker: Sessionmaker) -> uuid.UUID:
    return (await make_org(sessionmaker)).id


def fanout_of(listener: EventListener) -> Fanout:
    fanout: Fanout = listener._fanout
    return fanout


async def received(events: Subscription, count: int, seconds: float = WAIT_SECONDS) -> list[Event]:
    return [await asyncio.wait_for(anext(events), seconds) for _ in range(count)]


async def nothing_more(events: Subscription, seconds: float = 0.3) -> bool:
    try:
        event = await asyncio.wait_for(anext(events), seconds)
    except TimeoutError:
        return True
    raise AssertionError(f"unexpected {event}")


def edit(org: uuid.UUID, content_id: uuid.UUID) -> Event:
    return Event(org, EventKind.CONTENT_CHANGED, content_id, content_id, ContentChange.UPDATED)


@asynccontextmanager
async def writing(sessionmaker: Sessionmaker, event: Event) -> AsyncIterator[None]:
    """A transaction that has written `event` and commits when the block ends."""
    async with tenant_session(sessionmaker, event.org) as session:
        await publish(context_for(session, event.org), event)
        yield


async def ids(sessionmaker: Sessionmaker, org: uuid.UUID) -> list[int]:
    async with tenant_session(sessionmaker, org) as session:
        return list(await session.scalars(text("select id from events order by id")))


async def test_two_events_committed_out_of_id_order_are_both_delivered_once(
    listener: EventListener, sessionmaker: Sessionmaker, org: uuid.UUID
) -> None:
    content_id = uuid.uuid4()
    slow, quick = edit(org, content_id), edit(org, content_id)
    with fanout_of(listener).subscribe(org, slow.topic, lambda: None) as events:
        async with writing(sessionmaker, slow):  # takes the smaller id, commits last
            async with writing(sessionmaker, quick):
                pass
            # Only the quick one is committed, with the larger id: a reader of `id > last`
            # would deliver it now, then never see the slow one.
            (quick_id,) = await ids(sessionmaker, org)
            assert await nothing_more(events)  # held back: an older transaction is in flight
        slow_id, later_id = await ids(sessionmaker, org)
        assert slow_id < quick_id == later_id

        delivered = await received(events, 2)
        assert await nothing_more(events)
    assert [event.position.id for event in delivered if event.position] == [slow_id, quick_id]


async def test_an_event_held_back_by_a_transaction_that_rolls_back_is_still_delivered(
    listener: EventListener, sessionmaker: Sessionmaker, org: uuid.UUID
) -> None:
    content_id = uuid.uuid4()
    doomed, committed = edit(org, content_id), edit(org, content_id)
    with fanout_of(listener).subscribe(org, committed.topic, lambda: None) as events:

        async def write_both_then_roll_back_the_first() -> None:
            async with writing(sessionmaker, doomed):
                async with writing(sessionmaker, committed):
                    pass
                assert await nothing_more(events)
                raise RuntimeError("rolled back: no notification, no event")

        with pytest.raises(RuntimeError):
            await write_both_then_roll_back_the_first()
        # Nothing wakes the listener now; it asks again by itself while an event waits.
        (event,) = await received(events, 1)
        assert event.position is not None
        assert event.position.id == (await ids(sessionmaker, org))[0]
        assert await nothing_more(events)


async def test_events_committed_while_the_listener_is_away_arrive_once_in_order(
    listener: EventListener, gate: Gate, sessionmaker: Sessionmaker, org: uuid.UUID
) -> None:
    content_id = uuid.uuid4()
    topic = Topic(EventKind.CONTENT_CHANGED, content_id)
    with fanout_of(listener).subscribe(org, topic, lambda: None) as events:
        async with writing(sessionmaker, edit(org, content_id)):
            pass
        (before,) = await received(events, 1)

        gate.open.clear()
        await gate.connections[-1].close()  # the connection drops; reconnecting waits
        await until(lambda: not listener.listening, "the listener away")
        burst = [edit(org, content_id) for _ in range(30)]
        for event in burst:
            async with writing(sessionmaker, event):
                pass
        assert not listener.listening
        gate.open.set()

        after = await received(events, len(burst))
        assert await nothing_more(events)
    written = (await ids(sessionmaker, org))[1:]
    assert [event.position.id for event in after if event.position] == written
    assert all(event.id == content_id for event in after)
    assert before.position is not None
    assert before.position < min(event.position for event in after if event.position)


async def test_pruning_removes_the_oldest_events_and_keeps_the_rest(
    raw: asyncpg.Connection, sessionmaker: Sessionmaker, org: uuid.UUID
) -> None:
    content_id = uuid.uuid4()
    for _ in range(5):
        async with writing(sessionmaker, edit(org, content_id)):
            pass
    assert await outbox.prune(raw, retention_seconds=3600, batch=2) == 0
    assert len(await ids(sessionmaker, org)) == 5

    # Everything is past a zero retention; batches of two until none is left.
    assert await outbox.prune(raw, retention_seconds=0, batch=2) >= 5
    assert await ids(sessionmaker, org) == []


async def test_pruning_never_passes_a_transaction_still_in_flight(
    raw: asyncpg.Connection, sessionmaker: Sessionmaker, org: uuid.UUID
) -> None:
    content_id = uuid.uuid4()
    await outbox.prune(raw, retention_seconds=0, batch=1000)
    async with writing(sessionmaker, edit(org, content_id)):
        async with writing(sessionmaker, edit(org, content_id)):
            pass
        # The later event is older than the retention, but an older transaction may still
        # commit before it: deleting it would let that one's event come after a pruned one.
        assert await outbox.prune(raw, retention_seconds=0, batch=1000) == 0
    assert len(await ids(sessionmaker, org)) == 2
    assert await outbox.prune(raw, retention_seconds=0, batch=1000) == 2


async def test_a_request_sees_its_own_tenants_events_only_and_not_the_outbox_functions(
    sessionmaker: Sessionmaker, org: uuid.UUID
) -> None:
    other = (await make_org(sessionmaker)).id
    content_id = uuid.uuid4()
    async with writing(sessionmaker, edit(other, content_id)):
        pass
    async with writing(sessionmaker, edit(org, content_id)):
        pass
    async with tenant_session(sessionmaker, org) as session:
        orgs = set(await session.scalars(text("select organization_id from events")))
    assert orgs == {org}

    calls: list[tuple[str, dict[str, Any]]] = [
        ("select * from outbox_after(0, 0, 10)", {}),
        ("select prune_events(now(), 10)", {}),
    ]
    for statement, parameters in calls:
        with pytest.raises(DBAPIError, match="permission denied"):
            async with tenant_session(sessionmaker, org) as session:
                await session.execute(text(statement), parameters)

    # Nor may a tenant write another tenant's events.
    with pytest.raises(DBAPIError, match="row-level security"):
        async with tenant_session(sessionmaker, org) as session:
            await publish(context_for(session, org), edit(other, content_id))


def test_cursors_name_positions_and_refuse_anything_else() -> None:
    position = Position(7_000_000_001, 42)
    assert Position.from_cursor(position.cursor) == position
    assert str(position.txid) not in position.cursor  # opaque: no promise of its content
    for garbage in ("", "x", position.cursor + "A", "ZXYxOjE6Mgo", "ZXYxOjE6eA"):
        with pytest.raises(ValueError, match="not an event cursor"):
            Position.from_cursor(garbage)


async def test_the_hub_prunes_past_its_retention_setting_and_counts_it(
    engine: AsyncEngine, sessionmaker: Sessionmaker, org: uuid.UUID
) -> None:
    for _ in range(3):
        async with writing(sessionmaker, edit(org, uuid.uuid4())):
            pass
    hub = EventHub(engine, Settings(database_url=None, event_retention_seconds=0.001))
    try:
        before = EVENTS_PRUNED._value.get()
        assert await hub.prune() >= 3
        assert EVENTS_PRUNED._value.get() - before >= 3
        assert await ids(sessionmaker, org) == []
    finally:
        await hub.engine.dispose()


async def test_the_listener_stops_even_when_a_cancellation_is_lost() -> None:
    swallowed: list[bool] = []

    async def connect() -> asyncpg.Connection:
        # As a connect whose timeout fires as the cancellation comes can: it is lost, once.
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            if swallowed:
                raise
            swallowed.append(True)
        raise OSError("no database")

    def listeners() -> set[asyncio.Task[Any]]:
        return {task for task in asyncio.all_tasks() if task.get_name() == "gql-event-listener"}

    others = listeners()  # servers of other tests may have theirs running
    listener = EventListener(connect, Fanout(queue_size=1), keepalive_seconds=5)
    await listener.start()  # never live: it waits its first-connect time, then goes on
    (task,) = listeners() - others
    await asyncio.wait_for(listener.stop(), WAIT_SECONDS)
    assert swallowed == [True]
    assert task.done(), "the listener still runs"


async def test_a_database_without_the_outbox_is_retried_with_backoff(
    create_database: CreateDatabase,
) -> None:
    engine = create_async_engine(await create_database())  # not migrated: no outbox
    connects: list[int] = []
    real = connector(engine)

    async def counted() -> asyncpg.Connection:
        connects.append(1)
        return await real()

    listener = EventListener(counted, Fanout(queue_size=1), keepalive_seconds=5)
    try:
        await listener.start()  # fails after connecting, every time, for its first 5 s
        assert not listener.listening
    finally:
        await listener.stop()
        await engine.dispose()
    # Backoff from 0.1 s doubling to 1 s: at most 8 attempts in 5 s (it was hundreds).
    assert 1 <= len(connects) <= 10
