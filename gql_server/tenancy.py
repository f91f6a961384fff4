"""Tenant-scoped sessions: the two locks around every request.

1. ORM: every ORM statement of the session gets `organization_id = :tenant` (and, unless asked
   otherwise, `deleted_at IS NULL`) through `with_loader_criteria`; new rows get the tenant stamped.
2. Database: the transaction switches to a role without BYPASSRLS and sets `app.tenant_id`, so the
   row-level security policies of the migration scope even raw SQL to the tenant.
"""

from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from functools import lru_cache
from typing import Any
from uuid import UUID

from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import ORMExecuteState, Session, with_loader_criteria
from sqlalchemy.orm.interfaces import ORMOption

from loaders import INCLUDE_DELETED
from models import APP_ROLE, Audited, SoftDeleted, TenantScoped

TENANT_ID = "tenant_id"
READ_CRITERIA = "read_criteria"

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
VIEWER = "viewer"
# Who writes: stamped on audit columns (created_by, updated_by) of rows the session flushes.
ACTOR = "actor"
STATEMENTS = "sql_statements"


class CrossTenantWrite(Exception):
    """A new row names an organization other than the session's tenant."""


@asynccontextmanager
async def tenant_session(
    sessionmaker: async_sessionmaker[AsyncSession],
    tenant_id: UUID,
    *,
    read_only: bool = False,
    statement_timeout_ms: int = 0,
    read_criteria: Iterable[ORMOption] = (),
    viewer_id: UUID | None = None,
) -> AsyncIterator[AsyncSession]:
    """One session in one transaction for `tenant_id`: committed on success, else rolled back.

    `read_criteria` are extra loader criteria (the viewer's read policy) added to every ORM query.
    With `viewer_id`, `session.info[VIEWER]` holds that user's `(role, status)`, or None when
    the tenant has no such (undeleted) user. `connection.info[STATEMENTS]` counts statements.
    """
    async with sessionmaker() as session:
        session.info[TENANT_ID] = tenant_id
        session.info[READ_CRITERIA] = tuple(read_criteria)
        if viewer_id is not None:
            session.info[ACTOR] = viewer_id
        async with session.begin():
            connection = await session.connection()
            connection.info[STATEMENTS] = 0
            parameters = {
                "tenant_id": str(tenant_id),
                "statement_timeout": str(statement_timeout_ms),
                "read_only": "on" if read_only else "off",
            }
            if viewer_id is None:
                await session.execute(_SETUP, parameters)
            else:
                result = await session.execute(
                    _SETUP_AS_VIEWER, {**parameters, "viewer_id": viewer_id}
                )
                session.info[VIEWER] = result.one_or_none()
            yield session


def count_statements(conn: Any, *_args: Any) -> None:
    """`before_cursor_execute` listener: counts statements on connections of tenant sessions."""
    info = conn.info
    if STATEMENTS in info:
        info[STATEMENTS] += 1


@event.listens_for(Session, "do_orm_execute")
def _scope_to_tenant(state: ORMExecuteState) -> None:
    tenant_id = state.session.info.get(TENANT_ID)
    if tenant_id is None or not (state.is_select or state.is_update or state.is_delete):
        return
    if state.is_column_load or state.is_relationship_load:
        return  # criteria of the parent statement propagate to these
    options: list[Any] = [_tenant_criteria(tenant_id)]
    if not state.execution_options.get(INCLUDE_DELETED, False):
        options.append(_NOT_DELETED)
    options.extend(state.session.info.get(READ_CRITERIA, ()))
    state.statement = state.statement.options(*options)


# Building a criteria option analyses its lambda: far too slow to repeat for every statement,
# so each tenant's is built once (bounded: tenants beyond the cache are simply rebuilt).
@lru_cache(maxsize=4096)
def _tenant_criteria(tenant_id: UUID) -> ORMOption:
    return with_loader_criteria(
        TenantScoped, lambda cls: cls.organization_id == tenant_id, include_aliases=True
    )


_NOT_DELETED = with_loader_criteria(
    SoftDeleted, lambda cls: cls.deleted_at.is_(None), include_aliases=True
)


@event.listens_for(Session, "before_flush")
def _stamp_tenant(session: Session, _context: object, _instances: object) -> None:
    tenant_id = session.info.get(TENANT_ID)
    if tenant_id is None:
        return
    actor = session.info.get(ACTOR)
    if actor is not None:
        for obj in session.new:
            if isinstance(obj, Audited):
                obj.created_by = obj.created_by or actor
                obj.updated_by = actor
        for obj in session.dirty:
            if isinstance(obj, Audited) and session.is_modified(obj):
                obj.updated_by = actor
    for obj in session.new:
        if not isinstance(obj, TenantScoped):
            continue
        if obj.organization_id is None:
            obj.organization_id = tenant_id
        elif obj.organization_id != tenant_id:
            raise CrossTenantWrite(
                f"{type(obj).__name__} for organization {obj.organization_id} refused in a"
                f" session of organization {tenant_id}"
            )
