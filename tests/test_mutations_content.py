"""Content mutations: validation, versions, audit fields, life cycle, soft delete, restore."""

from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import models
from gql_server.settings import Settings
from gql_server.tenancy import INCLUDE_DELETED, tenant_session
from schema.node import from_global_id, to_global_id
from tests.api import gql, token_for
from tests.factories import make_content, make_org, make_user

Sessionmaker = async_sessionmaker[AsyncSession]

CREATE = """mutation ($input: CreateContentInput!) { createContent(input: $input) {
  content { id title summary status difficulty version author { username } }
  userErrors { field message code } } }"""
UPDATE = """mutation ($input: UpdateContentInput!) { updateContent(input: $input) {
  content { title version updatedAt } userErrors { field message code } } }"""
STATUS = """mutation ($id: ID!) {
  publish: publishContent(input: {id: $id}) { content { status version publishedAt } }
  archive: archiveContent(input: {id: $id}) { content { status version }
    userErrors { field message code } } }"""


async def _teacher(sessionmaker: Sessionmaker) -> models.User:
    org = await make_org(sessionmaker)
    async with tenant_session(sessionmaker, org.id) as db:
        return await make_user(db, role=models.Role.INSTRUCTOR)


async def _stored(sessionmaker: Sessionmaker, user: models.User, pk: Any) -> models.Content:
    async with tenant_session(sessionmaker, user.organization_id, read_only=True) as db:
        statement = select(models.Content).where(models.Content.id == pk)
        options = {INCLUDE_DELETED: True}
        return (await db.execute(statement, execution_options=options)).scalar_one()


async def test_create_content_starts_as_a_draft_by_the_viewer(
    sessionmaker: Sessionmaker, client: httpx.AsyncClient, settings: Settings
) -> None:
    teacher = await _teacher(sessionmaker)
    data = {"title": "  Graphs  ", "body": "Vertices and edges.", "difficulty": "ADVANCED"}
    response = await gql(client, CREATE, {"input": data}, token=token_for(settings, teacher))
    payload = response.data["createContent"]
    assert payload["userErrors"] == []
    content = payload["content"]
    assert (content["title"], content["status"], content["version"]) == ("Graphs", "DRAFT", 1)
    assert content["difficulty"] == "ADVANCED"
    assert content["author"]["username"] == teacher.username
    row = await _stored(sessionmaker, teacher, _pk(content["id"]))
    assert (row.created_by, row.updated_by) == (teacher.id, teacher.id)


async def test_every_problem_of_one_input_is_reported_and_nothing_is_written(
    sessionmaker: Sessionmaker, client: httpx.AsyncClient, settings: Settings
) -> None:
    teacher = await _teacher(sessionmaker)
    data = {"title": " ", "body": "", "summary": "x" * 501}
    response = await gql(client, CREATE, {"input": data}, token=token_for(settings, teacher))
    payload = response.data["createContent"]
    assert payload["content"] is None
    assert {(tuple(e["field"]), e["code"]) for e in payload["userErrors"]} == {
        (("input", "title"), "INVALID"),
        (("input", "body"), "INVALID"),
        (("input", "summary"), "INVALID"),
    }
    async with tenant_session(sessionmaker, teacher.organization_id, read_only=True) as db:
        assert (await db.scalars(select(models.Content))).all() == []


async def test_update_checks_the_version_bumps_it_and_moves_updated_at(
    sessionmaker: Sessionmaker, client: httpx.AsyncClient, settings: Settings
) -> None:
    teacher = await _teacher(sessionmaker)
    async with tenant_session(sessionmaker, teacher.organization_id) as db:
        content = await make_content(db, author=teacher, title="Before")
    token = token_for(settings, teacher)
    before = await _stored(sessionmaker, teacher, content.id)
    global_id = to_global_id("Content", content.id)

    stale = {"id": global_id, "expectedVersion": 7, "title": "Never"}
    refused = (await gql(client, UPDATE, {"input": stale}, token=token)).data["updateContent"]
    assert [e["code"] for e in refused["userErrors"]] == ["VERSION_MISMATCH"]

    fresh = {"id": global_id, "expectedVersion": 1, "title": "After"}
    updated = (await gql(client, UPDATE, {"input": fresh}, token=token)).data["updateContent"]
    assert updated["userErrors"] == []
    assert (updated["content"]["title"], updated["content"]["version"]) == ("After", 2)
    after = await _stored(sessionmaker, teacher, content.id)
    assert after.updated_at > before.updated_at
    assert after.body == before.body  # fields left out stay as they were


