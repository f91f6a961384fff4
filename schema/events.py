"""Events that subscriptions deliver, and how mutations announce them.

A mutation announces a change with `pg_notify` through its own session, inside its savepoint:
PostgreSQL delivers a notification only when the transaction commits, and discards those of a
rolled-back savepoint, so a refused or failed mutation announces nothing and a committed one
always does. A notification carries ids only; every subscriber reads the row itself, through
its own tenant-scoped session and read policy.
"""

from dataclasses import dataclass
from enum import Enum, StrEnum
from uuid import UUID

import orjson
import strawberry
from sqlalchemy import func, select

import models
from schema.context import Info

CHANNEL = "gql_events"


class EventKind(StrEnum):
    COMMENT_ADDED = "comment_added"
    CONTENT_CHANGED = "content_changed"
    CONTENT_PUBLISHED = "content_published"


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


@dataclass(frozen=True, slots=True)
class Event:
    org: UUID
    kind: EventKind
    id: UUID
    content_id: UUID
    change: ContentChange | None = None

    @property
    def topic(self) -> Topic:
        if self.kind is EventKind.CONTENT_PUBLISHED:
            return Topic(self.kind)
        return Topic(self.kind, self.content_id)

    def to_json(self) -> str:
        payload: dict[str, str] = {
            "org": str(self.org),
            "kind": self.kind.value,
            "id": str(self.id),
            "content_id": str(self.content_id),
        }
        if self.change is not None:
            payload["change"] = self.change.value
        return orjson.dumps(payload).decode()

    @classmethod
    def from_json(cls, raw: str | bytes) -> "Event":
        """The event in a notification's payload; ValueError when it is not one of ours."""
        try:
            payload = orjson.loads(raw)
            change = payload.get("change")
            return cls(
                org=UUID(payload["org"]),
                kind=EventKind(payload["kind"]),
                id=UUID(payload["id"]),
                content_id=UUID(payload["content_id"]),
                change=None if change is None else ContentChange(change),
            )
        except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError) as error:
            raise ValueError(f"not an event: {raw!r}") from error


async def publish(info: Info, event: Event) -> None:
    """Announce `event` when (and only if) the mutation's transaction commits."""
    await info.context.db.execute(select(func.pg_notify(CHANNEL, event.to_json())))


async def comment_added(info: Info, comment: models.Comment) -> None:
    org = info.context.viewer.organization_id
    await publish(info, Event(org, EventKind.COMMENT_ADDED, comment.id, comment.content_id))


async def content_changed(info: Info, content: models.Content, change: ContentChange) -> None:
    org = info.context.viewer.organization_id
    await publish(info, Event(org, EventKind.CONTENT_CHANGED, content.id, content.id, change))
    if change is ContentChange.PUBLISHED:
        await publish(info, Event(org, EventKind.CONTENT_PUBLISHED, content.id, content.id))
