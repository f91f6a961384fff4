"""Prerequisite and attachment mutations through the real app: rules, roles, tenants, races."""

import asyncio
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import httpx
import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import models
from gql_server.settings import Settings
from gql_server.tenancy import tenant_session
from models.attachment import MAX_SIZE_BYTES
from schema.node import to_global_id
from tests.api import gql, token_for
from tests.factories import (
    add_prerequisite,
    count_rows,
    make_attachment,
    make_content,
    make_org,
    make_user,
)

Sessionmaker = async_sessionmaker[AsyncSession]

CONTENT = "content { id version prerequisites { id } requiredBy { id } attachments { id } }"
ERRORS = "userErrors { field message code }"


@dataclass
class World:
    org: models.Organization
    admin: models.User
    author: models.User  # an instructor, author of a, b, c
    other: models.User  # another instructor, author of theirs and draft
    student: models.User
    a: models.Content
    b: models.Content
    c: models.Content
    theirs: models.Content  # published: visible to everyone, editable by `other` and admins
    draft: models.Content  # other's draft: invisible to author and student


async def make_world(sessionmaker: Sessionmaker) -> World:
    org = await make_org(sessionmaker)
    async with tenant_session(sessionmaker, org.id) as db:
        admin = await make_user(db, role=models.Role.ADMIN)
        author = await make_user(db, role=models.Role.INSTRUCTOR)
        other = await make_user(db, role=models.Role.INSTRUCTOR)
        student = await make_user(db)
        a, b, c = [await make_content(db, author=author, title=title) for title in "ABC"]
        theirs = await make_content(db, author=other, title="Theirs")
        draft = await make_content(
            db, author=other, title="Secret", status=models.ContentStatus.DRAFT
        )
    return World(org, admin, author, other, student, a, b, c, theirs, draft)


def gid(row: models.Content | models.Attachment) -> str:
    return to_global_id(type(row).__name__, row.id)


class Api:
    def __init__(self, client: httpx.AsyncClient, settings: Settings) -> None:
        self.client, self.settings = client, settings

    async def __call__(
        self, user: models.User, name: str, data: dict[str, Any], selection: str = CONTENT
    ) -> dict[str, Any]:
        kind = name[0].upper() + name[1:]
        query = (
            f"mutation($input: {kind}Input!) {{ {name}(input: $input) {{ {selection} {ERRORS} }} }}"
        )
        token = token_for(self.settings, user)
        response = await gql(self.client, query, {"input": data}, token=token)
        payload: dict[str, Any] = response.data[name]
        return payload


@pytest.fixture
def api(client: httpx.AsyncClient, settings: Settings) -> Api:
    return Api(client, settings)


def errors(payload: dict[str, Any]) -> list[tuple[list[str] | None, str]]:
    return [(error["field"], error["code"]) for error in payload["userErrors"]]


async def edges(sessionmaker: Sessionmaker, org_id: UUID) -> set[tuple[UUID, UUID]]:
    async with sessionmaker() as session:
        rows = await session.execute(
            text(
                "select content_id, prerequisite_id from content_prerequisites"
                " where organization_id = :org"
            ),
            {"org": org_id},
        )
        return {(row.content_id, row.prerequisite_id) for row in rows}


async def versions(sessionmaker: Sessionmaker, org_id: UUID) -> dict[UUID, int]:
    async with sessionmaker() as session:
        rows = await session.execute(
            text("select id, version from contents where organization_id = :org"), {"org": org_id}
        )
        return {row.id: row.version for row in rows}


async def state(sessionmaker: Sessionmaker, org_id: UUID) -> tuple[object, ...]:
    """Everything these mutations may write in one organization."""
    return (
        await edges(sessionmaker, org_id),
        await count_rows(sessionmaker, "attachments", org_id),
        await versions(sessionmaker, org_id),
    )


def pair(content: models.Content, prerequisite: models.Content) -> dict[str, str]:
    return {"contentId": gid(content), "prerequisiteId": gid(prerequisite)}


# Prerequisites


