"""The request's one connection, shared by all its loaders one batch at a time.

aiodataloader dispatches each batch as its own task, and an `AsyncSession` must not be used by two
tasks at once, so every statement of a request goes through `RequestDB.execute` under one lock.
"""

import asyncio
from typing import Any

from sqlalchemy import Executable, Result
from sqlalchemy.ext.asyncio import AsyncSession


class RequestDB:
    __slots__ = ("_lock", "session")

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self._lock = asyncio.Lock()

    async def execute(
        self, statement: Executable, params: dict[str, Any] | None = None, **options: Any
    ) -> Result[Any]:
        async with self._lock:
            return await self.session.execute(statement, params, execution_options=options)

    async def all(
        self, statement: Executable, params: dict[str, Any] | None = None, **options: Any
    ) -> list[Any]:
        return list((await self.execute(statement, params, **options)).all())

    async def scalars(self, statement: Executable, **options: Any) -> list[Any]:
        return list((await self.execute(statement, **options)).scalars().all())
