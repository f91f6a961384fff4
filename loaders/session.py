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

A savepoint is the ORM's nested transaction when its block uses the unit of work (`add`, `flush`,
ORM objects it changes): a flush that fails rolls the session back to the innermost ORM
transaction, which would otherwise be the request's whole one. A block that only sends statements
takes a plain SAVEPOINT on the connection instead, at a fraction of the cost; `add` and `flush`
are refused inside it, and after a ROLLBACK TO the session forgets every object it holds, so
nothing it loaded in the undone work is seen again.
"""

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager, suppress
from dataclasses import dataclass
from typing import Any, TypeVar
from uuid import UUID

import asyncpg
from sqlalchemy import CursorResult, Dialect, Executable, Insert, Result, Select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, AsyncSessionTransaction
from sqlalchemy.orm.interfaces import ORMOption

from loaders.compiled import Row, Shaped, Statement, compiled, narrowed, template
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


def _rows(result: Result[Any]) -> list[Any]:
    """A result's rows: none for a statement without RETURNING."""
    if isinstance(result, CursorResult) and not result.returns_rows:
        return []
    return list(result.all())


# An open savepoint: the ORM's nested transaction, or a plain one's name.
Savepoint = AsyncSessionTransaction | str


class RequestDB:
    __slots__ = ("_link", "_lock", "_over", "_savepoints", "_scope", "_session", "_tracer")

    def __init__(
        self, session: AsyncSession, scope: StatementScope | None = None, tracer: Any = None
    ) -> None:
        """With the session's `scope`, selects run on asyncpg directly (`loaders.compiled`);
        without, through the ORM like every other operation. `tracer`: OpenTelemetry's, for a
        span per statement that runs directly."""
        self._session = session
        self._scope = scope
        self._tracer = tracer
        # The connection's dialect, info and asyncpg connection: the same all transaction long.
        self._link: tuple[Dialect, dict[Any, Any], Any] | None = None
        self._lock = asyncio.Lock()
        self._over = False
        self._savepoints: list[Savepoint] = []

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
        """Every row of a select (a locking one too) or of an INSERT ... RETURNING: run on
        asyncpg directly when the session's scope is known."""
        scope = self._scope
        if scope is None or not isinstance(statement, Select | Insert):
            return _rows(await self.execute(statement, params, **options))
        return await self._run(lambda: self._all(scope, statement, params or {}, options))

    async def fetch(
        self,
        key: Hashable,
        build: Callable[[], Shaped],
        params: dict[str, Any],
        *,
        include_deleted: bool = False,
    ) -> list[Any]:
        """The rows of the statement `build()` makes (once per `key`: see `loaders.compiled`),
        with `params` for its bound parameters."""
        scope = self._scope
        if scope is None:
            options = {INCLUDE_DELETED: True} if include_deleted else {}
            return _rows(await self.execute(build(), params, **options))
        return await self._run(lambda: self._fetch(scope, key, build, params, include_deleted))

    async def _fetch(
        self,
        scope: StatementScope,
        key: Hashable,
        build: Callable[[], Shaped],
        params: dict[str, Any],
        include_deleted: bool,
    ) -> list[Any]:
        dialect, _, _ = await self._connection()
        criteria = scope.criteria(include_deleted)
        found = template((key, scope.variant, include_deleted), build, criteria, dialect)
        if found is None:
            statement = narrowed(build(), criteria)
            values = {**params, **scope.params}
            return _rows(await self._session.execute(statement, values))
        return await self._send(found, found.arguments({**params, **scope.params}))

    async def _all(
        self,
        scope: StatementScope,
        statement: Shaped,
        params: dict[str, Any],
        options: dict[str, Any],
    ) -> list[Any]:
        dialect, _, _ = await self._connection()
        scoped = narrowed(statement, scope.criteria(bool(options.get(INCLUDE_DELETED))))
        found, extracted = compiled(scoped, dialect)
        if found is None:
            return _rows(await self._session.execute(scoped, {**params, **scope.params}))
        return await self._send(found, found.arguments_of({**params, **scope.params}, extracted))

    async def connection_info(self) -> dict[Any, Any]:
        """The `info` of the request's connection (what `loaders.tables` notes statements in)."""
        return (await self._connection())[1]

    async def _connection(self) -> tuple[Dialect, dict[Any, Any], Any]:
        if self._link is None:
            connection = await self._session.connection()
            driver = (await connection.get_raw_connection()).driver_connection
            self._link = (connection.dialect, connection.info, driver)
        return self._link

    async def _send(self, statement: Statement, arguments: list[Any]) -> list[Any]:
        _, info, driver = await self._connection()
        sql = statement.sql
        note_statement(info, sql)
        try:
            with self._traced(sql):
                return await driver.fetch(sql, *arguments, record_class=Row)  # type: ignore[no-any-return]
        except asyncpg.IntegrityConstraintViolationError as error:
            # As the session raises it: mutations answer it by the constraint it names.
            raise IntegrityError(sql, arguments, error) from error

    async def _command(self, sql: str) -> None:
        """A statement without parameters or rows (SAVEPOINT and its ends)."""
        _, info, driver = await self._connection()
        note_statement(info, sql)
        with self._traced(sql):
            await driver.execute(sql)

    @contextmanager
    def _traced(self, sql: str) -> Iterator[None]:
        """A span for a statement sent directly, when tracing."""
        if self._tracer is None:
            yield
            return
        with self._tracer.start_as_current_span(sql.split(None, 1)[0]) as span:
            span.set_attribute("db.system", "postgresql")
            span.set_attribute("db.statement", sql)
            yield

    async def scalar(
        self, statement: Executable, params: dict[str, Any] | None = None, /, **options: Any
    ) -> Any:
        """The first column of the first row (an ORM object for `select(Model)`), or None."""
        return (await self.execute(statement, params, **options)).scalar()

    def add(self, instance: object) -> None:
        """Stage a new row; the next `flush` writes it."""
        if self._over:
            raise RequestOver("the request has been answered; its session is closing")
        self._refuse_in_plain_savepoint()
        self._session.add(instance)

    async def flush(self) -> None:
        self._refuse_in_plain_savepoint()
        await self._run(self._session.flush)

    def _refuse_in_plain_savepoint(self) -> None:
        if any(isinstance(savepoint, str) for savepoint in self._savepoints):
            raise RuntimeError("the unit of work in a plain savepoint: use savepoint(orm=True)")

    @asynccontextmanager
    async def savepoint(self, *, orm: bool = True) -> AsyncIterator[None]:
        """Run the block in a SAVEPOINT: released when it ends, rolled back when it raises.
        `orm`: the ORM's nested transaction, for a block that uses the unit of work; else a
        plain one (see the module's note)."""
        savepoint: Savepoint
        if orm:
            savepoint = await self._run(lambda: self._session.begin_nested().start())
        else:
            savepoint = f"request_{len(self._savepoints) + 1}"
            await self._run(lambda: self._command(f"SAVEPOINT {savepoint}"))
        self._savepoints.append(savepoint)
        try:
            yield
        except BaseException as error:
            try:
                await self._end(savepoint, rollback=True)
            except Exception as failed:
                # A rollback that fails (a lost connection) is caused by what ended the block:
                # kept as its cause, so the database's unavailability is still recognised.
                raise failed from error
            raise
        await self._end(savepoint, rollback=False)

    async def _end(self, savepoint: Savepoint, *, rollback: bool) -> None:
        async def end() -> None:
            async with self._lock:
                if savepoint in self._savepoints:  # else `finish` rolled it back already
                    self._savepoints.remove(savepoint)
                    await self._close(savepoint, rollback)

        # Shielded: a cancelled mutation still ends what it began.
        await asyncio.shield(end())

    async def _close(self, savepoint: Savepoint, rollback: bool) -> None:
        if isinstance(savepoint, AsyncSessionTransaction):
            await (savepoint.rollback() if rollback else savepoint.commit())
        elif rollback:
            await self._command(f"ROLLBACK TO SAVEPOINT {savepoint}")
            self._session.expunge_all()
        else:
            await self._command(f"RELEASE SAVEPOINT {savepoint}")

    async def finish(self) -> None:
        """Wait for the operation under way, if any, roll back unfinished savepoints, and
        refuse all later operations."""
        async with self._lock:
            self._over = True
            while self._savepoints:  # innermost first: each kind forgets its own
                savepoint = self._savepoints.pop()
                if isinstance(savepoint, str) or savepoint.is_active:
                    await self._close(savepoint, rollback=True)
