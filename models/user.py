"""Users of an organization and their 1:1 profile."""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any
from uuid import UUID, uuid4

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import CheckConstraint, ForeignKeyConstraint, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from models.base import Audited, Base, SoftDeleted, TenantScoped, Timestamped, str_enum

if TYPE_CHECKING:
    from models.comment import Comment
    from models.content import Content
    from models.rating import Rating

EMAIL_MAX = 254
USERNAME_MAX = 40
FULL_NAME_MAX = 200
USERNAME_PATTERN = r"^[a-z0-9][a-z0-9_.-]{1,39}$"
EXTERNAL_ID_MAX = 255


class Role(StrEnum):
    ADMIN = "ADMIN"
    INSTRUCTOR = "INSTRUCTOR"
    STUDENT = "STUDENT"


class UserStatus(StrEnum):
    ACTIVE = "ACTIVE"
    INVITED = "INVITED"
    SUSPENDED = "SUSPENDED"
    DEACTIVATED = "DEACTIVATED"


def normalize_email(value: str) -> str:
    """Lower-cased and syntax-checked (no DNS lookup: the server must not call out to validate)."""
    try:
        checked = validate_email(value.strip(), check_deliverability=False)
    except EmailNotValidError as error:
        raise ValueError(f"invalid email address: {error}") from None
    if len(checked.normalized) > EMAIL_MAX:
        raise ValueError(f"email address longer than {EMAIL_MAX} characters")
    return checked.normalized.lower()


class User(TenantScoped, Audited, SoftDeleted, Base):
    __tablename__ = "users"
    __table_args__ = (
        UniqueConstraint("organization_id", "email"),
        UniqueConstraint("organization_id", "username"),
        UniqueConstraint("organization_id", "external_id"),
        CheckConstraint("email = lower(email)", name="email_lower_case"),
        CheckConstraint(f"username ~ '{USERNAME_PATTERN}'", name="username_format"),
        CheckConstraint("length(btrim(full_name)) between 1 and 200", name="full_name_length"),
        Index(None, "organization_id", "created_at", "id"),
        Index(None, "organization_id", "full_name", "id"),
    )

    id: Mapped[UUID] = mapped_column(primary_key=True, default=uuid4)
    email: Mapped[str] = mapped_column(String(EMAIL_MAX))
    username: Mapped[str] = mapped_column(String(USERNAME_MAX))
    full_name: Mapped[str] = mapped_column(String(FULL_NAME_MAX))
    role: Mapped[Role] = mapped_column(str_enum(Role))
    status: Mapped[UserStatus] = mapped_column(str_enum(UserStatus), default=UserStatus.ACTIVE)
    last_login_at: Mapped[datetime | None]
    # The subject (`sub`) of this user at the organization's identity provider, by which its
    # tokens find this row (gql_server.identity); None for users who sign in otherwise.
    external_id: Mapped[str | None] = mapped_column(String(EXTERNAL_ID_MAX))

    profile: Mapped[UserProfile | None] = relationship(
        lazy="raise", viewonly=True, back_populates="user"
    )
    contents: Mapped[list[Content]] = relationship(
        lazy="raise", viewonly=True, back_populates="author"
    )
    comments: Mapped[list[Comment]] = relationship(
        lazy="raise", viewonly=True, back_populates="author"
    )
    ratings: Mapped[list[Rating]] = relationship(lazy="raise", viewonly=True, back_populates="user")

    @validates("email")
    def _validate_email(self, _key: str, value: str) -> str:
        return normalize_email(value)

    @validates("username")
    def _validate_username(self, _key: str, value: str) -> str:
        if not re.fullmatch(USERNAME_PATTERN, value):
            raise ValueError(
                "username must be 2-40 characters of a-z, 0-9, '_', '.', '-', starting with a"
                " letter or digit"
            )
        return value

    @validates("full_name")
    def _validate_full_name(self, _key: str, value: str) -> str:
        value = value.strip()
        if not 1 <= len(value) <= FULL_NAME_MAX:
            raise ValueError(f"full name must be 1-{FULL_NAME_MAX} characters")
        return value


class UserProfile(TenantScoped, Timestamped, Base):
    __tablename__ = "user_profiles"
    __table_args__ = (
        ForeignKeyConstraint(
            ["organization_id", "user_id"],
            ["users.organization_id", "users.id"],
            ondelete="CASCADE",
        ),
    )

    user_id: Mapped[UUID] = mapped_column(primary_key=True)
    bio: Mapped[str | None] = mapped_column(Text)
    avatar_url: Mapped[str | None] = mapped_column(String(2048))
    preferences: Mapped[dict[str, Any]] = mapped_column(default=dict, server_default="{}")

    user: Mapped[User] = relationship(lazy="raise", viewonly=True, back_populates="profile")
