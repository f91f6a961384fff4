"""Subscriptions: `commentAdded`, `contentChanged` and `contentPublished`.

An event is resolved for each subscriber in a context of its own. The resolver (an async
generator, running with the WebSocket connection as `info.context`, which holds no session)
opens a short read-only tenant session *as the subscriber* for every event (`open_event`:
the subscriber's viewer and read policy, fresh loaders), loads the event's row through it, and
yields a `Delivery`: the payload object together with that per-event scope. `EventExecutor`
resolves the subscriber's selection with the scope's `Context` as `info.context` (so nested
fields use the same loaders and policy as queries) and closes the session before the result is
sent, so a slow socket never holds a database connection. An event whose row the subscriber
may not see (a draft, another tenant's row, a deleted one) is not delivered at all.

Every event delivered carries its cursor (`extensions.cursor`). A subscription given
`after: <cursor>` first replays the events of its topic that came after it (read in the
subscriber's tenant scope, a page at a time, each then resolved exactly like a live one), then
goes live, skipping live events it already replayed. A cursor whose event was pruned (older than
`GQL_EVENT_RETENTION_SECONDS`) is refused with `CURSOR_EXPIRED`: the client refetches and
subscribes afresh.
"""

from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Annotated, Any, Protocol, TypeVar
from uuid import UUID

import strawberry
from graphql import GraphQLError

import models
from schema.comment import Comment
from schema.content import Content
from schema.context import Context, Viewer
from schema.errors import BadUserInput, ErrorCode
from schema.events import ContentChange, Event, EventKind, Position, Topic, is_kept
from schema.execution import Delivery, EventScope, run_to_end
from schema.node import expect_global_id, to_global_id

T = TypeVar("T")


class Subscriber(Protocol):
    """What a subscription resolver sees of its WebSocket connection (`info.context`)."""

    @property
    def viewer(self) -> Viewer: ...

    @property
    def compiled_execution(self) -> bool:
        """Whether events may be answered by their subscription's plan."""

    def listen(self, topic: Topic) -> AbstractContextManager[AsyncIterator[Event]]: ...

    async def open_event(self) -> EventScope | None:
        """None while the database cannot be reached: that event is skipped."""

    async def replay(self, topic: Topic, after: Position, limit: int) -> list[Event] | None:
        """Up to `limit` events of `topic` after `after`, read in the subscriber's tenant scope;
        None while the database cannot be reached."""


SubscriptionInfo = strawberry.Info[Subscriber, None]
REPLAY_PAGE = 100
After = Annotated[
    str | None,
    strawberry.argument(
        description="The cursor (`extensions.cursor`) of the last event this client received:"
        " the events since then come first (error CURSOR_EXPIRED once they are no longer kept)."
    ),
]


# An event's value: the payload object, and the same as rows and plain objects (compiled path).
Loaded = tuple[T, Any]


async def _deliveries(
    subscriber: Subscriber,
    topic: Topic,
    load: Callable[[Context, Event], Awaitable[Loaded[T] | None]],
    after: Position | None,
) -> AsyncGenerator[Delivery[T], None]:
    with subscriber.listen(topic) as live:
        events = live if after is None else _resumed(subscriber, topic, after, live)
        async for event in events:
            scope = await subscriber.open_event()
            if scope is None:
                continue
            cursor = None if event.position is None else event.position.cursor
            try:
                loaded = await run_to_end(load(scope.context, event))
                if loaded is not None:
                    value, source = loaded
                    if not subscriber.compiled_execution:
                        source = None
                    yield Delivery(value, scope, cursor, source)
            finally:
                await scope.close()  # already closed when the event was resolved


async def _resumed(
    subscriber: Subscriber, topic: Topic, after: Position, live: AsyncIterator[Event]
) -> AsyncIterator[Event]:
    """The events after `after`: those already written, then the live ones not among them.

    The subscription listens before the first page is read, so an event committed meanwhile is
    on a page or in the live queue (or both: it then goes once).
    """
    last = after
    while True:
        page = await subscriber.replay(topic, last, REPLAY_PAGE)
        if page is None:
            raise GraphQLError(
                "the database is unavailable; subscribe again later with your last cursor",
                extensions={"code": "SERVICE_UNAVAILABLE"},
            )
        for event in page:
            yield event
            assert event.position is not None
            last = event.position
        if len(page) < REPLAY_PAGE:
            break
    async for event in live:
        if event.position is None or event.position > last:
            yield event


