"""Each subscription event resolved in a context of its own.

A subscription's resolver runs with the WebSocket connection as `info.context`, which holds no
session. For every event it opens a short scope as the subscriber (`EventScope`) and yields a
`Delivery`: the payload object with that scope. `EventExecutor` resolves the subscriber's
selection with the scope's context as `info.context` (so nested fields use the same loaders
and read policy as queries) and closes the scope before the result is sent, so a slow socket
never holds a database connection.
"""

import asyncio
from collections.abc import Awaitable
from contextlib import suppress
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from graphql import ExecutionResult, ExperimentalIncrementalExecutionResults
from graphql.execution import Executor
from graphql.pyutils import AwaitableOrValue
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from schema.context import Context

T = TypeVar("T")


class EventScope(Protocol):
    """One event's read for one subscriber: its `Context` until `close()` (idempotent)."""

    @property
    def context(self) -> Context: ...

    async def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Delivery(Generic[T]):
    value: T
    scope: EventScope


class EventExecutor(StrawberryGraphQLCoreExecutionContext):
    """Resolves each `Delivery` in the context it carries, then closes that context's scope."""

    delivery: Delivery[Any] | None = None

    def build_per_event_executor(self, payload: Any) -> Executor[Any]:
        executor = super().build_per_event_executor(payload)
        if isinstance(payload, Delivery) and isinstance(executor, EventExecutor):
            executor.root_value = payload.value
            executor.context_value = payload.scope.context
            executor.delivery = payload
        return executor

    def execute_operation(
        self, serially: bool | None = None
    ) -> AwaitableOrValue[ExecutionResult | ExperimentalIncrementalExecutionResults]:
        if self.delivery is None:
            return super().execute_operation(serially)
        return self._execute_then_close(self.delivery.scope, serially)

    async def _execute_then_close(
        self, scope: EventScope, serially: bool | None
    ) -> ExecutionResult | ExperimentalIncrementalExecutionResults:
        try:
            result = super().execute_operation(serially)
            if self.is_awaitable(result):
                return await run_to_end(result)
            return result  # type: ignore[return-value]
        finally:
            await scope.close()


async def run_to_end(work: Awaitable[T]) -> T:
    """`work`, run to its end even when this task is cancelled meanwhile (an unsubscribe, a
    closed socket): its loaders' batches use the event's session from tasks of their own, and
    that session may only be closed once no statement runs on it. Then the cancellation goes on.
    """
    task = asyncio.ensure_future(work)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        with suppress(Exception):
            await task
        raise