async def test_null_for_a_required_field_is_refused(
    sessionmaker: Sessionmaker, client: httpx.AsyncClient, settings: Settings
) -> None:
    teacher = await _teacher(sessionmaker)
    async with tenant_session(sessionmaker, teacher.organization_id) as db:
        content = await make_content(db, author=teacher)
    data = {"id": to_global_id("Content", content.id), "expectedVersion": 1, "title": None}
    response = await gql(client, UPDATE, {"input": data}, token=token_for(settings, teacher))
    errors = response.data["updateContent"]["userErrors"]
    assert [(e["field"], e["code"]) for e in errors] == [(["input", "title"], "INVALID")]


async def test_publish_then_archive_and_a_draft_cannot_be_archived(
    sessionmaker: Sessionmaker, client: httpx.AsyncClient, settings: Settings
) -> None:
    teacher = await _teacher(sessionmaker)
    async with tenant_session(sessionmaker, teacher.organization_id) as db:
        draft = await make_content(db, author=teacher, status=models.ContentStatus.DRAFT)
        other = await make_content(db, author=teacher, status=models.ContentStatus.DRAFT)
    token = token_for(settings, teacher)

    both = await gql(client, STATUS, {"id": to_global_id("Content", draft.id)}, token=token)
    assert both.data["publish"]["content"]["status"] == "PUBLISHED"
    assert both.data["publish"]["content"]["publishedAt"] is not None
    assert both.data["archive"]["content"] == {"status": "ARCHIVED", "version": 3}

    archive_only = STATUS.split("publish:")[0] + "archive:" + STATUS.split("archive:")[1]
    refused = await gql(
        client, archive_only, {"id": to_global_id("Content", other.id)}, token=token
    )
    errors = refused.data["archive"]["userErrors"]
    assert [(e["field"], e["code"]) for e in errors] == [(["input", "id"], "INVALID")]
    assert (await _stored(sessionmaker, teacher, other.id)).status is models.ContentStatus.DRAFT


async def test_delete_hides_the_content_and_restore_brings_it_back(
    sessionmaker: Sessionmaker, client: httpx.AsyncClient, settings: Settings
) -> None:
    teacher = await _teacher(sessionmaker)
    async with tenant_session(sessionmaker, teacher.organization_id) as db:
        content = await make_content(db, author=teacher)
    token = token_for(settings, teacher)
    variables = {"id": to_global_id("Content", content.id)}
    lookup = "query ($id: ID!) { node(id: $id) { id } }"

    deleted = await gql(
        client,
        "mutation ($id: ID!) { deleteContent(input: {id: $id}) { deletedContentId } }",
        variables,
        token=token,
    )
    assert deleted.data["deleteContent"]["deletedContentId"] == variables["id"]
    assert (await gql(client, lookup, variables, token=token)).data["node"] is None
    row = await _stored(sessionmaker, teacher, content.id)
    assert row.deleted_at is not None
    assert row.deleted_by == teacher.id

    restored = await gql(
        client,
        "mutation ($id: ID!) { restoreContent(input: {id: $id}) { content { id } } }",
        variables,
        token=token,
    )
    assert restored.data["restoreContent"]["content"]["id"] == variables["id"]
    assert (await gql(client, lookup, variables, token=token)).data["node"] == variables


def _pk(global_id: str) -> Any:
    return from_global_id(global_id)[1]
