"""Contents, their attachments, ratings and rating summary."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated
from uuid import UUID

import strawberry

import models
from loaders.filters import ThreadStarts
from loaders.orderings import COMMENT_ORDERINGS
from schema.comparisons import narrowed
from schema.context import Info
from schema.execution.catalog import computed
from schema.execution.prefetch import register, resolve
from schema.filters import ContentStatus, Difficulty, sorted_by
from schema.node import Node, to_global_id
from schema.relations import Many, One, PageOfMany, Value

if TYPE_CHECKING:
    from schema.connections import CommentConnection
    from schema.sorting import CommentSort
    from schema.where import CommentWhere


def rating_summary_id(content_id: UUID) -> str:
    """A content's rating summary's id: one per content, never the id of another object."""
    return to_global_id("RatingSummary", content_id)


@strawberry.type(
    description="Ratings of a content: how many, and their mean (null when none). One per "
    "content, with an id of its own so normalized client caches keep one copy of it; not a "
    "`Node`: refetch it through its content."
)
class RatingSummary:
    count: int
    average: float | None
    content_id: strawberry.Private[UUID]

    @strawberry.field(description="One per content, the same whatever its ratings.")
    def id(self) -> strawberry.ID:
        return strawberry.ID(rating_summary_id(self.content_id))


@strawberry.type(description="One user's score (1-5) of one content.")
class Rating(Node):
    score: int
    created_at: datetime
    updated_at: datetime
    pk: strawberry.Private[tuple[UUID, UUID]]  # (content_id, user_id): one per user and content
    content_id: strawberry.Private[UUID]
    user_id: strawberry.Private[UUID]

    @classmethod
    def from_row(cls, row: models.Rating) -> Rating:
        return cls(
            score=row.score,
            created_at=row.created_at,
            updated_at=row.updated_at,
            pk=(row.content_id, row.user_id),
            content_id=row.content_id,
            user_id=row.user_id,
            row=row,
        )

    @strawberry.field
    def content(self, info: Info) -> Content | None:
        return resolve(self, info, RATING_CONTENT, {})

    @strawberry.field
    def user(self, info: Info) -> User | None:
        return resolve(self, info, RATING_USER, {})


@strawberry.type(description="A file attached to a content.")
class Attachment(Node):
    filename: str
    mime_type: str
    size_bytes: int
    url: str
    created_at: datetime
    pk: strawberry.Private[UUID]
    content_id: strawberry.Private[UUID]

    @classmethod
    def from_row(cls, row: models.Attachment) -> Attachment:
        return cls(
            filename=row.filename,
            mime_type=row.mime_type,
            size_bytes=row.size_bytes,
            url=row.url,
            created_at=row.created_at,
            pk=row.id,
            content_id=row.content_id,
            row=row,
        )

    @strawberry.field
    def content(self, info: Info) -> Content | None:
        return resolve(self, info, ATTACHMENT_CONTENT, {})


@strawberry.type(description="A piece of learning material.")
class Content(Node):
    title: str
    summary: str | None
    body: str
    status: ContentStatus
    difficulty: Difficulty
    published_at: datetime | None
    version: int = strawberry.field(
        description="Increments on every change; pass it back as `expectedVersion`."
    )
    created_at: datetime
    updated_at: datetime
    pk: strawberry.Private[UUID]
    author_id: strawberry.Private[UUID]

    @classmethod
    def from_row(cls, row: models.Content) -> Content:
        return cls(
            title=row.title,
            summary=row.summary,
            body=row.body,
            status=row.status,
            difficulty=row.difficulty,
            published_at=row.published_at,
            version=row.version,
            created_at=row.created_at,
            updated_at=row.updated_at,
            pk=row.id,
            author_id=row.author_id,
            row=row,
        )

    @strawberry.field(description="Null when the author's account was deleted.")
    def author(self, info: Info) -> User | None:
        return resolve(self, info, CONTENT_AUTHOR, {})

    @strawberry.field(description="In name order, whatever the case.")
    def tags(self, info: Info) -> list[Tag]:
        return resolve(self, info, CONTENT_TAGS, {})

    @strawberry.field(description="Oldest first.")
    def attachments(self, info: Info) -> list[Attachment]:
        return resolve(self, info, CONTENT_ATTACHMENTS, {})

    @strawberry.field(description="Contents to study before this one, oldest first.")
    def prerequisites(self, info: Info) -> list[Content]:
        return resolve(self, info, CONTENT_PREREQUISITES, {})

    @strawberry.field(description="Contents that list this one as a prerequisite, oldest first.")
    def required_by(self, info: Info) -> list[Content]:
        return resolve(self, info, CONTENT_REQUIRED_BY, {})

    @strawberry.field(
        description="Threads on this content, oldest first: comments that are not replies."
    )
    def comments(
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
        return resolve(self, info, CONTENT_COMMENTS, {**args, "where": where, "sort": sort})

    @strawberry.field(description="Live comments on this content, replies included.")
    def comment_count(self, info: Info) -> int:
        return resolve(self, info, CONTENT_COMMENT_COUNT, {})

    @strawberry.field
    def rating_summary(self, info: Info) -> RatingSummary:
        return resolve(self, info, CONTENT_RATING_SUMMARY, {})

    @strawberry.field(description="The viewer's own rating of this content, if any.")
    def viewer_rating(self, info: Info) -> Rating | None:
        return resolve(self, info, CONTENT_VIEWER_RATING, {})


# Types that refer back to these; imported last so each module's classes exist first.
from schema.comment import Comment  # noqa: E402
from schema.tag import Tag  # noqa: E402
from schema.user import User  # noqa: E402

RATING_CONTENT = One(models.Rating.content, "content_id", Content.from_row)
RATING_USER = One(models.Rating.user, "user_id", User.from_row)
ATTACHMENT_CONTENT = One(models.Attachment.content, "content_id", Content.from_row)
CONTENT_AUTHOR = One(models.Content.author, "author_id", User.from_row)
CONTENT_TAGS = Many(models.Content.tags, "pk", Tag.from_row)
CONTENT_ATTACHMENTS = Many(models.Content.attachments, "pk", Attachment.from_row)
CONTENT_PREREQUISITES = Many(models.Content.prerequisites, "pk", Content.from_row)
CONTENT_REQUIRED_BY = Many(models.Content.required_by, "pk", Content.from_row)
CONTENT_COMMENTS = PageOfMany(
    models.Content.comments,
    "pk",
    Comment.from_row,
    ordering=lambda args: sorted_by("Comment", args, COMMENT_ORDERINGS["CREATED_AT_ASC"]),
    where=lambda args: narrowed(args, ThreadStarts()),
)
CONTENT_COMMENT_COUNT = Value(
    lambda loaders: loaders.count(models.Content.comments), "pk", convert=int
)
CONTENT_RATING_SUMMARY = Value(
    lambda loaders: loaders.rating_summary,
    "pk",
    convert=lambda stats: RatingSummary(
        count=stats.count, average=stats.average, content_id=stats.content_id
    ),
)
CONTENT_VIEWER_RATING = Value(
    lambda loaders: loaders.viewer_rating,
    "pk",
    convert=lambda row: None if row is None else Rating.from_row(row),
    child_nodes=True,
)

register(
    "Content",
    {
        "author": CONTENT_AUTHOR,
        "tags": CONTENT_TAGS,
        "attachments": CONTENT_ATTACHMENTS,
        "prerequisites": CONTENT_PREREQUISITES,
        "requiredBy": CONTENT_REQUIRED_BY,
        "comments": CONTENT_COMMENTS,
        "commentCount": CONTENT_COMMENT_COUNT,
        "ratingSummary": CONTENT_RATING_SUMMARY,
        "viewerRating": CONTENT_VIEWER_RATING,
    },
)
register("Rating", {"content": RATING_CONTENT, "user": RATING_USER})
register("Attachment", {"content": ATTACHMENT_CONTENT})
computed("RatingSummary", id=lambda stats, _viewer: rating_summary_id(stats.content_id))