async def test_add_and_remove_a_prerequisite(sessionmaker: Sessionmaker, api: Api) -> None:
    w = await make_world(sessionmaker)
    selection = f"{CONTENT} prerequisite {{ id requiredBy {{ id }} }}"
    added = await api(w.author, "addPrerequisite", pair(w.a, w.theirs), selection)
    assert added["userErrors"] == []
    assert added["content"]["prerequisites"] == [{"id": gid(w.theirs)}]
    assert added["content"]["version"] == 2
    assert added["prerequisite"] == {"id": gid(w.theirs), "requiredBy": [{"id": gid(w.a)}]}

    # Adding it again is not an error and changes nothing.
    again = await api(w.author, "addPrerequisite", pair(w.a, w.theirs))
    assert again["userErrors"] == []
    assert again["content"]["version"] == 2
    assert await edges(sessionmaker, w.org.id) == {(w.a.id, w.theirs.id)}

    removed = await api(w.author, "removePrerequisite", pair(w.a, w.theirs), selection)
    assert removed["userErrors"] == []
    assert removed["content"]["prerequisites"] == []
    assert removed["content"]["version"] == 3
    assert removed["prerequisite"]["requiredBy"] == []
    assert await edges(sessionmaker, w.org.id) == set()

    missing = await api(w.author, "removePrerequisite", pair(w.a, w.theirs))
    assert errors(missing) == [(["input", "prerequisiteId"], "NOT_FOUND")]
    assert missing["content"] is None


async def test_a_content_cannot_require_itself(sessionmaker: Sessionmaker, api: Api) -> None:
    w = await make_world(sessionmaker)
    payload = await api(w.author, "addPrerequisite", pair(w.a, w.a))
    assert errors(payload) == [(["input", "prerequisiteId"], "INVALID")]
    assert "itself" in payload["userErrors"][0]["message"]
    assert await edges(sessionmaker, w.org.id) == set()


async def test_bad_ids_are_all_reported_together(sessionmaker: Sessionmaker, api: Api) -> None:
    w = await make_world(sessionmaker)
    data = {"contentId": "not-an-id", "prerequisiteId": to_global_id("Tag", w.a.id)}
    payload = await api(w.author, "addPrerequisite", data)
    assert errors(payload) == [
        (["input", "contentId"], "INVALID"),
        (["input", "prerequisiteId"], "INVALID"),
    ]


async def test_a_cycle_is_refused_with_its_path(sessionmaker: Sessionmaker, api: Api) -> None:
    w = await make_world(sessionmaker)
    async with tenant_session(sessionmaker, w.org.id) as db:
        await add_prerequisite(db, w.a, w.b)  # A requires B
        await add_prerequisite(db, w.b, w.c)  # B requires C
    before = await state(sessionmaker, w.org.id)

    payload = await api(w.author, "addPrerequisite", pair(w.c, w.a))
    assert errors(payload) == [(["input", "prerequisiteId"], "INVALID")]
    assert payload["userErrors"][0]["message"] == (
        'would create a cycle: "C" -> "A" -> "B" -> "C" (each requires the next)'
    )
    assert await state(sessionmaker, w.org.id) == before


async def test_a_cycle_through_an_invisible_content_hides_its_title(
    sessionmaker: Sessionmaker, api: Api
) -> None:
    w = await make_world(sessionmaker)
    async with tenant_session(sessionmaker, w.org.id) as db:
        await add_prerequisite(db, w.a, w.draft)  # A requires another author's draft
        await add_prerequisite(db, w.draft, w.b)  # which requires B

    payload = await api(w.author, "addPrerequisite", pair(w.b, w.a))
    message = payload["userErrors"][0]["message"]
    assert message == (
        'would create a cycle: "B" -> "A" -> (a content you cannot see) -> "B"'
        " (each requires the next)"
    )
    assert "Secret" not in message


async def test_invisible_and_deleted_prerequisites_are_not_found(
    sessionmaker: Sessionmaker, api: Api
) -> None:
    w = await make_world(sessionmaker)
    async with tenant_session(sessionmaker, w.org.id) as db:
        deleted = await make_content(db, author=w.author, title="Gone")
        deleted.deleted_at = deleted.created_at
    for hidden in (w.draft, deleted):
        payload = await api(w.author, "addPrerequisite", pair(w.a, hidden))
        assert errors(payload) == [(["input", "prerequisiteId"], "NOT_FOUND")]
        assert payload["userErrors"][0]["message"] == "no content with this id"
    assert await edges(sessionmaker, w.org.id) == set()


@pytest.mark.parametrize("mutation", ["addPrerequisite", "removePrerequisite"])
async def test_only_the_author_or_an_admin_edits_prerequisites(
    sessionmaker: Sessionmaker, api: Api, mutation: str
) -> None:
    w = await make_world(sessionmaker)
    if mutation == "removePrerequisite":
        async with tenant_session(sessionmaker, w.org.id) as db:
            await add_prerequisite(db, w.a, w.b)
    before = await state(sessionmaker, w.org.id)
    for denied in (w.student, w.other):
        payload = await api(denied, mutation, pair(w.a, w.b))
        assert errors(payload) == [(None, "FORBIDDEN")]
        assert payload["content"] is None
    assert await state(sessionmaker, w.org.id) == before

    allowed = await api(w.admin, mutation, pair(w.a, w.b))
    assert allowed["userErrors"] == []
    assert allowed["content"]["version"] == 2


