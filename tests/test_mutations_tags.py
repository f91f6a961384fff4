"""Tag mutations through the real app: names in any case, all-or-nothing tagging, roles, tenants."""

import asyncio
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import models
from gql_server.settings import Settings
from gql_server.tenancy import tenant_session
from schema.node import to_global_id
from tests.api import gql, token_for
from tests.factories import make_content, make_org, make_tag, make_user, tag_content

Sessionmaker = async_sessionmaker[AsyncSession]
Rows = set[tuple[Any, ...]]

TAG = "tag { id name }"
CONTENT = "content { id version tags { id name } }"
ERRORS = "userErrors { field message code }"


@dataclass
class World:
    org: models.Organization
    admin: models.User
    author: models.User  # an instructor, author of `a` and `b`
    other: models.User  # another instructor
    student: models.User
    a: models.Content
    b: models.Content
    python: models.Tag
    sql: models.Tag


async def make_world(sessionmaker: Sessionmaker) -> World:
    org = await make_org(sessionmaker)
    async with tenant_session(sessionmaker, org.id) as db:
        admin = await make_user(db, role=models.Role.ADMIN)
        author = await make_user(db, role=models.Role.INSTRUCTOR)
        other = await make_user(db, role=models.Role.INSTRUCTOR)
        student = await make_user(db)
        a = await make_content(db, author=author, title="A")
        b = await make_content(db, author=author, title="B")
        python = await make_tag(db, name="Python")
        sql = await make_tag(db, name="SQL")
    return World(org, admin, author, other, student, a, b, python, sql)


def gid(row: models.Content | models.Tag) -> str:
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


def names(payload: dict[str, Any]) -> list[str]:
    return sorted(tag["name"] for tag in payload["content"]["tags"])


async def state(sessionmaker: Sessionmaker, org_id: UUID) -> tuple[Rows, Rows, Rows]:
    """Everything these mutations may write in one organization: tags, links, versions."""
    async with sessionmaker() as session:
        tags = await session.execute(
            text("select id, name from tags where organization_id = :org"), {"org": org_id}
        )
        links = await session.execute(
            text("select content_id, tag_id from content_tags where organization_id = :org"),
            {"org": org_id},
        )
        versions = await session.execute(
            text("select id, version from contents where organization_id = :org"), {"org": org_id}
        )
        return (
            {tuple(row) for row in tags},
            {tuple(row) for row in links},
            {tuple(row) for row in versions},
        )


# createTag, renameTag, deleteTag


async def test_instructors_create_tags(sessionmaker: Sessionmaker, api: Api) -> None:
    w = await make_world(sessionmaker)
    payload = await api(w.author, "createTag", {"name": "  Databases "}, TAG)
    assert payload["userErrors"] == []
    assert payload["tag"]["name"] == "Databases"

    for name in ("databases", "DATABASES", "python"):
        duplicate = await api(w.admin, "createTag", {"name": name}, TAG)
        assert errors(duplicate) == [(["input", "name"], "CONFLICT")]
        assert duplicate["tag"] is None


@pytest.mark.parametrize("name", ["", "   ", "x" * 51])
async def test_a_tag_name_must_be_1_to_50_characters(
    sessionmaker: Sessionmaker, api: Api, name: str
) -> None:
    w = await make_world(sessionmaker)
    before = await state(sessionmaker, w.org.id)
    created = await api(w.author, "createTag", {"name": name}, TAG)
    renamed = await api(w.admin, "renameTag", {"id": gid(w.python), "name": name}, TAG)
    assert errors(created) == errors(renamed) == [(["input", "name"], "INVALID")]
    assert await state(sessionmaker, w.org.id) == before


async def test_admins_rename_tags(sessionmaker: Sessionmaker, api: Api) -> None:
    w = await make_world(sessionmaker)
    recased = await api(w.admin, "renameTag", {"id": gid(w.python), "name": "PYTHON"}, TAG)
    assert recased["userErrors"] == []
    assert recased["tag"] == {"id": gid(w.python), "name": "PYTHON"}

    taken = await api(w.admin, "renameTag", {"id": gid(w.python), "name": "sql"}, TAG)
    assert errors(taken) == [(["input", "name"], "CONFLICT")]

    bad = await api(w.admin, "renameTag", {"id": gid(w.a), "name": "x"}, TAG)
    assert errors(bad) == [(["input", "id"], "INVALID")]
    unknown = await api(w.admin, "renameTag", {"id": to_global_id("Tag", w.a.id), "name": "x"}, TAG)
    assert errors(unknown) == [(["input", "id"], "NOT_FOUND")]


