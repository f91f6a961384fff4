"""Each subscription event resolved in a context of its own.

A subscription's resolver runs with the WebSocket connection as `info.context`, which holds no
session. For every event it opens a short scope as the subscriber (`EventScope`) and yields a
`Delivery`: the payload object with that scope. `EventExecutor` resolves the subscriber's
selection with the scope's context as `info.context` (so nested fields use the same loaders
and read policy as queries) and closes the scope before the result is sent, so a slow socket
never holds a database connection.

A delivery also carries its event's cursor, which `EventCursor` puts in the result's
`extensions.cursor`: where the client may resume after that event.

A delivery that carries its value as rows too (`source`) is answered by the subscription's plan
when the planner covers what it selects (the same plan for every event and subscriber of that
document), else the standard way, with the same answer.
"""

import asyncio
from collections.abc import Awaitable
from contextlib import suppress
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from graphql import ExecutionResult, ExperimentalIncrementalExecutionResults, GraphQLSchema
from graphql.execution import Executor
from graphql.pyutils import AwaitableOrValue
from strawberry.extensions import SchemaExtension
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
    value: T  # the payload object, for standard execution
    scope: EventScope
    cursor: str | None = None
    source: Any = None  # the same value as rows and plain objects, for compiled execution


# The cursor of the event this task just resolved, for `EventCursor` to put in its result.
_cursor: ContextVar[str | None] = ContextVar("event_cursor", default=None)


class EventCursor(SchemaExtension):
    """`extensions.cursor` on each subscription event's result.

    Strawberry builds a result's extensions from its schema extensions, in the task that has
    just resolved the event (`EventExecutor`, which leaves the cursor in a context variable).
    """

    def get_results(self) -> dict[str, Any]:
        cursor = _cursor.get()
        if cursor is None:
            return {}
        _cursor.set(None)
        return {"cursor": cursor}


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
        return self._execute_then_close(self.delivery, serially)

    async def _execute_then_close(
        self, delivery: Delivery[Any], serially: bool | None
    ) -> ExecutionResult | ExperimentalIncrementalExecutionResults:
        scope = delivery.scope
        _cursor.set(delivery.cursor)
        try:
            if delivery.source is not None:
                planned = await run_to_end(self.execute_planned(delivery))
                if planned is not None:
                    return planned
            result = super().execute_operation(serially)
            if self.is_awaitable(result):
                return await run_to_end(result)
            return result  # type: ignore[return-value]
        finally:
            await scope.close()

    async def execute_planned(self, delivery: Delivery[Any]) -> ExecutionResult | None:
        """The event answered by the subscription's plan; None when it has none."""
        planner = _planner_of(self.schema)
        if planner is None:
            return None
        plan = planner.plan_event(self.operation, self.fragment_definitions, self.variable_values)
        if plan is None:
            return None
        result = await planner.run_event(
            plan, delivery.scope.context, self.variable_values, delivery.source
        )
        return ExecutionResult(data=result.data, errors=result.errors)


def _planner_of(schema: GraphQLSchema) -> Any:
    strawberry_schema = getattr(schema, "_strawberry_schema", None)
    return getattr(strawberry_schema, "planner", None)


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
