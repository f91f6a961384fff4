"""Contents, their attachments, ratings and rating summary."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import strawberry

import models
from loaders.filters import ThreadStarts
from loaders.orderings import COMMENT_ORDERINGS
from schema.context import Info
from schema.edges import load_many, load_one, load_page
from schema.filters import ContentStatus, Difficulty
from schema.node import Node, to_global_id
from schema.pagination import Connection


@strawberry.type(description="Ratings of a content: how many, and their mean (null when none).")
class RatingSummary:
    count: int
    average: float | None


@strawberry.type(description="One user's score (1-5) of one content.")
class Rating:
    score: int
    created_at: datetime
    updated_at: datetime
    content_id: strawberry.Private[UUID]
    user_id: strawberry.Private[UUID]

    @classmethod
    def from_row(cls, row: models.Rating) -> Rating:
        return cls(
            score=row.score,
            created_at=row.created_at,
            updated_at=row.updated_at,
            content_id=row.content_id,
            user_id=row.user_id,
        )

    @strawberry.field
    async def content(self, info: Info) -> Content | None:
        return await load_one(info, models.Rating.content, self.content_id, Content.from_row)

    @strawberry.field
    async def user(self, info: Info) -> User | None:

        return await load_one(info, models.Rating.user, self.user_id, User.from_row)


@strawberry.type(description="A file attached to a content.")
class Attachment(Node):
    id: strawberry.ID
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
            id=strawberry.ID(to_global_id("Attachment", row.id)),
            filename=row.filename,
            mime_type=row.mime_type,
            size_bytes=row.size_bytes,
            url=row.url,
            created_at=row.created_at,
            pk=row.id,
            content_id=row.content_id,
        )

    @strawberry.field
    async def content(self, info: Info) -> Content | None:
        return await load_one(info, models.Attachment.content, self.content_id, Content.from_row)


@strawberry.type(description="A piece of learning material.")
class Content(Node):
    id: strawberry.ID
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
            id=strawberry.ID(to_global_id("Content", row.id)),
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
        )

    @strawberry.field(description="Null when the author's account was deleted.")
    async def author(self, info: Info) -> User | None:

        return await load_one(info, models.Content.author, self.author_id, User.from_row)

    @strawberry.field
    async def tags(self, info: Info) -> list[Tag]:

        return await load_many(info, models.Content.tags, self.pk, Tag.from_row)

    @strawberry.field
    async def attachments(self, info: Info) -> list[Attachment]:
        return await load_many(info, models.Content.attachments, self.pk, Attachment.from_row)

    @strawberry.field(description="Contents to study before this one.")
    async def prerequisites(self, info: Info) -> list[Content]:
        return await load_many(info, models.Content.prerequisites, self.pk, Content.from_row)

    @strawberry.field(description="Contents that list this one as a prerequisite.")
    async def required_by(self, info: Info) -> list[Content]:
        return await load_many(info, models.Content.required_by, self.pk, Content.from_row)

    @strawberry.field(
        description="Threads on this content, oldest first: comments that are not replies."
    )
    async def comments(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[Comment]:

        return await load_page(
            info,
            models.Content.comments,
            self.pk,
            COMMENT_ORDERINGS["CREATED_AT_ASC"],
            Comment.from_row,
            first=first,
            after=after,
            last=last,
            before=before,
            where=ThreadStarts(),
        )

    @strawberry.field(description="All comments on this content, replies included.")
    async def comment_count(self, info: Info) -> int:
        return int(await info.context.loaders.count(models.Content.comments).load(self.pk))

    @strawberry.field
    async def rating_summary(self, info: Info) -> RatingSummary:
        summary = await info.context.loaders.rating_summary.load(self.pk)
        return RatingSummary(count=summary.count, average=summary.average)

    @strawberry.field(description="The viewer's own rating of this content, if any.")
    async def viewer_rating(self, info: Info) -> Rating | None:
        rating = await info.context.loaders.viewer_rating.load(self.pk)
        return None if rating is None else Rating.from_row(rating)


# Types that refer back to these; imported last so each module's classes exist first.
from schema.comment import Comment  # noqa: E402
from schema.tag import Tag  # noqa: E402
from schema.user import User  # noqa: E402
