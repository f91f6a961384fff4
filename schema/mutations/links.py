"""What the mutations of a content's links (prerequisites, attachments, tags) share.

A content's prerequisites, attachments and tags are part of what the content is, so changing any
of them is a change of the content: its `version` and `updated_at` move on, and a client holding
an older `version` hears of it through `expectedVersion` like after any other edit.
"""

from datetime import UTC, datetime
from uuid import UUID

from sqlalchemy import select

import models
from schema.context import Info
from schema.mutations.core import not_found


async def touch_content(info: Info, content: models.Content) -> None:
    """Bump the version of a content loaded with `content_for_write` (the mapper counts it)."""
    # A Python value, not `func.now()`: an SQL expression would expire the attribute, and reading
    # it back afterwards would be an implicit (and, on an async session, failing) load.
    content.updated_at = datetime.now(UTC)
    await info.context.db.session.flush()


async def visible_content(info: Info, pk: UUID, path: str) -> models.Content:
    """A content the viewer may see (read policy and soft delete apply), or NOT_FOUND at `path`."""
    row = await info.context.db.session.scalar(
        select(models.Content).where(models.Content.id == pk)
    )
    if row is None:
        raise not_found(path, "content")
    return row
