"""Comments on contents, in threads."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import strawberry

import models
from loaders.filters import ThreadReplies
from loaders.orderings import COMMENT_ORDERINGS
from schema.context import Info
from schema.edges import load_one, load_page
from schema.node import Node, to_global_id
from schema.pagination import Connection


@strawberry.type(
    description="A comment on a content; replies point at their parent. A deleted comment that"
    " still has replies stays in its thread as a tombstone: `deleted` true, `body` and `author`"
    " null."
)
class Comment(Node):
    id: strawberry.ID
    body: str | None = strawberry.field(description="Null when the comment was deleted.")
    deleted: bool
    created_at: datetime
    updated_at: datetime
    pk: strawberry.Private[UUID]
    content_id: strawberry.Private[UUID]
    author_id: strawberry.Private[UUID]
    parent_id: strawberry.Private[UUID | None]

    @classmethod
    def from_row(cls, row: models.Comment) -> Comment:
        return cls(
            id=strawberry.ID(to_global_id("Comment", row.id)),
            body=None if row.deleted_at is not None else row.body,
            deleted=row.deleted_at is not None,
            created_at=row.created_at,
            updated_at=row.updated_at,
            pk=row.id,
            content_id=row.content_id,
            author_id=row.author_id,
            parent_id=row.parent_id,
        )

    @strawberry.field
    async def content(self, info: Info) -> Content | None:
        return await load_one(info, models.Comment.content, self.content_id, Content.from_row)

    @strawberry.field(description="Null when the comment or the author's account was deleted.")
    async def author(self, info: Info) -> User | None:
        if self.deleted:
            return None
        return await load_one(info, models.Comment.author, self.author_id, User.from_row)

    @strawberry.field(description="The comment this one replies to; null for a thread start.")
    async def parent(self, info: Info) -> Comment | None:
        if self.parent_id is None:
            return None
        # A parent of a comment in a thread is live or a tombstone, never gone.
        loader = info.context.loaders.related(models.Comment.parent, include_deleted=True)
        row = await loader.load(self.parent_id)
        return None if row is None else Comment.from_row(row)

    @strawberry.field(description="Replies to this comment, oldest first, tombstones included.")
    async def replies(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[Comment]:
        return await load_page(
            info,
            models.Comment.replies,
            self.pk,
            COMMENT_ORDERINGS["CREATED_AT_ASC"],
            Comment.from_row,
            first=first,
            after=after,
            last=last,
            before=before,
            where=ThreadReplies(),
        )


from schema.content import Content  # noqa: E402
from schema.user import User  # noqa: E402
