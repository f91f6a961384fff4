"""In-process fan-out: each event goes to the subscriptions of its organization and topic.

Handing an event over never waits. Every subscription has a bounded queue; one that falls more
than `queue_size` events behind is dropped on the spot (its pending events discarded, its
`on_overflow` called so the connection can be closed) instead of slowing the others down.
"""

import asyncio
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from uuid import UUID

from gql_server.metrics import EVENTS_DROPPED, SUBSCRIPTIONS_OPEN
from schema.events import Event, Topic

log = logging.getLogger(__name__)

Key = tuple[UUID, Topic]


class Subscription:
    """The events of one subscription, in the order they were published."""

    __slots__ = ("_queue", "key", "on_overflow")

    def __init__(self, key: Key, queue_size: int, on_overflow: Callable[[], None]) -> None:
        self.key = key
        self.on_overflow = on_overflow
        self._queue: asyncio.Queue[Event] = asyncio.Queue(queue_size)

    def offer(self, event: Event) -> bool:
        try:
            self._queue.put_nowait(event)
        except asyncio.QueueFull:
            return False
        return True

    def discard_pending(self) -> int:
        count = self._queue.qsize()
        while not self._queue.empty():
            self._queue.get_nowait()
        return count

    def __aiter__(self) -> "Subscription":
        return self

    async def __anext__(self) -> Event:
        # A dropped subscription gets nothing more: it waits here until its connection closes.
        return await self._queue.get()


class Fanout:
    def __init__(self, queue_size: int) -> None:
        self.queue_size = queue_size
        self._subscriptions: dict[Key, set[Subscription]] = {}

    def __len__(self) -> int:
        return sum(len(subscriptions) for subscriptions in self._subscriptions.values())

    def publish(self, event: Event) -> None:
        for subscription in tuple(self._subscriptions.get((event.org, event.topic), ())):
            if not subscription.offer(event):
                self._drop(subscription)

    @contextmanager
    def subscribe(
        self, org: UUID, topic: Topic, on_overflow: Callable[[], None]
    ) -> Iterator[Subscription]:
        subscription = Subscription((org, topic), self.queue_size, on_overflow)
        self._subscriptions.setdefault(subscription.key, set()).add(subscription)
        SUBSCRIPTIONS_OPEN.inc()
        try:
            yield subscription
        finally:
            self._remove(subscription)
            SUBSCRIPTIONS_OPEN.dec()

    def _drop(self, subscription: Subscription) -> None:
        self._remove(subscription)
        dropped = 1 + subscription.discard_pending()
        EVENTS_DROPPED.inc(dropped)
        log.warning(
            "subscriber too slow: more than %d events behind on %s; disconnecting it",
            self.queue_size,
            subscription.key[1].kind.value,
        )
        subscription.on_overflow()

    def _remove(self, subscription: Subscription) -> None:
        subscriptions = self._subscriptions.get(subscription.key)
        if subscriptions is None:
            return
        subscriptions.discard(subscription)
        if not subscriptions:
            del self._subscriptions[subscription.key]
