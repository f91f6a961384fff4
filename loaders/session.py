"""The request's one connection, shared by its loaders and mutations, one operation at a time.

aiodataloader dispatches each batch as its own task, and an `AsyncSession` must not be used by two
tasks at once, so everything a request does on its session (statements, flushes, savepoints) goes
through `RequestDB` under one lock; nothing else holds the session.

When an error nulls a parent of other fields, graphql-core cancels their resolvers or answers
without waiting for them. A statement cut off midway would invalidate the request's connection, so
each operation runs to its end in a task of its own; and a batch may still be running when the
answer is made, so `finish` waits for the operation under way and refuses any later one: nothing
runs on the session once it is committed and closed. A savepoint still open then (its mutation
outlived the answer) is rolled back by `finish`, so half a mutation is never committed.
"""

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable, Sequence
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from typing import Any, TypeVar
from uuid import UUID

from sqlalchemy import Executable, Result, Select
from sqlalchemy.ext.asyncio import AsyncSession, AsyncSessionTransaction
from sqlalchemy.orm.interfaces import ORMOption

from loaders.compiled import Row, Statement, compiled, template
from loaders.tables import STATEMENTS, note_statement

__all__ = ["INCLUDE_DELETED", "STATEMENTS", "RequestDB", "RequestOver", "StatementScope"]

T = TypeVar("T")
# The tenant session's execution option that lifts its `deleted_at IS NULL` criteria.
INCLUDE_DELETED = "include_deleted"


@dataclass(frozen=True, slots=True)
class StatementScope:
    """What the statements `RequestDB` runs directly are scoped to: `criteria(include_deleted)`
    are the session's criteria bound to `loaders.compiled.TENANT_ID` and `VIEWER_ID` (whose
    values are these), and `variant` names them (they differ by role, say)."""

    tenant_id: UUID
    viewer_id: UUID | None
    criteria: Callable[[bool], Sequence[ORMOption]]
    variant: Hashable

    @property
    def params(self) -> dict[str, Any]:
        return {"tenant_id": self.tenant_id, "viewer_id": self.viewer_id}


class RequestOver(Exception):
    """A statement asked for after the request's answer was made."""


