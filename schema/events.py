"""Events that subscriptions deliver: how mutations write them, and where a subscriber resumes.

A mutation announces a change by inserting it into the outbox (`models.OutboxEvent`) through its
own session, inside its savepoint: the row exists only if the transaction commits, so a refused
or failed mutation announces nothing and a committed one always does. A trigger then sends an
empty NOTIFY on `CHANNEL`, which only wakes the listeners (`gql_server.events`); they read the
rows. A row carries ids only; every subscriber reads the changed row itself, through its own
tenant-scoped session and read policy.

Every event has a `Position`, its place in the order events are delivered in (the writing
transaction's id, then the event's id: `gql_server.outbox` says why). A client gets it as an
opaque cursor and may hand it back to resume a subscription where it left off: `replay_page`
reads what came after it, in the subscriber's own tenant scope.
"""

import base64
import binascii
from dataclasses import dataclass
from enum import Enum
from typing import cast
from uuid import UUID

import strawberry
from sqlalchemy import (
    ColumnElement,
    Insert,
    Table,
    bindparam,
    insert,
    literal_column,
    select,
    tuple_,
)

import models
from loaders import RequestDB
from models import EventKind, OutboxEvent
from schema.context import Context

__all__ = ["CHANNEL", "ContentChange", "Event", "EventKind", "Position", "Topic"]

CHANNEL = "gql_events"
_CURSOR_PREFIX = "ev1:"
# Below the oldest transaction still in flight, the order of events is final (`gql_server.outbox`).
_SETTLED = OutboxEvent.txid < literal_column(
    "pg_snapshot_xmin(pg_current_snapshot())::text::bigint"
)


@strawberry.enum(description="What happened to a content.")
class ContentChange(Enum):
    UPDATED = "UPDATED"
    PUBLISHED = "PUBLISHED"
    ARCHIVED = "ARCHIVED"
    DELETED = "DELETED"
    RESTORED = "RESTORED"


@dataclass(frozen=True, slots=True)
class Topic:
    """What a subscriber listens to within its organization; `key` narrows it to one content."""

    kind: EventKind
    key: UUID | None = None


@dataclass(frozen=True, slots=True, order=True)
class Position:
    """Where an event stands in the delivery order: its transaction's id, then its own id."""

    txid: int
    id: int

    @property
    def cursor(self) -> str:
        raw = f"{_CURSOR_PREFIX}{self.txid}:{self.id}".encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def from_cursor(cls, cursor: str) -> "Position":
        """The position a cursor names; ValueError for anything not made by `cursor`."""
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
            txid, id = raw.removeprefix(_CURSOR_PREFIX).split(":")
            position = cls(int(txid), int(id))
        except (binascii.Error, UnicodeDecodeError, ValueError) as error:
            raise ValueError(f"not an event cursor: {cursor!r}") from error
        if not raw.startswith(_CURSOR_PREFIX) or position.cursor != cursor:
            raise ValueError(f"not an event cursor: {cursor!r}")
        return position


@dataclass(frozen=True, slots=True)
class Event:
    org: UUID
    kind: EventKind
    id: UUID
    content_id: UUID
    change: ContentChange | None = None
    position: Position | None = None  # None only before it is written

    @property
    def topic(self) -> Topic:
        if self.kind is EventKind.CONTENT_PUBLISHED:
            return Topic(self.kind)
        return Topic(self.kind, self.content_id)

    @classmethod
    def stored(
        cls,
        org: UUID,
        kind: str,
        subject_id: UUID,
        content_id: UUID,
        change: str | None,
        position: Position,
    ) -> "Event":
        """The event an outbox row holds."""
        return cls(
            org,
            EventKind(kind),
            subject_id,
            content_id,
            None if change is None else ContentChange(change),
            position,
        )


_events = cast(Table, OutboxEvent.__table__)


async def publish(context: Context, *events: Event) -> None:
    """Write `events` to the outbox in the mutation's transaction: announced if it commits."""
    params = {
        f"{name}_{index}": value
        for index, event in enumerate(events)
        for name, value in (
            ("organization_id", event.org),
            ("kind", event.kind),
            ("subject_id", event.id),
            ("content_id", event.content_id),
            ("change", None if event.change is None else event.change.value),
        )
    }
    count = len(events)
    await context.db.fetch(("publish", count), lambda: _insert_events(count), params)


def _insert_events(count: int) -> Insert:
    """`count` rows into the outbox (Core: nothing read back), their values bound: compiled once
    per count, as a VALUES list is not cached by its shape."""
    columns = ("organization_id", "kind", "subject_id", "content_id", "change")
    rows = [
        {name: bindparam(f"{name}_{index}", type_=_events.c[name].type) for name in columns}
        for index in range(count)
    ]
    return insert(_events).values(rows)


async def comment_added(context: Context, comment: models.Comment) -> None:
    org = context.viewer.organization_id
    await publish(context, Event(org, EventKind.COMMENT_ADDED, comment.id, comment.content_id))


async def content_changed(context: Context, content: models.Content, change: ContentChange) -> None:
    org = context.viewer.organization_id
    events = [Event(org, EventKind.CONTENT_CHANGED, content.id, content.id, change)]
    if change is ContentChange.PUBLISHED:
        events.append(Event(org, EventKind.CONTENT_PUBLISHED, content.id, content.id))
    await publish(context, *events)


def _after(position: Position) -> ColumnElement[bool]:
    return tuple_(OutboxEvent.txid, OutboxEvent.id) > tuple_(position.txid, position.id)


async def is_kept(db: RequestDB, position: Position) -> bool:
    """Whether the event at `position` is still in the outbox (of the session's tenant).

    Pruning removes events oldest first, so while this one is kept, so is every later one.
    """
    found = await db.all(
        select(OutboxEvent.id).where(
            OutboxEvent.id == position.id, OutboxEvent.txid == position.txid
        )
    )
    return bool(found)


async def replay_page(db: RequestDB, topic: Topic, after: Position, limit: int) -> list[Event]:
    """Up to `limit` events of `topic` after `after`, in delivery order (the session's tenant)."""
    statement = (
        select(
            OutboxEvent.organization_id,
            OutboxEvent.kind,
            OutboxEvent.subject_id,
            OutboxEvent.content_id,
            OutboxEvent.change,
            OutboxEvent.txid,
            OutboxEvent.id,
        )
        .where(_after(after), _SETTLED, OutboxEvent.kind == topic.kind)
        .order_by(OutboxEvent.txid, OutboxEvent.id)
        .limit(limit)
    )
    if topic.key is not None:
        statement = statement.where(OutboxEvent.content_id == topic.key)
    rows = await db.all(statement)
    return [
        Event.stored(org, kind, subject, content, change, Position(txid, id))
        for org, kind, subject, content, change, txid, id in rows
    ]
