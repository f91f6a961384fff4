"""Tenant-scoped sessions: the two locks around every request.

1. ORM: every ORM statement of the session gets `organization_id = :tenant` (and, unless asked
   otherwise, `deleted_at IS NULL`, and the viewer's read policy) through
   `with_loader_criteria`; new rows get the tenant stamped, audited rows the actor.
2. Database: the transaction switches to a role without BYPASSRLS and sets `app.tenant_id`, so the
   row-level security policies of the migration scope even raw SQL to the tenant.

What a session is scoped to is one typed value, `SessionScope`, kept on the session
(`scope_of` / `rescope`): the hooks below read it, and nothing else is kept in `session.info`.
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, cast
from uuid import UUID

from sqlalchemy import Engine, Row, Table, bindparam, event, insert, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import ORMExecuteState, Session, with_loader_criteria
from sqlalchemy.orm.interfaces import ORMOption

from gql_server.citus import CITUS
from loaders import INCLUDE_DELETED
from loaders.compiled import TENANT_ID
from loaders.session import STATEMENTS, RequestDB
from loaders.tables import note_statement, start_counting, start_touching
from loaders.tables import touched as tables_touched
from models import (
    APP_ROLE,
    STAMPED,
    Audited,
    CrossTenantWrite,
    EventKind,
    OutboxEvent,
    SoftDeleted,
    TenantScoped,
    stamped,
)

__all__ = [
    "INCLUDE_DELETED",
    "STATEMENTS",
    "CrossTenantWrite",
    "SessionScope",
    "begin_tenant",
    "committed_writes",
    "count_statements",
    "rescope",
    "scope_of",
    "tenant_session",
]

# One round trip sets up the whole transaction; the role switch comes last so the settings
# before it are made with the login role's rights.
_SETUP = text(
    "select set_config('app.tenant_id', :tenant_id, true),"
    " set_config('statement_timeout', :statement_timeout, true),"
    " set_config('transaction_read_only', :read_only, true),"
    f" set_config('role', '{APP_ROLE}', true)"
)
# The same, plus the viewer's role and status, read under the tenant's row-level security
# (function `begin_request`, migration 0002).
_SETUP_AS_VIEWER = text(
    "select role, status from begin_request(:tenant_id, :viewer_id, :statement_timeout, :read_only)"
)
_SCOPE = "gql_server.scope"
_ANNOUNCED = "gql_server.announced"
_COMMITTED = "gql_server.committed_writes"


@dataclass(frozen=True, slots=True)
class SessionScope:
    """What a session is scoped to: its tenant, who writes (stamped on audit columns) and the
    viewer's read policy (loader criteria added to every ORM statement)."""

    tenant_id: UUID
    actor: UUID | None = None
    read_criteria: tuple[ORMOption, ...] = ()


def scope_of(session: Session | AsyncSession) -> SessionScope | None:
    scope: SessionScope | None = session.info.get(_SCOPE)
    return scope


def rescope(session: Session | AsyncSession, scope: SessionScope) -> None:
    session.info[_SCOPE] = scope


async def begin_tenant(
    session: AsyncSession,
    tenant_id: UUID,
    *,
    read_only: bool,
    statement_timeout_ms: int,
    viewer_id: UUID | None = None,
) -> Row[Any] | None:
    """Scope `session` to the tenant and set up its transaction, in its first statement.

    With `viewer_id` that statement also reads the viewer's `(role, status)`, returned (None when
    the tenant has no such undeleted user), and the viewer becomes the session's actor.
    """
    rescope(session, SessionScope(tenant_id, actor=viewer_id))
    connection = await session.connection()
    if connection.info.get(CITUS):  # the tenant for the workers, too (gql_server.citus)
        await session.execute(text(f"set local app.tenant_id = '{UUID(str(tenant_id))}'"))
        # No tables noted, so none announced and no answer kept: on Citus the announcement (a
        # row of the coordinator's outbox at commit) made concurrent upserts of one row wait
        # for each other past the statement timeout. The response cache stays off there.
        start_counting(connection.info)
    else:
        start_touching(connection.info)
    parameters = {
        "tenant_id": str(tenant_id),
        "statement_timeout": str(statement_timeout_ms),
        "read_only": "on" if read_only else "off",
    }
    if viewer_id is None:
        await session.execute(_SETUP, parameters)
        return None
    result = await session.execute(_SETUP_AS_VIEWER, {**parameters, "viewer_id": viewer_id})
    return result.one_or_none()


@asynccontextmanager
async def tenant_session(
    sessionmaker: async_sessionmaker[AsyncSession],
    tenant_id: UUID,
    *,
    read_only: bool = False,
    statement_timeout_ms: int = 0,
) -> AsyncIterator[AsyncSession]:
    """One session in one transaction for `tenant_id`: committed on success, else rolled back.

    For work that is not a viewer's request (seeding, commands, tests); requests open theirs
    with `gql_server.scope.open_scope`. `connection.info[STATEMENTS]` counts statements.
    """
    async with sessionmaker() as session, session.begin():
        await begin_tenant(
            session, tenant_id, read_only=read_only, statement_timeout_ms=statement_timeout_ms
        )
        yield session


