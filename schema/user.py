"""Users and their profiles."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, cast
from uuid import UUID

import strawberry
from strawberry.scalars import JSON

import models
from loaders.orderings import COMMENT_ORDERINGS, CONTENT_ORDERINGS, RATING_ORDERINGS
from schema.comparisons import narrowed
from schema.context import Info
from schema.execution.catalog import computed, reads
from schema.execution.prefetch import register, resolve
from schema.filters import (
    ContentFilter,
    ContentOrder,
    Role,
    UserStatus,
    content_where,
    sorted_by,
)
from schema.node import Node
from schema.policy import may_read
from schema.relations import One, PageOfMany

if TYPE_CHECKING:
    from schema.aggregates import ContentAggregate
    from schema.connections import CommentConnection, ContentConnection, RatingConnection
    from schema.sorting import CommentSort, ContentSort, RatingSort
    from schema.where import CommentWhere, ContentWhere, RatingWhere


@strawberry.type(description="What a user tells about themself (one per user).")
class UserProfile(Node):
    bio: str | None
    avatar_url: str | None
    preferences: JSON
    updated_at: datetime
    pk: strawberry.Private[UUID]  # its user's id: one profile per user
    user_id: strawberry.Private[UUID]

    @classmethod
    def from_row(cls, row: models.UserProfile) -> UserProfile:
        return cls(
            bio=row.bio,
            avatar_url=row.avatar_url,
            preferences=cast(JSON, row.preferences),
            updated_at=row.updated_at,
            pk=row.user_id,
            user_id=row.user_id,
            row=row,
        )

    @strawberry.field
    def user(self, info: Info) -> User | None:
        return resolve(self, info, PROFILE_USER, {})


@strawberry.type(description="A member of the organization.")
class User(Node):
    username: str
    full_name: str
    role: Role
    status: UserStatus
    last_login_at: datetime | None
    created_at: datetime
    pk: strawberry.Private[UUID]
    private_email: strawberry.Private[str]

    @classmethod
    def from_row(cls, row: models.User) -> User:
        return cls(
            username=row.username,
            full_name=row.full_name,
            role=row.role,
            status=row.status,
            last_login_at=row.last_login_at,
            created_at=row.created_at,
            pk=row.id,
            private_email=row.email,
            row=row,
        )

    @strawberry.field(description="Shown to the user themself and to admins; null to others.")
    def email(self, info: Info) -> str | None:
        shown = may_read(info.context.viewer, models.User.email, self.pk)
        return self.private_email if shown else None

    @strawberry.field
    def profile(self, info: Info) -> UserProfile | None:
        return resolve(self, info, USER_PROFILE, {})

    @strawberry.field(description="Contents this user wrote that the viewer may see.")
    def contents(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
        order_by: ContentOrder = ContentOrder.CREATED_AT_DESC,
        filter: ContentFilter | None = None,
        where: Annotated[ContentWhere, strawberry.lazy("schema.where")] | None = None,  # type: ignore[valid-type]
        sort: list[Annotated[ContentSort, strawberry.lazy("schema.sorting")]] | None = None,  # type: ignore[valid-type]
    ) -> Annotated[ContentConnection, strawberry.lazy("schema.connections")]:  # type: ignore[valid-type]
        args = {"first": first, "after": after, "last": last, "before": before}
        narrowing = {"order_by": order_by, "filter": filter, "where": where, "sort": sort}
        return resolve(self, info, USER_CONTENTS, {**args, **narrowing})

    @strawberry.field(
        description="Aggregates of what `contents` lists, with the same filters.",
        deprecation_reason="Use `contents(...) { aggregate { ... } }`: the same, on the list.",
    )
    async def contents_aggregate(
        self,
        info: Info,
        filter: ContentFilter | None = None,
        where: Annotated[ContentWhere, strawberry.lazy("schema.where")] | None = None,  # type: ignore[valid-type]
    ) -> Annotated[ContentAggregate, strawberry.lazy("schema.aggregates")]:  # type: ignore[valid-type]
        # Imported when asked: the aggregate types are derived from every type module.
        from schema.aggregates import aggregate_along

        args = {"filter": filter, "where": where}
        return await aggregate_along(info, USER_CONTENTS, self.pk, args)

    @strawberry.field(description="Comments this user wrote, newest first.")
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
        return resolve(self, info, USER_COMMENTS, {**args, "where": where, "sort": sort})

    @strawberry.field(description="Ratings this user gave, newest first.")
    def ratings(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
        where: Annotated[RatingWhere, strawberry.lazy("schema.where")] | None = None,  # type: ignore[valid-type]
        sort: list[Annotated[RatingSort, strawberry.lazy("schema.sorting")]] | None = None,  # type: ignore[valid-type]
    ) -> Annotated[RatingConnection, strawberry.lazy("schema.connections")]:  # type: ignore[valid-type]
        args = {"first": first, "after": after, "last": last, "before": before}
        return resolve(self, info, USER_RATINGS, {**args, "where": where, "sort": sort})


computed(
    "User",
    email=reads("email", "id")(
        lambda row, viewer: row.email if may_read(viewer, models.User.email, row.id) else None
    ),
)

from schema.comment import Comment  # noqa: E402
from schema.content import Content, Rating  # noqa: E402

PROFILE_USER = One(models.UserProfile.user, "user_id", User.from_row)
USER_PROFILE = One(models.User.profile, "pk", UserProfile.from_row)
USER_CONTENTS = PageOfMany(
    models.User.contents,
    "pk",
    Content.from_row,
    ordering=lambda args: sorted_by("Content", args, CONTENT_ORDERINGS[args["order_by"].value]),
    where=lambda args: narrowed(args, content_where(args.get("filter"))),
)
USER_COMMENTS = PageOfMany(
    models.User.comments,
    "pk",
    Comment.from_row,
    ordering=lambda args: sorted_by("Comment", args, COMMENT_ORDERINGS["CREATED_AT_DESC"]),
    where=narrowed,
)
USER_RATINGS = PageOfMany(
    models.User.ratings,
    "pk",
    Rating.from_row,
    ordering=lambda args: sorted_by("Rating", args, RATING_ORDERINGS["CREATED_AT_DESC"]),
    where=narrowed,
)

register(
    "User",
    {
        "profile": USER_PROFILE,
        "contents": USER_CONTENTS,
        "comments": USER_COMMENTS,
        "ratings": USER_RATINGS,
    },
)
register("UserProfile", {"user": PROFILE_USER})
