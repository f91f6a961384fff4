"""Contents: the educational material, its prerequisites graph and its full-text search vector."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING
from uuid import UUID, uuid4

from sqlalchemy import (
    CheckConstraint,
    Computed,
    ForeignKeyConstraint,
    Index,
    String,
    Text,
    func,
)
from sqlalchemy.dialects.postgresql import TSVECTOR
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from models.base import Audited, Base, SoftDeleted, TenantScoped, str_enum

if TYPE_CHECKING:
    from models.attachment import Attachment
    from models.comment import Comment
    from models.rating import Rating
    from models.tag import Tag
    from models.user import User

TITLE_MAX = 200
SUMMARY_MAX = 500
BODY_MAX = 100_000

SEARCH_DOCUMENT = (
    "setweight(to_tsvector('english', coalesce(title, '')), 'A') || "
    "setweight(to_tsvector('english', coalesce(summary, '')), 'B') || "
    "setweight(to_tsvector('english', coalesce(body, '')), 'C')"
)


class ContentStatus(StrEnum):
    DRAFT = "DRAFT"
    PUBLISHED = "PUBLISHED"
    ARCHIVED = "ARCHIVED"


class Difficulty(StrEnum):
    BEGINNER = "BEGINNER"
    INTERMEDIATE = "INTERMEDIATE"
    ADVANCED = "ADVANCED"


class Content(TenantScoped, Audited, SoftDeleted, Base):
    __tablename__ = "contents"
    __table_args__ = (
        ForeignKeyConstraint(
            ["organization_id", "author_id"], ["users.organization_id", "users.id"]
        ),
        CheckConstraint("length(btrim(title)) between 1 and 200", name="title_length"),
        CheckConstraint("version >= 1", name="version_positive"),
        CheckConstraint(
            "(status = 'DRAFT') or published_at is not null", name="published_has_date"
        ),
        Index(None, "organization_id", "created_at", "id"),
        Index(None, "organization_id", "title", "id"),
        Index(None, "organization_id", "published_at", "id"),
        Index(None, "organization_id", "author_id", "created_at", "id"),
        Index(None, "search_vector", postgresql_using="gin"),
    )

    id: Mapped[UUID] = mapped_column(primary_key=True, default=uuid4)
    author_id: Mapped[UUID]
    title: Mapped[str] = mapped_column(String(TITLE_MAX))
    summary: Mapped[str | None] = mapped_column(String(SUMMARY_MAX))
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[ContentStatus] = mapped_column(
        str_enum(ContentStatus), default=ContentStatus.DRAFT
    )
    difficulty: Mapped[Difficulty] = mapped_column(
        str_enum(Difficulty), default=Difficulty.BEGINNER
    )
    published_at: Mapped[datetime | None]
    version: Mapped[int] = mapped_column(default=1)
    search_vector: Mapped[str] = mapped_column(
        TSVECTOR, Computed(SEARCH_DOCUMENT, persisted=True), deferred=True
    )

    # Optimistic concurrency: every ORM UPDATE checks and bumps `version`.
    __mapper_args__ = {"version_id_col": version, "eager_defaults": True}

    author: Mapped[User] = relationship(lazy="raise", viewonly=True, back_populates="contents")
    tags: Mapped[list[Tag]] = relationship(
        lazy="raise",
        viewonly=True,
        secondary="content_tags",
        back_populates="contents",
        order_by="Tag.name_key",  # in name order, whatever the case
    )
    attachments: Mapped[list[Attachment]] = relationship(
        lazy="raise", viewonly=True, back_populates="content"
    )
    comments: Mapped[list[Comment]] = relationship(
        lazy="raise", viewonly=True, back_populates="content"
    )
    ratings: Mapped[list[Rating]] = relationship(
        lazy="raise", viewonly=True, back_populates="content"
    )
    prerequisites: Mapped[list[Content]] = relationship(
        lazy="raise",
        viewonly=True,
        secondary="content_prerequisites",
        primaryjoin="and_(Content.organization_id == ContentPrerequisite.organization_id,"
        " Content.id == ContentPrerequisite.content_id)",
        secondaryjoin="and_(Content.organization_id == ContentPrerequisite.organization_id,"
        " Content.id == ContentPrerequisite.prerequisite_id)",
    )
    required_by: Mapped[list[Content]] = relationship(
        lazy="raise",
        viewonly=True,
        secondary="content_prerequisites",
        primaryjoin="and_(Content.organization_id == ContentPrerequisite.organization_id,"
        " Content.id == ContentPrerequisite.prerequisite_id)",
        secondaryjoin="and_(Content.organization_id == ContentPrerequisite.organization_id,"
        " Content.id == ContentPrerequisite.content_id)",
    )

    @validates("title")
    def _validate_title(self, _key: str, value: str) -> str:
        value = value.strip()
        if not 1 <= len(value) <= TITLE_MAX:
            raise ValueError(f"title must be 1-{TITLE_MAX} characters")
        return value

    @validates("body")
    def _validate_body(self, _key: str, value: str) -> str:
        if len(value) > BODY_MAX:
            raise ValueError(f"body must be at most {BODY_MAX} characters")
        return value


class ContentPrerequisite(TenantScoped, Base):
    """`content_id` requires `prerequisite_id`. Cycles are refused by the mutation, under a lock."""

    __tablename__ = "content_prerequisites"
    __table_args__ = (
        ForeignKeyConstraint(
            ["organization_id", "content_id"],
            ["contents.organization_id", "contents.id"],
            ondelete="CASCADE",
        ),
        ForeignKeyConstraint(
            ["organization_id", "prerequisite_id"],
            ["contents.organization_id", "contents.id"],
            ondelete="CASCADE",
            # The convention's name would pass PostgreSQL's 63-character limit and be cut.
            name="fk_content_prerequisites_prerequisite_id_contents",
        ),
        CheckConstraint("content_id <> prerequisite_id", name="no_self_loop"),
        Index(None, "organization_id", "prerequisite_id"),
    )

    content_id: Mapped[UUID] = mapped_column(primary_key=True)
    prerequisite_id: Mapped[UUID] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class ContentDeletion(TenantScoped, Base):
    """One deletion of a content and, once it is restored, who restored it and when.

    The content's own `deleted_at`/`deleted_by` say only whether it is deleted now: restoring
    clears them. This history keeps every deletion. A trigger on `contents` writes it (migration
    0005) whenever `deleted_at` is set or cleared, whoever does it: the deleter is the content's
    `deleted_by`, the restorer its `updated_by`, which the session stamps on every change.
    """

    __tablename__ = "content_deletions"
    __table_args__ = (
        ForeignKeyConstraint(
            ["organization_id", "content_id"],
            ["contents.organization_id", "contents.id"],
            ondelete="CASCADE",
        ),
        Index(None, "organization_id", "content_id", "deleted_at"),
    )

    id: Mapped[UUID] = mapped_column(primary_key=True, server_default=func.gen_random_uuid())
    content_id: Mapped[UUID]
    deleted_at: Mapped[datetime]
    deleted_by: Mapped[UUID | None]
    restored_at: Mapped[datetime | None]
    restored_by: Mapped[UUID | None]
