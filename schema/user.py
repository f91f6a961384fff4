"""Users and their profiles."""

from __future__ import annotations

from datetime import datetime
from typing import cast
from uuid import UUID

import strawberry
from strawberry.scalars import JSON

import models
from loaders.orderings import COMMENT_ORDERINGS, CONTENT_ORDERINGS, RATING_ORDERINGS
from schema.context import Info
from schema.edges import load_one, load_page
from schema.filters import (
    ContentFilter,
    ContentOrder,
    Role,
    UserStatus,
    content_where,
)
from schema.node import Node, to_global_id
from schema.pagination import Connection


@strawberry.type(description="What a user tells about themself.")
class UserProfile:
    bio: str | None
    avatar_url: str | None
    preferences: JSON
    updated_at: datetime
    user_id: strawberry.Private[UUID]

    @classmethod
    def from_row(cls, row: models.UserProfile) -> UserProfile:
        return cls(
            bio=row.bio,
            avatar_url=row.avatar_url,
            preferences=cast(JSON, row.preferences),
            updated_at=row.updated_at,
            user_id=row.user_id,
        )

    @strawberry.field
    async def user(self, info: Info) -> User | None:
        return await load_one(info, models.UserProfile.user, self.user_id, User.from_row)


@strawberry.type(description="A member of the organization.")
class User(Node):
    id: strawberry.ID
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
            id=strawberry.ID(to_global_id("User", row.id)),
            username=row.username,
            full_name=row.full_name,
            role=row.role,
            status=row.status,
            last_login_at=row.last_login_at,
            created_at=row.created_at,
            pk=row.id,
            private_email=row.email,
        )

    @strawberry.field(description="Shown to the user themself and to admins; null to others.")
    def email(self, info: Info) -> str | None:
        viewer = info.context.viewer
        return self.private_email if viewer.is_admin or viewer.id == self.pk else None

    @strawberry.field
    async def profile(self, info: Info) -> UserProfile | None:
        return await load_one(info, models.User.profile, self.pk, UserProfile.from_row)

    @strawberry.field(description="Contents this user wrote that the viewer may see.")
    async def contents(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
        order_by: ContentOrder = ContentOrder.CREATED_AT_DESC,
        filter: ContentFilter | None = None,
    ) -> Connection[Content]:
        return await load_page(
            info,
            models.User.contents,
            self.pk,
            CONTENT_ORDERINGS[order_by.value],
            Content.from_row,
            first=first,
            after=after,
            last=last,
            before=before,
            where=content_where(filter),
        )

    @strawberry.field(description="Comments this user wrote, newest first.")
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
            models.User.comments,
            self.pk,
            COMMENT_ORDERINGS["CREATED_AT_DESC"],
            Comment.from_row,
            first=first,
            after=after,
            last=last,
            before=before,
        )

    @strawberry.field(description="Ratings this user gave, newest first.")
    async def ratings(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[Rating]:
        return await load_page(
            info,
            models.User.ratings,
            self.pk,
            RATING_ORDERINGS["CREATED_AT_DESC"],
            Rating.from_row,
            first=first,
            after=after,
            last=last,
            before=before,
        )


from schema.comment import Comment  # noqa: E402
from schema.content import Content, Rating  # noqa: E402
