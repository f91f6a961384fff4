"""The rows a mutation works on: found by id as the viewer sees them, locked as the change needs.

Every lookup goes through the request's session, so the tenant, soft-delete and read-policy
criteria apply: a row of another tenant, a deleted one or one the viewer may not see is not
found, exactly like an id that never existed. `find` gives the ORM object, for a mutation that
changes it; `find_row` its columns, for one that only reads it, at a fraction of the cost.
"""

from enum import Enum
from typing import Any, TypeVar
from uuid import UUID

from sqlalchemy import Select, bindparam, inspect, select

import models
from loaders import INCLUDE_DELETED
from schema.context import Context
from schema.mutations.user_errors import forbidden, not_found
from schema.policy import Action, may

Row = TypeVar("Row")


class Lock(Enum):
    SHARE = "FOR SHARE"  # the row cannot change or go until this transaction ends
    # Only other writers of the row itself wait: rows that reference it can still be inserted.
    NO_KEY_UPDATE = "FOR NO KEY UPDATE"
    UPDATE = "FOR UPDATE"


_WITH_FOR_UPDATE: dict[Lock, dict[str, Any]] = {
    Lock.SHARE: {"read": True},
    Lock.NO_KEY_UPDATE: {"key_share": True},
    Lock.UPDATE: {},
}


async def find(
    context: Context,
    model: type[Row],
    pk: UUID,
    path: str,
    *,
    lock: Lock | None = None,
    include_deleted: bool = False,
) -> Row:
    """The row, or the mutation ends with NOT_FOUND at `path`."""
    entity: Any = model
    statement = select(entity).where(entity.id == pk)
    if lock is not None:
        statement = statement.with_for_update(**_WITH_FOR_UPDATE[lock])
    options: dict[str, Any] = {INCLUDE_DELETED: True} if include_deleted else {}
    row = await context.db.scalar(statement, **options)
    if row is None:
        raise not_found(path, model.__name__.lower())
    return row


async def content_for_write(
    context: Context, pk: UUID, *, path: str = "input.id", include_deleted: bool = False
) -> models.Content:
    """The content, locked for this transaction, if the viewer may see it and edit it."""
    content = await find(
        context,
        models.Content,
        pk,
        path,
        lock=Lock.NO_KEY_UPDATE,
        include_deleted=include_deleted,
    )
    if not may(context.viewer, Action.EDIT_CONTENT, content.author_id):
        raise forbidden("only the author or an admin may change this content")
    return content


async def find_row(
    context: Context,
    model: type[Any],
    pk: UUID,
    path: str,
    *,
    lock: Lock | None = None,
    include_deleted: bool = False,
) -> Any:
    """The row as `find` finds it, as its columns (those an ORM object loads) rather than an
    object: read by attribute (`loaders.compiled.Row`, or SQLAlchemy's without a scope)."""
    rows = await context.db.fetch(
        ("find_row", model, lock),
        lambda: _by_id(model, lock),
        {"pk": pk},
        include_deleted=include_deleted,
    )
    if not rows:
        raise not_found(path, model.__name__.lower())
    return rows[0]


def _by_id(model: Any, lock: Lock | None) -> Select[Any]:
    mapper = inspect(model)
    columns = [getattr(model, column.key) for column in mapper.column_attrs if not column.deferred]
    statement = select(*columns).where(model.id == bindparam("pk"))
    if lock is not None:
        statement = statement.with_for_update(**_WITH_FOR_UPDATE[lock])
    return statement