class RequestDB:
    __slots__ = ("_driver", "_lock", "_over", "_savepoints", "_scope", "_session", "_tracer")

    def __init__(
        self, session: AsyncSession, scope: StatementScope | None = None, tracer: Any = None
    ) -> None:
        """With the session's `scope`, selects run on asyncpg directly (`loaders.compiled`);
        without, through the ORM like every other operation. `tracer`: OpenTelemetry's, for a
        span per statement that runs directly."""
        self._session = session
        self._scope = scope
        self._tracer = tracer
        self._driver: Any = None
        self._lock = asyncio.Lock()
        self._over = False
        self._savepoints: list[AsyncSessionTransaction] = []

    async def _run(self, operation: Callable[[], Awaitable[T]]) -> T:
        async with self._lock:
            if self._over:
                raise RequestOver("the request has been answered; its session is closing")
            running = asyncio.ensure_future(operation())
            try:
                return await asyncio.shield(running)
            except asyncio.CancelledError:
                with suppress(Exception):
                    await running
                raise

    async def execute(
        self,
        statement: Executable,
        params: dict[str, Any] | list[dict[str, Any]] | None = None,  # a list: one row each
        /,
        **options: Any,
    ) -> Result[Any]:
        return await self._run(
            lambda: self._session.execute(statement, params, execution_options=options)
        )

    async def all(
        self, statement: Executable, params: dict[str, Any] | None = None, /, **options: Any
    ) -> list[Any]:
        """Every row of a select: run on asyncpg directly when the session's scope is known."""
        scope = self._scope
        if scope is None or not isinstance(statement, Select):
            return list((await self.execute(statement, params, **options)).all())
        return await self._run(lambda: self._all(scope, statement, params or {}, options))

    async def fetch(
        self,
        key: Hashable,
        build: Callable[[], Select[Any]],
        params: dict[str, Any],
        *,
        include_deleted: bool = False,
    ) -> list[Any]:
        """The rows of the statement `build()` makes (once per `key`: see `loaders.compiled`),
        with `params` for its bound parameters."""
        scope = self._scope
        if scope is None:
            options = {INCLUDE_DELETED: True} if include_deleted else {}
            return list((await self.execute(build(), params, **options)).all())
        return await self._run(lambda: self._fetch(scope, key, build, params, include_deleted))

    async def _fetch(
        self,
        scope: StatementScope,
        key: Hashable,
        build: Callable[[], Select[Any]],
        params: dict[str, Any],
        include_deleted: bool,
    ) -> list[Any]:
        connection = await self._session.connection()
        criteria = scope.criteria(include_deleted)
        found = template((key, scope.variant, include_deleted), build, criteria, connection.dialect)
        if found is None:
            statement = build().options(*criteria)
            values = {**params, **scope.params}
            return list((await self._session.execute(statement, values)).all())
        return await self._send(found, found.arguments({**params, **scope.params}))

    async def _all(
        self,
        scope: StatementScope,
        statement: Select[Any],
        params: dict[str, Any],
        options: dict[str, Any],
    ) -> list[Any]:
        connection = await self._session.connection()
        scoped = statement.options(*scope.criteria(bool(options.get(INCLUDE_DELETED))))
        found, extracted = compiled(scoped, connection.dialect)
        if found is None:
            return list((await self._session.execute(scoped, {**params, **scope.params})).all())
        return await self._send(found, found.arguments_of({**params, **scope.params}, extracted))

    async def _send(self, statement: Statement, arguments: list[Any]) -> list[Any]:
        connection = await self._session.connection()
        if self._driver is None:
            self._driver = (await connection.get_raw_connection()).driver_connection
        note_statement(connection.info, statement.sql)
        if self._tracer is None:
            return await self._driver.fetch(statement.sql, *arguments, record_class=Row)  # type: ignore[no-any-return]
        with self._tracer.start_as_current_span(statement.sql.split(None, 1)[0]) as span:
            span.set_attribute("db.system", "postgresql")
            span.set_attribute("db.statement", statement.sql)
            return await self._driver.fetch(statement.sql, *arguments, record_class=Row)  # type: ignore[no-any-return]

    async def scalar(
        self, statement: Executable, params: dict[str, Any] | None = None, /, **options: Any
    ) -> Any:
        """The first column of the first row (an ORM object for `select(Model)`), or None."""
        return (await self.execute(statement, params, **options)).scalar()

    def add(self, instance: object) -> None:
        """Stage a new row; the next `flush` writes it."""
        if self._over:
            raise RequestOver("the request has been answered; its session is closing")
        self._session.add(instance)

    async def flush(self) -> None:
        await self._run(self._session.flush)

    @asynccontextmanager
    async def savepoint(self) -> AsyncIterator[None]:
        """Run the block in a SAVEPOINT: released when it ends, rolled back when it raises."""
        savepoint = await self._run(lambda: self._session.begin_nested().start())
        self._savepoints.append(savepoint)
        try:
            yield
        except BaseException:
            await self._end(savepoint, savepoint.rollback)
            raise
        await self._end(savepoint, savepoint.commit)

    async def _end(
        self, savepoint: AsyncSessionTransaction, ending: Callable[[], Awaitable[None]]
    ) -> None:
        async def end() -> None:
            async with self._lock:
                if savepoint in self._savepoints:  # else `finish` rolled it back already
                    self._savepoints.remove(savepoint)
                    await ending()

        # Shielded: a cancelled mutation still ends what it began.
        await asyncio.shield(end())

    async def finish(self) -> None:
        """Wait for the operation under way, if any, roll back an unfinished savepoint, and
        refuse all later operations."""
        async with self._lock:
            self._over = True
            if self._savepoints:
                outermost = self._savepoints[0]
                self._savepoints.clear()
                if outermost.is_active:
                    await outermost.rollback()
