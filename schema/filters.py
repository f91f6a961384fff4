"""Enums, filter inputs and orders shared by the types that list contents and users."""

from datetime import UTC, datetime
from enum import Enum
from typing import Any, overload

import strawberry

import models
from loaders import Ordering
from loaders.filters import ContentWhere, UserWhere
from schema.errors import BadUserInput
from schema.node import expect_global_id

strawberry.enum(models.ContentStatus, description="Where a content is in its life.")
ContentStatus = models.ContentStatus
strawberry.enum(models.Difficulty, description="How hard a content is.")
Difficulty = models.Difficulty


@strawberry.enum(description="Orders for lists of contents.")
class ContentOrder(Enum):
    CREATED_AT_DESC = "CREATED_AT_DESC"
    CREATED_AT_ASC = "CREATED_AT_ASC"
    TITLE_ASC = "TITLE_ASC"
    TITLE_DESC = "TITLE_DESC"
    PUBLISHED_AT_DESC = "PUBLISHED_AT_DESC"
    PUBLISHED_AT_ASC = "PUBLISHED_AT_ASC"
    RATING_DESC = "RATING_DESC"
    RATING_ASC = "RATING_ASC"


@strawberry.input(description="Narrows a list of contents; every field given must match.")
class ContentFilter:
    status: list[ContentStatus] | None = None
    difficulty: list[Difficulty] | None = None
    author_id: list[strawberry.ID] | None = None
    tags: list[str] | None = strawberry.field(
        default=None, description="Tag names (any case); the content must carry all of them."
    )
    created_after: datetime | None = None
    created_before: datetime | None = None
    text: str | None = strawberry.field(default=None, description="Full-text query (web syntax).")

    def to_where(self) -> ContentWhere:
        return ContentWhere(
            statuses=tuple(self.status or ()),
            difficulties=tuple(self.difficulty or ()),
            author_ids=tuple(expect_global_id(i, "User") for i in self.author_id or ()),
            tag_names=tag_names(self.tags or []),
            created_after=storable_time(self.created_after, "createdAfter"),
            created_before=storable_time(self.created_before, "createdBefore"),
            text=plain_text(self.text, "text") or None,
        )


@overload
def plain_text(value: str, argument: str) -> str: ...
@overload
def plain_text(value: None, argument: str) -> None: ...
def plain_text(value: str | None, argument: str) -> str | None:
    """The text, unless PostgreSQL would refuse it (a NUL character): then the client's error."""
    if value is not None and "\x00" in value:
        raise BadUserInput(f"`{argument}` must not contain NUL characters", argument=argument)
    return value


def storable_time(value: datetime | None, argument: str) -> datetime | None:
    """The time, unless it falls outside what a timestamp column holds once moved to UTC."""
    try:
        if value is not None:
            value.astimezone(UTC)
    except OverflowError:
        raise BadUserInput(f"`{argument}` is out of range", argument=argument) from None
    return value


MAX_FILTER_TAGS = 20


def tag_names(names: list[str]) -> tuple[str, ...]:
    if len(names) > MAX_FILTER_TAGS:
        raise BadUserInput(
            f"filter by at most {MAX_FILTER_TAGS} tags, got {len(names)}", argument="filter.tags"
        )
    return tuple(sorted({plain_text(name, "tags").lower() for name in names}))


def content_where(filter: ContentFilter | None) -> ContentWhere | None:
    return None if filter is None else filter.to_where()


strawberry.enum(models.Role, description="What a user may do in its organization.")
Role = models.Role
strawberry.enum(models.UserStatus, description="Whether a user may sign in.")
UserStatus = models.UserStatus


@strawberry.enum(description="Orders for lists of users.")
class UserOrder(Enum):
    CREATED_AT_ASC = "CREATED_AT_ASC"
    CREATED_AT_DESC = "CREATED_AT_DESC"
    FULL_NAME_ASC = "FULL_NAME_ASC"
    FULL_NAME_DESC = "FULL_NAME_DESC"


@strawberry.input(description="Narrows a list of users; every field given must match.")
class UserFilter:
    role: list[Role] | None = None
    status: list[UserStatus] | None = None
    text: str | None = strawberry.field(
        default=None, description="Part of the full name, username or email (any case)."
    )

    def to_where(self) -> UserWhere:
        return UserWhere(
            roles=tuple(self.role or ()),
            statuses=tuple(self.status or ()),
            text=plain_text(self.text, "text") or None,
        )


def sorted_by(type_name: str, args: dict[str, Any], default: Ordering) -> Ordering:
    """A list's ordering: its `sort` argument when given, else `default` (its `orderBy`)."""
    items = args.get("sort")
    if items is None:
        return default
    # Imported when first asked: the sort inputs are derived from every type module.
    from schema.sorting import sort_ordering

    return sort_ordering(type_name, items)
