"""Files attached to contents (the bytes live elsewhere; the row keeps what clients show)."""

from __future__ import annotations

from typing import TYPE_CHECKING
from uuid import UUID, uuid4

from sqlalchemy import BigInteger, CheckConstraint, ForeignKeyConstraint, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Base, TenantScoped, Timestamped

if TYPE_CHECKING:
    from models.content import Content

FILENAME_MAX = 255
MAX_SIZE_BYTES = 1 << 30


class Attachment(TenantScoped, Timestamped, Base):
    __tablename__ = "attachments"
    __table_args__ = (
        ForeignKeyConstraint(
            ["organization_id", "content_id"],
            ["contents.organization_id", "contents.id"],
            ondelete="CASCADE",
        ),
        CheckConstraint("size_bytes > 0", name="size_positive"),
        CheckConstraint("length(btrim(filename)) between 1 and 255", name="filename_length"),
        CheckConstraint(r"mime_type ~ '^[a-z]+/[a-z0-9.+-]+$'", name="mime_type_format"),
        Index(None, "organization_id", "content_id", "created_at", "id"),
    )

    id: Mapped[UUID] = mapped_column(primary_key=True, default=uuid4)
    content_id: Mapped[UUID]
    filename: Mapped[str] = mapped_column(String(FILENAME_MAX))
    mime_type: Mapped[str] = mapped_column(String(127))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    url: Mapped[str] = mapped_column(String(2048))

    content: Mapped[Content] = relationship(
        lazy="raise", viewonly=True, back_populates="attachments"
    )