async def test_another_tenants_contents_are_not_found(sessionmaker: Sessionmaker, api: Api) -> None:
    w, elsewhere = await make_world(sessionmaker), await make_world(sessionmaker)
    before = (await state(sessionmaker, w.org.id), await state(sessionmaker, elsewhere.org.id))
    cases = [
        (pair(elsewhere.a, w.b), "contentId"),
        (pair(w.a, elsewhere.b), "prerequisiteId"),
    ]
    for mutation in ("addPrerequisite", "removePrerequisite"):
        for data, field in cases:
            payload = await api(w.admin, mutation, data)
            assert errors(payload) == [(["input", field], "NOT_FOUND")]
    after = (await state(sessionmaker, w.org.id), await state(sessionmaker, elsewhere.org.id))
    assert after == before


def has_cycle(graph: set[tuple[UUID, UUID]]) -> bool:
    following: dict[UUID, list[UUID]] = {}
    for source, target in graph:
        following.setdefault(source, []).append(target)
    done: set[UUID] = set()

    def reaches_itself(node: UUID, path: set[UUID]) -> bool:
        if node in path:
            return True
        if node in done:
            return False
        found = any(reaches_itself(step, path | {node}) for step in following.get(node, ()))
        done.add(node)
        return found

    return any(reaches_itself(node, set()) for node in list(following))


@pytest.mark.racing
async def test_concurrent_additions_never_close_a_cycle(
    sessionmaker: Sessionmaker, api: Api
) -> None:
    org = await make_org(sessionmaker)
    async with tenant_session(sessionmaker, org.id) as db:
        author = await make_user(db, role=models.Role.INSTRUCTOR)
        contents = [await make_content(db, author=author) for _ in range(25)]
    pairs = [(contents[i], contents[i + 1]) for i in range(0, 20, 2)]
    ring = contents[20:]
    calls = [
        *(pair(x, y) for x, y in pairs),
        *(pair(y, x) for x, y in pairs),
        # A ring of five: each call alone is fine, all five together would be a cycle.
        *(pair(ring[i], ring[(i + 1) % 5]) for i in range(5)),
    ]
    payloads = await asyncio.gather(*(api(author, "addPrerequisite", data) for data in calls))

    graph = await edges(sessionmaker, org.id)
    assert not has_cycle(graph)
    refused = [payload for payload in payloads if payload["userErrors"]]
    assert all(errors(payload) == [(["input", "prerequisiteId"], "INVALID")] for payload in refused)
    assert len(refused) == len(pairs) + 1  # one of each pair, and the ring's last
    assert len(graph) == len(calls) - len(refused)
    for x, y in pairs:
        assert ((x.id, y.id) in graph) != ((y.id, x.id) in graph)


# Attachments

ATTACHMENT = "attachment { id filename mimeType sizeBytes url content { id } }"


def attachment_input(content: models.Content, **fields: Any) -> dict[str, Any]:
    return {
        "contentId": gid(content),
        "filename": "slides.pdf",
        "mimeType": "application/pdf",
        "sizeBytes": 2048,
        "url": "https://files.example.com/slides.pdf",
        **fields,
    }


async def test_add_and_remove_an_attachment(sessionmaker: Sessionmaker, api: Api) -> None:
    w = await make_world(sessionmaker)
    data = attachment_input(w.a, mimeType="Image/SVG+xml", filename=" diagram.svg ")
    added = await api(w.author, "addAttachment", data, f"{ATTACHMENT} {CONTENT}")
    assert added["userErrors"] == []
    attachment = added["attachment"]
    assert attachment["filename"] == "diagram.svg"
    assert attachment["mimeType"] == "image/svg+xml"
    assert attachment["sizeBytes"] == 2048
    assert attachment["content"] == {"id": gid(w.a)}
    assert added["content"]["attachments"] == [{"id": attachment["id"]}]
    assert added["content"]["version"] == 2

    selection = f"removedAttachmentId {CONTENT}"
    removed = await api(w.author, "removeAttachment", {"id": attachment["id"]}, selection)
    assert removed["userErrors"] == []
    assert removed["removedAttachmentId"] == attachment["id"]
    assert removed["content"]["attachments"] == []
    assert removed["content"]["version"] == 3
    assert await count_rows(sessionmaker, "attachments", w.org.id) == 0

    again = await api(w.author, "removeAttachment", {"id": attachment["id"]}, selection)
    assert errors(again) == [(["input", "id"], "NOT_FOUND")]


async def test_the_largest_allowed_attachment(sessionmaker: Sessionmaker, api: Api) -> None:
    w = await make_world(sessionmaker)
    data = attachment_input(w.a, sizeBytes=MAX_SIZE_BYTES, mimeType="video/mp4")
    payload = await api(w.author, "addAttachment", data, ATTACHMENT)
    assert payload["userErrors"] == []
    assert payload["attachment"]["sizeBytes"] == MAX_SIZE_BYTES


