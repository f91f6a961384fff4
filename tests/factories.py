"""Small async factories. Each takes a tenant-scoped session (or the sessionmaker for orgs)."""

import itertools
import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import models

_sequence = itertools.count(1)


def unique(prefix: str) -> str:
    return f"{prefix}{next(_sequence)}x{uuid.uuid4().hex[:6]}"


async def make_org(
    sessionmaker: async_sessionmaker[AsyncSession], **fields: Any
) -> models.Organization:
    """A fresh tenant, committed (organizations are created outside any tenant's session)."""
    org = models.Organization(
        slug=fields.pop("slug", unique("org-")), name=fields.pop("name", "Test org"), **fields
    )
    async with sessionmaker() as session, session.begin():
        session.add(org)
    return org


async def make_user(db: AsyncSession, **fields: Any) -> models.User:
    name = unique("user")
    user = models.User(
        email=fields.pop("email", f"{name}@example.com"),
        username=fields.pop("username", name),
        full_name=fields.pop("full_name", name.title()),
        role=fields.pop("role", models.Role.STUDENT),
        **fields,
    )
    db.add(user)
    await db.flush()
    return user


async def make_content(db: AsyncSession, *, author: models.User, **fields: Any) -> models.Content:
    status = fields.pop("status", models.ContentStatus.PUBLISHED)
    content = models.Content(
        author_id=author.id,
        title=fields.pop("title", unique("Content ")),
        body=fields.pop("body", "Some body text about learning."),
        status=status,
        published_at=fields.pop(
            "published_at", None if status is models.ContentStatus.DRAFT else datetime.now(UTC)
        ),
        **fields,
    )
    db.add(content)
    await db.flush()
    return content


async def make_comment(
    db: AsyncSession, *, content: models.Content, author: models.User, **fields: Any
) -> models.Comment:
    comment = models.Comment(
        content_id=content.id, author_id=author.id, body=fields.pop("body", "A comment"), **fields
    )
    db.add(comment)
    await db.flush()
    return comment


async def make_tag(db: AsyncSession, **fields: Any) -> models.Tag:
    tag = models.Tag(name=fields.pop("name", unique("tag")), **fields)
    db.add(tag)
    await db.flush()
    return tag


async def tag_content(db: AsyncSession, content: models.Content, tag: models.Tag) -> None:
    db.add(models.ContentTag(content_id=content.id, tag_id=tag.id))
    await db.flush()


async def make_rating(
    db: AsyncSession, *, content: models.Content, user: models.User, score: int = 4
) -> models.Rating:
    rating = models.Rating(content_id=content.id, user_id=user.id, score=score)
    db.add(rating)
    await db.flush()
    return rating


async def make_attachment(
    db: AsyncSession, *, content: models.Content, **fields: Any
) -> models.Attachment:
    attachment = models.Attachment(
        content_id=content.id,
        filename=fields.pop("filename", "notes.pdf"),
        mime_type=fields.pop("mime_type", "application/pdf"),
        size_bytes=fields.pop("size_bytes", 1024),
        url=fields.pop("url", "https://files.example.com/notes.pdf"),
        **fields,
    )
    db.add(attachment)
    await db.flush()
    return attachment


async def make_profile(db: AsyncSession, *, user: models.User, **fields: Any) -> models.UserProfile:
    profile = models.UserProfile(user_id=user.id, bio=fields.pop("bio", "Hello"), **fields)
    db.add(profile)
    await db.flush()
    return profile


async def add_prerequisite(
    db: AsyncSession, content: models.Content, prerequisite: models.Content
) -> None:
    db.add(models.ContentPrerequisite(content_id=content.id, prerequisite_id=prerequisite.id))
    await db.flush()


async def count_rows(
    sessionmaker: async_sessionmaker[AsyncSession], table: str, organization_id: uuid.UUID
) -> int:
    """Rows of one organization in `table`, counted outside any tenant (as the login role)."""
    async with sessionmaker() as session:
        count = await session.scalar(
            text(f"select count(*) from {table} where organization_id = :org"),
            {"org": organization_id},
        )
    return int(count or 0)
