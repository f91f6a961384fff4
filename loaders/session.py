"""The request's one connection, shared by all its loaders one batch at a time.

aiodataloader dispatches each batch as its own task, and an `AsyncSession` must not be used by two
tasks at once, so every statement of a request goes through `RequestDB.execute` under one lock.

When an error nulls a parent of other fields, graphql-core cancels their resolvers or answers
without waiting for them. A statement cut off midway would invalidate the request's connection, so
each runs to its end in a task of its own; and a batch may still be running when the answer is
made, so `finish` waits for the statement under way and refuses any later one: nothing runs on
the session once it is committed and closed.
"""

import asyncio
from contextlib import suppress
from typing import Any

from sqlalchemy import Executable, Result
from sqlalchemy.ext.asyncio import AsyncSession


class RequestOver(Exception):
    """A statement asked for after the request's answer was made."""


class RequestDB:
    __slots__ = ("_lock", "_over", "session")

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self._lock = asyncio.Lock()
        self._over = False

    async def execute(
        self, statement: Executable, params: dict[str, Any] | None = None, **options: Any
    ) -> Result[Any]:
        async with self._lock:
            if self._over:
                raise RequestOver("the request has been answered; its session is closing")
            running = asyncio.ensure_future(
                self.session.execute(statement, params, execution_options=options)
            )
            try:
                return await asyncio.shield(running)
            except asyncio.CancelledError:
                with suppress(Exception):
                    await running
                raise

    async def finish(self) -> None:
        """Wait for the statement under way, if any, and refuse all later ones."""
        async with self._lock:
            self._over = True

    async def all(
        self, statement: Executable, params: dict[str, Any] | None = None, **options: Any
    ) -> list[Any]:
        return list((await self.execute(statement, params, **options)).all())