@event.listens_for(Engine, "before_cursor_execute")
def count_statements(conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
    """Counts the statements of tenant sessions' connections and notes the tables they touch
    (`loaders.tables`), on every engine: whoever writes through a tenant session announces it."""
    note_statement(conn.info, statement)


@event.listens_for(Session, "do_orm_execute")
def _scope_to_tenant(state: ORMExecuteState) -> None:
    scope = scope_of(state.session)
    if scope is None or not (state.is_select or state.is_update or state.is_delete):
        return
    if state.is_column_load or state.is_relationship_load:
        return  # criteria of the parent statement propagate to these
    include_deleted = state.execution_options.get(INCLUDE_DELETED, False)
    state.statement = state.statement.options(*scope_criteria(scope, include_deleted))


def scope_criteria(scope: SessionScope, include_deleted: bool) -> list[ORMOption]:
    """What every statement of a session scoped to `scope` is narrowed by: the tenant, live rows
    (unless `include_deleted`), the viewer's read policy."""
    return _criteria(_tenant_criteria(scope.tenant_id), scope.read_criteria, include_deleted)


def bound_criteria(read_criteria: tuple[ORMOption, ...], include_deleted: bool) -> list[ORMOption]:
    """The same, with the tenant bound to `loaders.compiled.TENANT_ID` and `read_criteria` to
    `VIEWER_ID`: what `RequestDB` compiles into the statements it runs directly."""
    return _criteria(_TENANT_BOUND, read_criteria, include_deleted)


def _criteria(
    tenant: ORMOption, read_criteria: tuple[ORMOption, ...], include_deleted: bool
) -> list[ORMOption]:
    options: list[ORMOption] = [tenant]
    if not include_deleted:
        options.append(_NOT_DELETED)
    options.extend(read_criteria)
    return options


# Building a criteria option analyses its lambda: far too slow to repeat for every statement,
# so each tenant's is built once (bounded: tenants beyond the cache are simply rebuilt).
@lru_cache(maxsize=4096)
def _tenant_criteria(tenant_id: UUID) -> ORMOption:
    return with_loader_criteria(
        TenantScoped, lambda cls: cls.organization_id == tenant_id, include_aliases=True
    )


_TENANT_BOUND = with_loader_criteria(
    TenantScoped, lambda cls: cls.organization_id == TENANT_ID, include_aliases=True
)
_NOT_DELETED = with_loader_criteria(
    SoftDeleted, lambda cls: cls.deleted_at.is_(None), include_aliases=True
)


@event.listens_for(Session, "before_flush")
def _stamp_tenant(session: Session, _context: object, _instances: object) -> None:
    scope = scope_of(session)
    if scope is None:
        return
    for obj in session.new:
        if not isinstance(obj, TenantScoped | Audited):
            continue
        current = {name: getattr(obj, name) for name in STAMPED if hasattr(obj, name)}
        for name, value in stamped(type(obj), current, scope.tenant_id, scope.actor).items():
            if value is not current.get(name):
                setattr(obj, name, value)
    if scope.actor is not None:
        for obj in session.dirty:
            if isinstance(obj, Audited) and session.is_modified(obj):
                obj.updated_by = scope.actor


# Into the table (Core), as `schema.events.publish`: nothing read back; built once, its values
# bound, since building it took longer than sending it.
_events = cast(Table, OutboxEvent.__table__)
_ANNOUNCE = insert(_events).values(
    {
        name: bindparam(name, type_=_events.c[name].type)
        for name in ("organization_id", "kind", "tables")
    }
)


def _announcement(tenant_id: UUID, written: frozenset[str]) -> dict[str, Any]:
    return {
        "organization_id": tenant_id,
        "kind": EventKind.TABLES_WRITTEN,
        "tables": sorted(written),
    }


@event.listens_for(Session, "before_commit")
def _announce_writes(session: Session) -> None:
    """Every tenant transaction that wrote announces which tables, in itself: an outbox row the
    response caches of every process drop their answers by (`gql_server.response_cache`).
    A request's is sent ahead (`announce_writes`); this announces what is left, if anything."""
    scope = scope_of(session)
    if scope is None or session.in_nested_transaction():  # a savepoint's release
        return
    touched = tables_touched(session.connection().info)
    written, touched.written = frozenset(touched.written), set()
    if written:
        session.execute(_ANNOUNCE, _announcement(scope.tenant_id, written))
    session.info[_ANNOUNCED] = session.info.get(_ANNOUNCED, frozenset()) | written


async def announce_writes(session: AsyncSession, db: RequestDB) -> None:
    """A request's announcement, sent on its connection directly just before it commits (the
    session's own path costs more than the statement)."""
    scope = scope_of(session)
    if scope is None:
        return
    touched = tables_touched(await db.connection_info())
    written, touched.written = frozenset(touched.written), set()
    if written:
        await db.fetch(
            "announce_writes", lambda: _ANNOUNCE, _announcement(scope.tenant_id, written)
        )
        touched.written = set()  # the announcement's own row is no write to announce
    session.info[_ANNOUNCED] = written


@event.listens_for(Session, "after_commit")
def _announced(session: Session) -> None:
    if _ANNOUNCED in session.info and not session.in_nested_transaction():
        session.info[_COMMITTED] = session.info.pop(_ANNOUNCED)


def committed_writes(session: Session | AsyncSession) -> frozenset[str]:
    """The tables the session's committed transaction wrote (and announced)."""
    written: frozenset[str] = session.info.get(_COMMITTED, frozenset())
    return written
