"""The rows of one organization, built in memory before a bulk load.

Ids are `uuid5` of a fixed namespace and a natural key, and every row takes the next tick of the
tenant's clock: the same generator calls give the same rows on every database, `created_at` is
distinct within a tenant (so lists order the same way everywhere), and a child is never older than
the rows it points to.
"""

import itertools
import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple
from uuid import UUID, uuid5

from models import ContentStatus, Difficulty, Plan, Role, UserStatus

NAMESPACE = UUID("6c1f4c1e-8a55-5d2b-9a57-2f3c0e0d5e11")
EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


# One named tuple per table: field names are column names, and the loader inserts exactly these.
class OrganizationRow(NamedTuple):
    id: UUID
    slug: str
    name: str
    plan: str
    created_at: datetime
    updated_at: datetime


def organization(slug: str, name: str, plan: Plan, created_at: datetime) -> OrganizationRow:
    return OrganizationRow(
        uuid5(NAMESPACE, f"organizations/{slug}"), slug, name, plan.value, created_at, created_at
    )


class UserRow(NamedTuple):
    organization_id: UUID
    id: UUID
    email: str
    username: str
    full_name: str
    role: str
    status: str
    last_login_at: datetime | None
    created_at: datetime
    updated_at: datetime
    created_by: UUID | None
    updated_by: UUID | None


class UserProfileRow(NamedTuple):
    organization_id: UUID
    user_id: UUID
    bio: str
    avatar_url: str
    preferences: str  # JSON text: the asyncpg codec SQLAlchemy installs takes jsonb as text
    created_at: datetime
    updated_at: datetime


class TagRow(NamedTuple):
    organization_id: UUID
    id: UUID
    name: str
    created_at: datetime
    updated_at: datetime


class ContentRow(NamedTuple):
    organization_id: UUID
    id: UUID
    author_id: UUID
    title: str
    summary: str
    body: str
    status: str
    difficulty: str
    published_at: datetime | None
    version: int
    created_at: datetime
    updated_at: datetime
    created_by: UUID
    updated_by: UUID


class ContentPrerequisiteRow(NamedTuple):
    organization_id: UUID
    content_id: UUID
    prerequisite_id: UUID
    created_at: datetime


class ContentTagRow(NamedTuple):
    organization_id: UUID
    content_id: UUID
    tag_id: UUID
    created_at: datetime


class AttachmentRow(NamedTuple):
    organization_id: UUID
    id: UUID
    content_id: UUID
    filename: str
    mime_type: str
    size_bytes: int
    url: str
    created_at: datetime
    updated_at: datetime


class CommentRow(NamedTuple):
    organization_id: UUID
    id: UUID
    content_id: UUID
    author_id: UUID
    parent_id: UUID | None
    body: str
    created_at: datetime
    updated_at: datetime
    created_by: UUID
    updated_by: UUID


class RatingRow(NamedTuple):
    organization_id: UUID
    content_id: UUID
    user_id: UUID
    score: int
    created_at: datetime
    updated_at: datetime


class TenantRows:
    """An organization and its rows; `tables()` lists them parents first, ready to insert."""

    def __init__(self, organization: OrganizationRow, *, step: timedelta):
        self.organization = organization
        self.slug = organization.slug
        self._start = organization.created_at
        self._step = step
        self._ticks = itertools.count(1)
        self.users: list[UserRow] = []
        self.profiles: list[UserProfileRow] = []
        self.tags: list[TagRow] = []
        self.contents: list[ContentRow] = []
        self.prerequisites: list[ContentPrerequisiteRow] = []
        self.content_tags: list[ContentTagRow] = []
        self.attachments: list[AttachmentRow] = []
        self.comments: list[CommentRow] = []
        self.ratings: list[RatingRow] = []

    @property
    def id(self) -> UUID:
        return self.organization.id

    def tables(self) -> list[tuple[str, Sequence[tuple[Any, ...]]]]:
        return [
            ("users", self.users),
            ("user_profiles", self.profiles),
            ("tags", self.tags),
            ("contents", self.contents),
            ("content_prerequisites", self.prerequisites),
            ("content_tags", self.content_tags),
            ("attachments", self.attachments),
            ("comments", self.comments),
            ("ratings", self.ratings),
        ]

    def _id(self, kind: str, key: object) -> UUID:
        return uuid5(NAMESPACE, f"{self.slug}/{kind}/{key}")

    def _tick(self) -> datetime:
        return self._start + self._step * next(self._ticks)

    def add_user(
        self,
        username: str,
        full_name: str,
        role: Role,
        *,
        created_by: UUID | None,
        bio: str,
        preferences: dict[str, Any],
        last_login_at: datetime | None = None,
    ) -> UserRow:
        at = self._tick()
        user = UserRow(
            self.id,
            self._id("users", username),
            f"{username}@{self.slug}.example.com",
            username,
            full_name,
            role.value,
            UserStatus.ACTIVE.value,
            last_login_at,
            at,
            at,
            created_by,
            created_by,
        )
        self.users.append(user)
        self.profiles.append(
            UserProfileRow(
                self.id,
                user.id,
                bio,
                f"https://avatars.example.com/{self.slug}/{username}.png",
                json.dumps(preferences, sort_keys=True),
                at,
                at,
            )
        )
        return user

    def add_tag(self, name: str) -> TagRow:
        at = self._tick()
        tag = TagRow(self.id, self._id("tags", name.lower()), name, at, at)
        self.tags.append(tag)
        return tag

    def add_content(
        self,
        *,
        author: UserRow,
        title: str,
        summary: str,
        body: str,
        status: ContentStatus,
        difficulty: Difficulty,
    ) -> ContentRow:
        at = self._tick()
        # Published half a tick after creation: before any later row, such as its comments.
        published_at = None if status is ContentStatus.DRAFT else at + self._step / 2
        content = ContentRow(
            self.id,
            self._id("contents", len(self.contents)),
            author.id,
            title,
            summary,
            body,
            status.value,
            difficulty.value,
            published_at,
            1,
            at,
            published_at or at,
            author.id,
            author.id,
        )
        self.contents.append(content)
        return content

    def add_prerequisite(self, content: ContentRow, prerequisite: ContentRow) -> None:
        self.prerequisites.append(
            ContentPrerequisiteRow(self.id, content.id, prerequisite.id, self._tick())
        )

    def tag(self, content: ContentRow, tag: TagRow) -> None:
        self.content_tags.append(ContentTagRow(self.id, content.id, tag.id, self._tick()))

    def add_attachment(
        self, content: ContentRow, filename: str, mime_type: str, size_bytes: int
    ) -> AttachmentRow:
        at = self._tick()
        attachment_id = self._id("attachments", len(self.attachments))
        attachment = AttachmentRow(
            self.id,
            attachment_id,
            content.id,
            filename,
            mime_type,
            size_bytes,
            f"https://files.example.com/{self.slug}/{attachment_id}/{filename}",
            at,
            at,
        )
        self.attachments.append(attachment)
        return attachment

    def add_comment(
        self, content: ContentRow, author: UserRow, body: str, parent: CommentRow | None = None
    ) -> CommentRow:
        at = self._tick()
        comment = CommentRow(
            self.id,
            self._id("comments", len(self.comments)),
            content.id,
            author.id,
            parent.id if parent else None,
            body,
            at,
            at,
            author.id,
            author.id,
        )
        self.comments.append(comment)
        return comment

    def rate(self, content: ContentRow, user: UserRow, score: int) -> None:
        at = self._tick()
        self.ratings.append(RatingRow(self.id, content.id, user.id, score, at, at))