async def test_deleting_a_tag_takes_it_off_its_contents(
    sessionmaker: Sessionmaker, api: Api
) -> None:
    w = await make_world(sessionmaker)
    async with tenant_session(sessionmaker, w.org.id) as db:
        await tag_content(db, w.a, w.python)
        await tag_content(db, w.a, w.sql)
    payload = await api(w.admin, "deleteTag", {"id": gid(w.python)}, "deletedTagId")
    assert payload == {"deletedTagId": gid(w.python), "userErrors": []}

    tags, links, versions = await state(sessionmaker, w.org.id)
    assert tags == {(w.sql.id, "SQL")}
    assert links == {(w.a.id, w.sql.id)}
    assert versions == {(w.a.id, 2), (w.b.id, 1)}  # the content that lost a tag changed

    again = await api(w.admin, "deleteTag", {"id": gid(w.python)}, "deletedTagId")
    assert errors(again) == [(["input", "id"], "NOT_FOUND")]


async def test_who_may_create_rename_and_delete_tags(sessionmaker: Sessionmaker, api: Api) -> None:
    w = await make_world(sessionmaker)
    before = await state(sessionmaker, w.org.id)
    created = await api(w.student, "createTag", {"name": "Mine"}, TAG)
    assert errors(created) == [(None, "FORBIDDEN")]
    for user in (w.student, w.author):
        renamed = await api(user, "renameTag", {"id": gid(w.python), "name": "Py"}, TAG)
        deleted = await api(user, "deleteTag", {"id": gid(w.python)}, "deletedTagId")
        assert errors(renamed) == errors(deleted) == [(None, "FORBIDDEN")]
    assert await state(sessionmaker, w.org.id) == before


# tagContent, untagContent


async def test_tag_a_content_by_ids_and_names(sessionmaker: Sessionmaker, api: Api) -> None:
    w = await make_world(sessionmaker)
    data = {
        "contentId": gid(w.a),
        "tagIds": [gid(w.python), gid(w.python)],
        "tagNames": ["sql", "Graph Theory", " graph theory ", "PYTHON"],
    }
    payload = await api(w.author, "tagContent", data)
    assert payload["userErrors"] == []
    assert names(payload) == ["Graph Theory", "Python", "SQL"]
    assert payload["content"]["version"] == 2  # one change, however many tags

    after_first = await state(sessionmaker, w.org.id)
    tags, links, _ = after_first
    assert len(tags) == 3  # "Graph Theory" is new; the others were matched in any case
    assert len(links) == 3

    again = await api(w.author, "tagContent", data)
    assert again["userErrors"] == []
    assert again["content"]["version"] == 2  # nothing new: no change
    assert await state(sessionmaker, w.org.id) == after_first


async def test_a_contents_tags_read_in_name_order(sessionmaker: Sessionmaker, api: Api) -> None:
    w = await make_world(sessionmaker)
    data = {"contentId": gid(w.a), "tagNames": ["Zoology", "sql", "algebra", "Python"]}
    payload = await api(w.author, "tagContent", data)
    in_answer = [tag["name"] for tag in payload["content"]["tags"]]
    assert in_answer == ["algebra", "Python", "SQL", "Zoology"]


async def test_untag_a_content(sessionmaker: Sessionmaker, api: Api) -> None:
    w = await make_world(sessionmaker)
    async with tenant_session(sessionmaker, w.org.id) as db:
        await tag_content(db, w.a, w.python)
        await tag_content(db, w.a, w.sql)
    data = {"contentId": gid(w.a), "tagIds": [gid(w.python)], "tagNames": ["sql"]}
    payload = await api(w.author, "untagContent", data)
    assert payload["userErrors"] == []
    assert payload["content"] == {"id": gid(w.a), "version": 2, "tags": []}

    # Tags the content does not have are not an error, and change nothing.
    again = await api(w.author, "untagContent", data)
    assert again["userErrors"] == []
    assert again["content"]["version"] == 2

    unknown = await api(w.author, "untagContent", {"contentId": gid(w.a), "tagNames": ["nope"]})
    assert errors(unknown) == [(["input", "tagNames", "0"], "NOT_FOUND")]