async def test_every_bad_attachment_field_is_reported_together(
    sessionmaker: Sessionmaker, api: Api
) -> None:
    w = await make_world(sessionmaker)
    data = {
        "contentId": "nope",
        "filename": "../etc/passwd",
        "mimeType": "application/x-msdownload",
        "sizeBytes": 0,
        "url": "ftp://files.example.com/x",
    }
    payload = await api(w.author, "addAttachment", data, ATTACHMENT)
    assert errors(payload) == [
        (["input", "contentId"], "INVALID"),
        (["input", "filename"], "INVALID"),
        (["input", "mimeType"], "INVALID"),
        (["input", "sizeBytes"], "INVALID"),
        (["input", "url"], "INVALID"),
    ]
    assert payload["attachment"] is None
    assert await count_rows(sessionmaker, "attachments", w.org.id) == 0


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("filename", ""),
        ("filename", "   "),
        ("filename", "x" * 256),
        ("filename", "a\\b.pdf"),
        ("filename", "a\x00b.pdf"),
        ("filename", ".."),
        ("mimeType", "pdf"),
        ("mimeType", "application/pdf; charset=x"),
        ("mimeType", "application/octet-stream"),
        ("sizeBytes", -1),
        ("sizeBytes", MAX_SIZE_BYTES + 1),
        ("url", "https://"),
        ("url", "javascript:alert(1)"),
        ("url", "https://files.example.com/" + "x" * 2048),
        ("url", "https://files.example.com/a b"),
        ("url", "http://[::1/x"),
    ],
)
async def test_a_bad_attachment_field_is_invalid(
    sessionmaker: Sessionmaker, api: Api, field: str, value: object
) -> None:
    w = await make_world(sessionmaker)
    payload = await api(w.author, "addAttachment", attachment_input(w.a, **{field: value}))
    assert errors(payload) == [(["input", field], "INVALID")]


async def test_only_the_author_or_an_admin_attaches(sessionmaker: Sessionmaker, api: Api) -> None:
    w = await make_world(sessionmaker)
    async with tenant_session(sessionmaker, w.org.id) as db:
        existing = await make_attachment(db, content=w.a)
    before = await state(sessionmaker, w.org.id)
    for denied in (w.student, w.other):
        added = await api(denied, "addAttachment", attachment_input(w.a))
        assert errors(added) == [(None, "FORBIDDEN")]
        removed = await api(denied, "removeAttachment", {"id": gid(existing)})
        assert errors(removed) == [(None, "FORBIDDEN")]
    assert await state(sessionmaker, w.org.id) == before

    added = await api(w.admin, "addAttachment", attachment_input(w.a))
    removed = await api(w.admin, "removeAttachment", {"id": gid(existing)})
    assert added["userErrors"] == removed["userErrors"] == []
    assert removed["content"]["version"] == 3


async def test_attachments_of_invisible_contents_are_not_found(
    sessionmaker: Sessionmaker, api: Api
) -> None:
    w = await make_world(sessionmaker)
    async with tenant_session(sessionmaker, w.org.id) as db:
        hidden = await make_attachment(db, content=w.draft)
    payload = await api(w.author, "removeAttachment", {"id": gid(hidden)})
    assert errors(payload) == [(["input", "id"], "NOT_FOUND")]
    payload = await api(w.author, "addAttachment", attachment_input(w.draft))
    assert errors(payload) == [(["input", "contentId"], "NOT_FOUND")]
    assert await count_rows(sessionmaker, "attachments", w.org.id) == 1


async def test_another_tenants_attachments_are_not_found(
    sessionmaker: Sessionmaker, api: Api
) -> None:
    w, elsewhere = await make_world(sessionmaker), await make_world(sessionmaker)
    async with tenant_session(sessionmaker, elsewhere.org.id) as db:
        theirs = await make_attachment(db, content=elsewhere.a)
    before = (await state(sessionmaker, w.org.id), await state(sessionmaker, elsewhere.org.id))
    added = await api(w.admin, "addAttachment", attachment_input(elsewhere.a))
    assert errors(added) == [(["input", "contentId"], "NOT_FOUND")]
    removed = await api(w.admin, "removeAttachment", {"id": gid(theirs)})
    assert errors(removed) == [(["input", "id"], "NOT_FOUND")]
    after = (await state(sessionmaker, w.org.id), await state(sessionmaker, elsewhere.org.id))
    assert after == before
    async with tenant_session(sessionmaker, elsewhere.org.id) as db:
        assert await db.scalar(select(models.Attachment.id)) == theirs.id
