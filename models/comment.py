"""Comments on contents, threaded through `parent_id`."""

from __future__ import annotations

from typing import TYPE_CHECKING
from uuid import UUID, uuid4

from sqlalchemy import CheckConstraint, ForeignKeyConstraint, Index, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from models.base import Audited, Base, SoftDeleted, TenantScoped

if TYPE_CHECKING:
    from models.content import Content
    from models.user import User

BODY_MAX = 10_000


class Comment(TenantScoped, Audited, SoftDeleted, Base):
    __tablename__ = "comments"
    __table_args__ = (
        ForeignKeyConstraint(
            ["organization_id", "content_id"],
            ["contents.organization_id", "contents.id"],
            ondelete="CASCADE",
        ),
        ForeignKeyConstraint(
            ["organization_id", "author_id"], ["users.organization_id", "users.id"]
        ),
        # A reply must belong to the same content as its parent: the database checks it.
        ForeignKeyConstraint(
            ["organization_id", "content_id", "parent_id"],
            ["comments.organization_id", "comments.content_id", "comments.id"],
            ondelete="CASCADE",
        ),
        UniqueConstraint("organization_id", "content_id", "id"),
        CheckConstraint("length(btrim(body)) between 1 and 10000", name="body_length"),
        CheckConstraint("parent_id <> id", name="not_own_parent"),
        Index(None, "organization_id", "content_id", "created_at", "id"),
        Index(None, "organization_id", "author_id", "created_at", "id"),
        Index(None, "organization_id", "parent_id", "created_at", "id"),
    )

    id: Mapped[UUID] = mapped_column(primary_key=True, default=uuid4)
    content_id: Mapped[UUID]
    author_id: Mapped[UUID]
    parent_id: Mapped[UUID | None]
    body: Mapped[str] = mapped_column(Text)

    content: Mapped[Content] = relationship(lazy="raise", viewonly=True, back_populates="comments")
    author: Mapped[User] = relationship(lazy="raise", viewonly=True, back_populates="comments")
    parent: Mapped[Comment | None] = relationship(
        lazy="raise",
        viewonly=True,
        primaryjoin="and_(Comment.organization_id == remote(Comment.organization_id),"
        " foreign(Comment.parent_id) == remote(Comment.id))",
        back_populates="replies",
    )
    replies: Mapped[list[Comment]] = relationship(
        lazy="raise",
        viewonly=True,
        primaryjoin="and_(Comment.organization_id == remote(Comment.organization_id),"
        " Comment.id == foreign(remote(Comment.parent_id)))",
        back_populates="parent",
    )

    @validates("body")
    def _validate_body(self, _key: str, value: str) -> str:
        if not value.strip():
            raise ValueError("comment body must not be empty")
        if len(value) > BODY_MAX:
            raise ValueError(f"comment body must be at most {BODY_MAX} characters")
        return value
