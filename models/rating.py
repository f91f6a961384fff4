"""Ratings: one score 1..5 per user and content."""

from __future__ import annotations

from typing import TYPE_CHECKING
from uuid import UUID

from sqlalchemy import CheckConstraint, ForeignKeyConstraint, Index, SmallInteger
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Base, TenantScoped, Timestamped

if TYPE_CHECKING:
    from models.content import Content
    from models.user import User


class Rating(TenantScoped, Timestamped, Base):
    __tablename__ = "ratings"
    __table_args__ = (
        ForeignKeyConstraint(
            ["organization_id", "content_id"],
            ["contents.organization_id", "contents.id"],
            ondelete="CASCADE",
        ),
        ForeignKeyConstraint(
            ["organization_id", "user_id"],
            ["users.organization_id", "users.id"],
            ondelete="CASCADE",
        ),
        CheckConstraint("score between 1 and 5", name="score_range"),
        Index(None, "organization_id", "user_id", "created_at", "content_id"),
    )

    content_id: Mapped[UUID] = mapped_column(primary_key=True)
    user_id: Mapped[UUID] = mapped_column(primary_key=True)
    score: Mapped[int] = mapped_column(SmallInteger)

    content: Mapped[Content] = relationship(lazy="raise", viewonly=True, back_populates="ratings")
    user: Mapped[User] = relationship(lazy="raise", viewonly=True, back_populates="ratings")
