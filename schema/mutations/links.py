"""What the mutations of a content's links (prerequisites, attachments, tags) share.

A content's prerequisites, attachments and tags are part of what the content is, so changing any
of them is a change of the content: its `version` and `updated_at` move on, and a client holding
an older `version` hears of it through `expectedVersion` like after any other edit.
"""

from datetime import UTC, datetime

import models
from schema.context import Context


async def touch_content(context: Context, content: models.Content) -> None:
    """Bump the version of a content loaded with `content_for_write` (the mapper counts it)."""
    # A Python value, not `func.now()`: an SQL expression would expire the attribute, and reading
    # it back afterwards would be an implicit (and, on an async session, failing) load.
    content.updated_at = datetime.now(UTC)
    await context.db.flush()
