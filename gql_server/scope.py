"""A request's scope, built in one place for every door: an HTTP request, a WebSocket sign-in,
and each subscription event.

From verified claims to what resolvers see: one session in one transaction for the claims'
tenant, set up (tenant, role, statement timeout, read-only) in the same first statement that
checks the viewer is an active user of that tenant; the viewer with the database's role (a
token's role may be stale); the viewer's read policy on the session; the request's one database
handle and its loaders. Leaving the scope waits for any statement still under way, then commits
(or rolls back on an error) and closes the session.
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from functools import partial
from typing import Any
from uuid import UUID

from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gql_server import unavailable
from gql_server.auth import Unauthenticated
from gql_server.tenancy import (
    STATEMENTS,
    announce_writes,
    begin_tenant,
    bound_criteria,
    committed_writes,
    rescope,
    scope_of,
)
from loaders import Loaders, RequestDB
from loaders.session import StatementScope
from loaders.tables import TOUCHED, touched
from models import Role, UserStatus
from schema import schema
from schema.context import Context, PageLimits, Viewer
from schema.policy import bound_read_criteria, read_criteria

Sessionmaker = async_sessionmaker[AsyncSession]


@dataclass(frozen=True, slots=True)
class Who:
    """Whom a scope is opened for: the verified claims' user and tenant."""

    user_id: UUID
    organization_id: UUID


@dataclass(frozen=True, slots=True)
class Scope:
    context: Context
    _session: AsyncSession

    @property
    def viewer(self) -> Viewer:
        return self.context.viewer

    async def tables_read(self) -> frozenset[str] | None:
        """The tables the scope's statements have read so far (`loaders.tables`); None when
        its connection notes none (Citus: `gql_server.tenancy.begin_tenant`)."""
        connection = await self._session.connection()
        if TOUCHED not in connection.info:
            return None
        return frozenset(touched(connection.info).read)

    def committed_writes(self) -> frozenset[str]:
        """Once the scope is left: the tables its committed transaction wrote."""
        return committed_writes(self._session)

    async def statements(self) -> int | None:
        """SQL statements the scope's connection has sent so far."""
        connection = await self._session.connection()
        count: int | None = connection.info.get(STATEMENTS)
        return count


@asynccontextmanager
async def open_scope(
    sessionmaker: Sessionmaker,
    who: Who,
    *,
    read_only: bool,
    statement_timeout_ms: int,
    page_limits: PageLimits,
) -> AsyncIterator[Scope]:
    """The scope of one operation (see the module's note). Unauthenticated when the user is not
    an active user of the tenant; DatabaseUnavailable when the database cannot be reached."""

    @asynccontextmanager
    async def begin() -> AsyncIterator[tuple[AsyncSession, Row[Any] | None]]:
        async with sessionmaker() as session, session.begin():
            row = await begin_tenant(
                session,
                who.organization_id,
                read_only=read_only,
                statement_timeout_ms=statement_timeout_ms,
                viewer_id=who.user_id,
            )
            yield session, row

    async with unavailable.reaching_database(begin) as (session, row):
        if row is None or row.status != UserStatus.ACTIVE.value:
            raise Unauthenticated("the user is not active in this organization")
        viewer = Viewer(who.user_id, who.organization_id, Role(row.role))
        session_scope = scope_of(session)
        assert session_scope is not None
        rescope(session, replace(session_scope, read_criteria=read_criteria(viewer)))
        statements = StatementScope(
            tenant_id=who.organization_id,
            viewer_id=viewer.id,
            criteria=partial(bound_criteria, bound_read_criteria(viewer.role)),
            variant=viewer.role,
        )
        db = RequestDB(session, statements, tracer=schema.tracer)
        context = Context(viewer=viewer, db=db, loaders=Loaders(db, viewer.id), limits=page_limits)
        try:
            yield Scope(context, session)
            if not read_only:
                await announce_writes(session, db)
        finally:
            # Resolvers an error cut short may still have a batch running on the session.
            await db.finish()
