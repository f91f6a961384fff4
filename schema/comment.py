"""Comments on contents, in threads."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any
from uuid import UUID

import strawberry

import models
from loaders import value_of
from loaders.filters import ThreadReplies
from loaders.orderings import COMMENT_ORDERINGS
from schema.comparisons import narrowed
from schema.context import Info
from schema.execution.catalog import computed, reads
from schema.execution.prefetch import register, resolve
from schema.filters import sorted_by
from schema.node import Node
from schema.relations import One, PageOfMany

if TYPE_CHECKING:
    from schema.connections import CommentConnection
    from schema.sorting import CommentSort
    from schema.where import CommentWhere


@strawberry.type(
    description="A comment on a content; replies point at their parent. A deleted comment that"
    " still has replies stays in its thread as a tombstone: `deleted` true, `body` and `author`"
    " null."
)
class Comment(Node):
    body: str | None = strawberry.field(description="Null when the comment was deleted.")
    deleted: bool
    created_at: datetime
    updated_at: datetime
    pk: strawberry.Private[UUID]
    content_id: strawberry.Private[UUID]
    author_id: strawberry.Private[UUID]
    parent_id: strawberry.Private[UUID | None]
    deleted_at: strawberry.Private[datetime | None]

    @classmethod
    def from_row(cls, row: models.Comment) -> Comment:
        return cls(
            body=_body(row, None),
            deleted=_deleted(row, None),
            created_at=row.created_at,
            updated_at=row.updated_at,
            pk=row.id,
            content_id=row.content_id,
            author_id=row.author_id,
            parent_id=row.parent_id,
            deleted_at=row.deleted_at,
            row=row,
        )

    @strawberry.field
    def content(self, info: Info) -> Content | None:
        return resolve(self, info, COMMENT_CONTENT, {})

    @strawberry.field(description="Null when the comment or the author's account was deleted.")
    def author(self, info: Info) -> User | None:
        return resolve(self, info, COMMENT_AUTHOR, {})

    @strawberry.field(description="The comment this one replies to; null for a thread start.")
    def parent(self, info: Info) -> Comment | None:
        return resolve(self, info, COMMENT_PARENT, {})

    @strawberry.field(description="Replies to this comment, oldest first, tombstones included.")
    def replies(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
        where: Annotated[CommentWhere, strawberry.lazy("schema.where")] | None = None,  # type: ignore[valid-type]
        sort: list[Annotated[CommentSort, strawberry.lazy("schema.sorting")]] | None = None,  # type: ignore[valid-type]
    ) -> Annotated[CommentConnection, strawberry.lazy("schema.connections")]:  # type: ignore[valid-type]
        args = {"first": first, "after": after, "last": last, "before": before}
        return resolve(self, info, COMMENT_REPLIES, {**args, "where": where, "sort": sort})


@reads("body", "deleted_at")
def _body(row: Any, _viewer: object) -> str | None:
    # a tombstone shows no body
    return None if value_of(row, "deleted_at") is not None else value_of(row, "body")


@reads("deleted_at")
def _deleted(row: Any, _viewer: object) -> bool:
    return value_of(row, "deleted_at") is not None


computed("Comment", body=_body, deleted=_deleted)

from schema.content import Content  # noqa: E402
from schema.user import User  # noqa: E402

COMMENT_CONTENT = One(models.Comment.content, "content_id", Content.from_row)
# A tombstone shows no author.
COMMENT_AUTHOR = One(
    models.Comment.author,
    "author_id",
    User.from_row,
    applies=reads("deleted_at")(lambda comment: value_of(comment, "deleted_at") is None),
)
# A parent of a comment in a thread is live or a tombstone, never gone.
COMMENT_PARENT = One(models.Comment.parent, "parent_id", Comment.from_row, include_deleted=True)
COMMENT_REPLIES = PageOfMany(
    models.Comment.replies,
    "pk",
    Comment.from_row,
    ordering=lambda args: sorted_by("Comment", args, COMMENT_ORDERINGS["CREATED_AT_ASC"]),
    where=lambda args: narrowed(args, ThreadReplies()),
)

register(
    "Comment",
    {
        "content": COMMENT_CONTENT,
        "author": COMMENT_AUTHOR,
        "parent": COMMENT_PARENT,
        "replies": COMMENT_REPLIES,
    },
)