async def test_every_bad_tag_reference_is_reported_together(
    sessionmaker: Sessionmaker, api: Api
) -> None:
    w = await make_world(sessionmaker)
    data = {
        "contentId": gid(w.python),
        "tagIds": [gid(w.python), "junk", gid(w.a)],
        "tagNames": ["fine", "", "x" * 51],
    }
    for mutation in ("tagContent", "untagContent"):
        payload = await api(w.author, mutation, data)
        assert errors(payload) == [
            (["input", "contentId"], "INVALID"),
            (["input", "tagIds", "1"], "INVALID"),
            (["input", "tagIds", "2"], "INVALID"),
            (["input", "tagNames", "1"], "INVALID"),
            (["input", "tagNames", "2"], "INVALID"),
        ]
    too_many = {"contentId": gid(w.a), "tagNames": [f"t{i}" for i in range(51)]}
    payload = await api(w.author, "tagContent", too_many)
    assert errors(payload) == [(["input", "tagNames"], "INVALID")]


async def test_tagging_is_all_or_nothing(sessionmaker: Sessionmaker, api: Api) -> None:
    w = await make_world(sessionmaker)
    before = await state(sessionmaker, w.org.id)
    missing = to_global_id("Tag", w.a.id)  # well-formed, but no tag has it
    data = {
        "contentId": gid(w.a),
        "tagIds": [gid(w.python), missing, gid(w.sql), missing],
        "tagNames": ["Brand New"],
    }
    payload = await api(w.author, "tagContent", data)
    assert errors(payload) == [
        (["input", "tagIds", "1"], "NOT_FOUND"),
        (["input", "tagIds", "3"], "NOT_FOUND"),
    ]
    assert payload["content"] is None
    assert await state(sessionmaker, w.org.id) == before  # no links, no new tag, same version


@pytest.mark.racing
async def test_concurrent_taggings_with_one_new_name_share_one_tag(
    sessionmaker: Sessionmaker, api: Api
) -> None:
    org = await make_org(sessionmaker)
    async with tenant_session(sessionmaker, org.id) as db:
        author = await make_user(db, role=models.Role.INSTRUCTOR)
        contents = [await make_content(db, author=author) for _ in range(8)]
    spellings = ["Async IO", "async io", "ASYNC IO", "Async io"]
    payloads = await asyncio.gather(
        *(
            api(author, "tagContent", {"contentId": gid(c), "tagNames": [spellings[i % 4]]})
            for i, c in enumerate(contents)
        )
    )
    assert all(payload["userErrors"] == [] for payload in payloads)
    tags, links, _ = await state(sessionmaker, org.id)
    assert len(tags) == 1
    ((tag_id, _name),) = tags
    assert links == {(c.id, tag_id) for c in contents}


@pytest.mark.parametrize("mutation", ["tagContent", "untagContent"])
async def test_only_the_author_or_an_admin_tags_a_content(
    sessionmaker: Sessionmaker, api: Api, mutation: str
) -> None:
    w = await make_world(sessionmaker)
    async with tenant_session(sessionmaker, w.org.id) as db:
        await tag_content(db, w.a, w.sql)
    data = {"contentId": gid(w.a), "tagIds": [gid(w.python), gid(w.sql)], "tagNames": ["New"]}
    if mutation == "untagContent":
        data["tagNames"] = []
    before = await state(sessionmaker, w.org.id)
    for denied in (w.student, w.other):
        payload = await api(denied, mutation, data)
        assert errors(payload) == [(None, "FORBIDDEN")]
    assert await state(sessionmaker, w.org.id) == before

    allowed = await api(w.admin, mutation, data)
    assert allowed["userErrors"] == []
    assert allowed["content"]["version"] == 2


async def test_another_tenants_tags_and_contents_are_not_found(
    sessionmaker: Sessionmaker, api: Api
) -> None:
    w, elsewhere = await make_world(sessionmaker), await make_world(sessionmaker)
    before = (await state(sessionmaker, w.org.id), await state(sessionmaker, elsewhere.org.id))
    calls: list[tuple[str, dict[str, Any], str, list[str]]] = [
        ("renameTag", {"id": gid(elsewhere.python), "name": "Mine"}, TAG, ["input", "id"]),
        ("deleteTag", {"id": gid(elsewhere.python)}, "deletedTagId", ["input", "id"]),
    ]
    for mutation in ("tagContent", "untagContent"):
        calls += [
            (
                mutation,
                {"contentId": gid(elsewhere.a), "tagIds": [gid(w.python)]},
                CONTENT,
                ["input", "contentId"],
            ),
            (
                mutation,
                {"contentId": gid(w.a), "tagIds": [gid(elsewhere.sql)]},
                CONTENT,
                ["input", "tagIds", "0"],
            ),
        ]
    for mutation, data, selection, field in calls:
        payload = await api(w.admin, mutation, data, selection)
        assert errors(payload) == [(field, "NOT_FOUND")], mutation
    after = (await state(sessionmaker, w.org.id), await state(sessionmaker, elsewhere.org.id))
    assert after == before
