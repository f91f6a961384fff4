"""Publishing (an outbox row, in the mutation's savepoint), the listener and the fan-out."""

import asyncio
import dataclasses
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from gql_server.events import EventListener, connector
from gql_server.fanout import Fanout
from gql_server.tenancy import tenant_session
from loaders import Loaders, RequestDB
from models import Role
from schema.context import Context, PageLimits, Viewer
from schema.events import CHANNEL, ContentChange, Event, EventKind, Topic, publish
from schema.mutations.run import run_mutation
from schema.mutations.user_errors import UserError, fail
from tests.factories import make_org
from tests.waiting import WAIT_SECONDS

Sessionmaker = async_sessionmaker[AsyncSession]


@pytest.fixture
async def fanout(engine: AsyncEngine, direct_database_url: str) -> AsyncIterator[Fanout]:
    fanout = Fanout(queue_size=100)
    # LISTEN needs a session of its own: never through a pooler (make test-scale).
    listener = EventListener(connector(engine, direct_database_url), fanout, keepalive_seconds=5)
    await listener.start()
    assert listener.listening
    yield fanout
    await listener.stop()


@dataclass
class Outcome:
    """A mutation's payload: its user errors."""

    user_errors: list[UserError] = field(default_factory=list)


async def new_org(sessionmaker: Sessionmaker) -> uuid.UUID:
    return (await make_org(sessionmaker)).id


def content_event(org: uuid.UUID, content_id: uuid.UUID, change: ContentChange) -> Event:
    return Event(org, EventKind.CONTENT_CHANGED, content_id, content_id, change)


def context_for(session: AsyncSession, org: uuid.UUID) -> Context:
    db = RequestDB(session)
    viewer = Viewer(uuid.uuid4(), org, Role.ADMIN)
    return Context(viewer, db, Loaders(db, viewer.id), PageLimits())


async def next_event(events: AsyncIterator[Event], seconds: float = WAIT_SECONDS) -> Event:
    """The next event, as it was published (without the position the outbox gave it)."""
    event = await asyncio.wait_for(anext(events), seconds)
    assert event.position is not None
    return dataclasses.replace(event, position=None)


async def nothing_more(events: AsyncIterator[Event], seconds: float = 0.3) -> bool:
    try:
        event = await asyncio.wait_for(anext(events), seconds)
    except TimeoutError:
        return True
    raise AssertionError(f"unexpected {event}")


async def test_a_mutation_rolled_back_by_its_savepoint_announces_nothing(
    fanout: Fanout, sessionmaker: Sessionmaker
) -> None:
    org, content_id = await new_org(sessionmaker), uuid.uuid4()
    refused = content_event(org, content_id, ContentChange.DELETED)
    applied = content_event(org, content_id, ContentChange.UPDATED)

    topic = Topic(EventKind.CONTENT_CHANGED, content_id)
    with fanout.subscribe(org, topic, lambda: None) as events:
        async with tenant_session(sessionmaker, org) as session:
            context = context_for(session, org)

            async def announce_then_fail() -> Outcome:
                await publish(context, refused)
                raise fail("input.id", "refused after the announcement")

            async def announce() -> Outcome:
                await publish(context, applied)
                return Outcome()

            assert await run_mutation(context, Outcome, announce_then_fail) != Outcome()
            assert await run_mutation(context, Outcome, announce) == Outcome()
        assert await next_event(events) == applied
        assert await nothing_more(events)


async def test_a_rolled_back_transaction_announces_nothing(
    fanout: Fanout, sessionmaker: Sessionmaker
) -> None:
    org, content_id = await new_org(sessionmaker), uuid.uuid4()
    topic = Topic(EventKind.CONTENT_CHANGED, content_id)

    async def fail_after_announcing() -> None:
        async with tenant_session(sessionmaker, org) as session:
            context = context_for(session, org)
            await publish(context, content_event(org, content_id, ContentChange.UPDATED))
            raise RuntimeError("the request failed after the mutation")

    with fanout.subscribe(org, topic, lambda: None) as events:
        with pytest.raises(RuntimeError):
            await fail_after_announcing()
        assert await nothing_more(events)


async def test_events_reach_only_their_organization_and_topic(
    fanout: Fanout, sessionmaker: Sessionmaker
) -> None:
    org, other_org = await new_org(sessionmaker), await new_org(sessionmaker)
    content_id = uuid.uuid4()
    topic = Topic(EventKind.CONTENT_CHANGED, content_id)
    with (
        fanout.subscribe(org, topic, lambda: None) as mine,
        fanout.subscribe(other_org, topic, lambda: None) as theirs,
        fanout.subscribe(org, Topic(EventKind.CONTENT_PUBLISHED), lambda: None) as published,
    ):
        async with tenant_session(sessionmaker, org) as session:
            event = content_event(org, content_id, ContentChange.PUBLISHED)
            await publish(context_for(session, org), event)
        assert await next_event(mine) == event
        assert await nothing_more(theirs, 0.1)
        assert await nothing_more(published, 0.1)


async def test_a_notification_only_wakes_the_listener_whatever_it_says(
    fanout: Fanout, sessionmaker: Sessionmaker
) -> None:
    org, content_id = await new_org(sessionmaker), uuid.uuid4()
    event = content_event(org, content_id, ContentChange.UPDATED)
    with fanout.subscribe(org, event.topic, lambda: None) as events:
        async with sessionmaker() as session, session.begin():
            await session.execute(select(func.pg_notify(CHANNEL, '{"kind": "nonsense"}')))
        assert await nothing_more(events)
        async with tenant_session(sessionmaker, org) as session:
            await publish(context_for(session, org), event)
        assert await next_event(events) == event


async def test_a_subscriber_that_falls_behind_is_dropped_without_slowing_the_others() -> None:
    fanout = Fanout(queue_size=100)
    org = uuid.uuid4()
    topic = Topic(EventKind.CONTENT_PUBLISHED)
    events = [
        Event(org, EventKind.CONTENT_PUBLISHED, uuid.uuid4(), uuid.uuid4()) for _ in range(150)
    ]
    overflows: list[str] = []
    received: list[Event] = []

    with (
        fanout.subscribe(org, topic, lambda: overflows.append("fast")) as fast,
        fanout.subscribe(org, topic, lambda: overflows.append("stuck")),
    ):

        async def read() -> None:
            async for event in fast:
                received.append(event)
                if len(received) == len(events):
                    return

        reader = asyncio.create_task(read())
        for event in events:
            fanout.publish(event)
            await asyncio.sleep(0)  # the reader keeps up; the stuck subscriber never reads
        await asyncio.wait_for(reader, WAIT_SECONDS)
        assert received == events
        assert overflows == ["stuck"]
        assert len(fanout) == 1
    assert len(fanout) == 0