def _position(after: str | None) -> Position | None:
    if after is None:
        return None
    try:
        return Position.from_cursor(after)
    except ValueError:
        raise BadUserInput("not a cursor this server gave out", argument="after") from None


async def _require_kept(subscriber: Subscriber, after: Position | None) -> None:
    if after is None:
        return
    scope = await subscriber.open_event()
    if scope is None:
        raise GraphQLError("the database is unavailable; try again later")
    try:
        if not await run_to_end(is_kept(scope.context.db, after)):
            raise GraphQLError(
                "this cursor is past the event retention window: refetch what you show,"
                " then subscribe without `after`",
                extensions={"code": ErrorCode.CURSOR_EXPIRED.value},
            )
    finally:
        await scope.close()


async def _require_content(subscriber: Subscriber, pk: UUID, argument: str) -> None:
    scope = await subscriber.open_event()
    if scope is None:
        raise GraphQLError("the database is unavailable; try again later")
    try:
        if await run_to_end(scope.context.loaders.by_key(models.Content).load(pk)) is None:
            raise BadUserInput("no content with this id", argument=argument)
    finally:
        await scope.close()


@strawberry.type(description="A change to a content the subscriber can see, or could until now.")
class ContentChangeEvent:
    change: ContentChange
    content_id: strawberry.ID
    content: Content | None = strawberry.field(
        description="The content as it is now; null once the subscriber can no longer see it."
    )


class _ContentChanges:
    """`contentChanged` events for one subscriber: while it sees the content, and once more when
    it stops seeing it (deleted, archived, unpublished), but never about a content it cannot see.
    """

    def __init__(self, pk: UUID) -> None:
        self.content_id = strawberry.ID(to_global_id("Content", pk))
        self.visible = True  # checked when the subscription started

    async def load(self, context: Context, event: Event) -> Loaded[ContentChangeEvent] | None:
        row = await context.loaders.by_key(models.Content).load(event.content_id)
        was_visible, self.visible = self.visible, row is not None
        if row is None and not was_visible:
            return None
        assert event.change is not None
        content = None if row is None else Content.from_row(row)
        value = ContentChangeEvent(change=event.change, content_id=self.content_id, content=content)
        return value, ContentChangeSource(event.change, self.content_id, row)


@dataclass(frozen=True, slots=True)
class ContentChangeSource:
    """A `ContentChangeEvent` for compiled execution: the content as its row."""

    change: ContentChange
    content_id: str
    content: Any


async def _comment(context: Context, event: Event) -> Loaded[Comment] | None:
    row = await context.loaders.by_key(models.Comment).load(event.id)
    return None if row is None else (Comment.from_row(row), row)


async def _published(context: Context, event: Event) -> Loaded[Content] | None:
    row = await context.loaders.by_key(models.Content).load(event.id)
    return None if row is None else (Content.from_row(row), row)


@strawberry.type
class Subscription:
    @strawberry.subscription(
        graphql_type=Comment, description="Comments added to a content, replies included."
    )
    async def comment_added(
        self, info: SubscriptionInfo, content_id: strawberry.ID, after: After = None
    ) -> AsyncGenerator[Delivery[Comment], None]:
        pk = expect_global_id(content_id, "Content")
        position = _position(after)
        await _require_content(info.context, pk, "contentId")
        await _require_kept(info.context, position)
        topic = Topic(EventKind.COMMENT_ADDED, pk)
        return _deliveries(info.context, topic, _comment, position)

    @strawberry.subscription(
        graphql_type=ContentChangeEvent,
        description="Edits, publishing, archiving, deletion and restoring of one content.",
    )
    async def content_changed(
        self, info: SubscriptionInfo, id: strawberry.ID, after: After = None
    ) -> AsyncGenerator[Delivery[ContentChangeEvent], None]:
        pk = expect_global_id(id, "Content")
        position = _position(after)
        await _require_content(info.context, pk, "id")
        await _require_kept(info.context, position)
        changes = _ContentChanges(pk)
        topic = Topic(EventKind.CONTENT_CHANGED, pk)
        return _deliveries(info.context, topic, changes.load, position)

    @strawberry.subscription(
        graphql_type=Content, description="Every content of the organization, as it is published."
    )
    async def content_published(
        self, info: SubscriptionInfo, after: After = None
    ) -> AsyncGenerator[Delivery[Content], None]:
        position = _position(after)
        await _require_kept(info.context, position)
        topic = Topic(EventKind.CONTENT_PUBLISHED)
        return _deliveries(info.context, topic, _published, position)
