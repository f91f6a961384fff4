"""Tags and the content_tags link table."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING
from uuid import UUID, uuid4

from sqlalchemy import (
    CheckConstraint,
    Computed,
    ForeignKeyConstraint,
    Index,
    String,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from models.base import Base, TenantScoped, Timestamped

if TYPE_CHECKING:
    from models.content import Content

NAME_MAX = 50


class Tag(TenantScoped, Timestamped, Base):
    __tablename__ = "tags"
    __table_args__ = (
        # Case-insensitive uniqueness through a generated key rather than an expression index.
        UniqueConstraint("organization_id", "name_key"),
        CheckConstraint("length(btrim(name)) between 1 and 50", name="name_length"),
    )

    id: Mapped[UUID] = mapped_column(primary_key=True, default=uuid4)
    name: Mapped[str] = mapped_column(String(NAME_MAX))
    name_key: Mapped[str] = mapped_column(String(NAME_MAX), Computed("lower(name)", persisted=True))

    contents: Mapped[list[Content]] = relationship(
        lazy="raise", viewonly=True, secondary="content_tags", back_populates="tags"
    )

    @validates("name")
    def _validate_name(self, _key: str, value: str) -> str:
        value = value.strip()
        if not 1 <= len(value) <= NAME_MAX:
            raise ValueError(f"tag name must be 1-{NAME_MAX} characters")
        return value


class ContentTag(TenantScoped, Base):
    __tablename__ = "content_tags"
    __table_args__ = (
        ForeignKeyConstraint(
            ["organization_id", "content_id"],
            ["contents.organization_id", "contents.id"],
            ondelete="CASCADE",
        ),
        ForeignKeyConstraint(
            ["organization_id", "tag_id"],
            ["tags.organization_id", "tags.id"],
            ondelete="CASCADE",
        ),
        Index(None, "organization_id", "tag_id", "content_id"),
    )

    content_id: Mapped[UUID] = mapped_column(primary_key=True)
    tag_id: Mapped[UUID] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
