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
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from typing import Any, TypeVar

from sqlalchemy import Executable, Result
from sqlalchemy.ext.asyncio import AsyncSession, AsyncSessionTransaction

T = TypeVar("T")


class RequestOver(Exception):
    """A statement asked for after the request's answer was made."""


class RequestDB:
    __slots__ = ("_lock", "_over", "_savepoints", "_session")

    def __init__(self, session: AsyncSession) -> None:
        self._session = session
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
        self, statement: Executable, params: dict[str, Any] | None = None, /, **options: Any
    ) -> Result[Any]:
        return await self._run(
            lambda: self._session.execute(statement, params, execution_options=options)
        )

    async def all(
        self, statement: Executable, params: dict[str, Any] | None = None, /, **options: Any
    ) -> list[Any]:
        return list((await self.execute(statement, params, **options)).all())

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
