"""Deleting then restoring a content keeps its history: who deleted it and when, who restored it
and when, for every deletion; through the real API, read back from the database."""

from typing import Any

import httpx
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import models
from gql_server.settings import Settings
from gql_server.tenancy import tenant_session
from schema.node import to_global_id
from tests.api import gql, token_for
from tests.factories import make_content, make_org, make_user

Sessionmaker = async_sessionmaker[AsyncSession]

DELETE = """mutation ($id: ID!) { deleteContent(input: {id: $id}) {
  deletedContentId userErrors { code } } }"""
RESTORE = """mutation ($id: ID!) { restoreContent(input: {id: $id}) {
  content { id } userErrors { code } } }"""


async def history(sessionmaker: Sessionmaker, content: models.Content) -> list[Any]:
    async with tenant_session(sessionmaker, content.organization_id, read_only=True) as db:
        rows = await db.execute(
            select(models.ContentDeletion)
            .where(models.ContentDeletion.content_id == content.id)
            .order_by(models.ContentDeletion.deleted_at)
        )
        return list(rows.scalars())


async def stored(sessionmaker: Sessionmaker, content: models.Content) -> models.Content:
    async with sessionmaker() as session:  # the login role: deleted rows too
        row = await session.get(models.Content, (content.organization_id, content.id))
        assert row is not None
        return row


async def test_who_deleted_and_who_restored_are_both_kept_for_every_deletion(
    sessionmaker: Sessionmaker, client: httpx.AsyncClient, settings: Settings
) -> None:
    org = await make_org(sessionmaker)
    async with tenant_session(sessionmaker, org.id) as db:
        author = await make_user(db, role=models.Role.INSTRUCTOR)
        admin = await make_user(db, role=models.Role.ADMIN)
        content = await make_content(db, author=author)
    variables = {"id": to_global_id("Content", content.id)}

    for deleter, restorer in ((admin, author), (author, admin)):
        deleted = await gql(client, DELETE, variables, token=token_for(settings, deleter))
        assert deleted.data["deleteContent"]["deletedContentId"] == variables["id"]
        restored = await gql(client, RESTORE, variables, token=token_for(settings, restorer))
        assert restored.data["restoreContent"] == {"content": variables, "userErrors": []}

    first, second = await history(sessionmaker, content)
    assert (first.deleted_by, first.restored_by) == (admin.id, author.id)
    assert (second.deleted_by, second.restored_by) == (author.id, admin.id)
    assert first.deleted_at < first.restored_at < second.deleted_at < second.restored_at  # type: ignore[operator]
    now = await stored(sessionmaker, content)
    assert (now.deleted_at, now.deleted_by) == (None, None)  # the content: visible again
    assert now.updated_at == second.restored_at


async def test_a_deletion_not_yet_restored_is_open(
    sessionmaker: Sessionmaker, client: httpx.AsyncClient, settings: Settings
) -> None:
    org = await make_org(sessionmaker)
    async with tenant_session(sessionmaker, org.id) as db:
        author = await make_user(db, role=models.Role.INSTRUCTOR)
        content = await make_content(db, author=author)

    await gql(
        client,
        DELETE,
        {"id": to_global_id("Content", content.id)},
        token=token_for(settings, author),
    )

    (deletion,) = await history(sessionmaker, content)
    assert deletion.deleted_by == author.id
    assert deletion.deleted_at == (await stored(sessionmaker, content)).deleted_at
    assert (deletion.restored_at, deletion.restored_by) == (None, None)


async def test_restoring_what_is_not_deleted_and_a_refused_delete_leave_no_trace(
    sessionmaker: Sessionmaker, client: httpx.AsyncClient, settings: Settings
) -> None:
    org = await make_org(sessionmaker)
    async with tenant_session(sessionmaker, org.id) as db:
        author = await make_user(db, role=models.Role.INSTRUCTOR)
        student = await make_user(db, role=models.Role.STUDENT)
        content = await make_content(db, author=author)
    variables = {"id": to_global_id("Content", content.id)}

    restored = await gql(client, RESTORE, variables, token=token_for(settings, author))
    refused = await gql(client, DELETE, variables, token=token_for(settings, student))

    assert restored.data["restoreContent"]["userErrors"] == []
    assert refused.data["deleteContent"]["userErrors"] == [{"code": "FORBIDDEN"}]
    assert await history(sessionmaker, content) == []
    assert (await stored(sessionmaker, content)).deleted_at is None


async def test_the_history_is_written_whoever_changes_deleted_at(
    sessionmaker: Sessionmaker,
) -> None:
    """Not only the mutations: a statement that deletes and restores records the same."""
    org = await make_org(sessionmaker)
    async with tenant_session(sessionmaker, org.id) as db:
        author = await make_user(db, role=models.Role.INSTRUCTOR)
        content = await make_content(db, author=author)
    for change in (
        "update contents set deleted_at = now(), deleted_by = :user where id = :id",
        "update contents set deleted_at = null, updated_by = :user where id = :id",
    ):
        async with tenant_session(sessionmaker, org.id) as db:
            await db.execute(text(change), {"user": author.id, "id": content.id})

    (deletion,) = await history(sessionmaker, content)
    assert (deletion.deleted_by, deletion.restored_by) == (author.id, author.id)
    assert deletion.restored_at is not None
