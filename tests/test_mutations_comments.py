"""Comment mutations through the real app: threads, tombstones, permissions, tenants."""

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
from models.comment import BODY_MAX
from schema.node import from_global_id, to_global_id
from tests.api import gql, token_for
from tests.factories import count_rows, make_comment, make_content, make_org, make_user

Sessionmaker = async_sessionmaker[AsyncSession]

COMMENT = "comment { id body deleted author { username } parent { id } content { id } }"
ERRORS = "userErrors { field message code }"
THREAD = """
query ($id: ID!) { node(id: $id) { ... on Content { commentCount
  comments(first: 10) { totalCount nodes { id body deleted author { username }
    replies(first: 10) { totalCount nodes { id body deleted parent { id deleted }
      replies(first: 10) { totalCount nodes { id body deleted } } } } } } } } }
"""


@dataclass
class World:
    org: models.Organization
    admin: models.User
    author: models.User  # instructor, author of `published` and `draft`
    student: models.User
    other_student: models.User
    published: models.Content
    draft: models.Content
    other: models.Content  # another published content


async def make_world(sessionmaker: Sessionmaker) -> World:
    org = await make_org(sessionmaker)
    async with tenant_session(sessionmaker, org.id) as db:
        admin = await make_user(db, role=models.Role.ADMIN)
        author = await make_user(db, role=models.Role.INSTRUCTOR)
        student = await make_user(db)
        other_student = await make_user(db)
        published = await make_content(db, author=author)
        draft = await make_content(db, author=author, status=models.ContentStatus.DRAFT)
        other = await make_content(db, author=author)
    return World(org, admin, author, student, other_student, published, draft, other)


def gid(row: models.Content | models.Comment | models.User) -> str:
    return to_global_id(type(row).__name__, row.id)


class Api:
    def __init__(self, client: httpx.AsyncClient, settings: Settings) -> None:
        self.client, self.settings = client, settings

    async def __call__(
        self, user: models.User, name: str, data: dict[str, Any], selection: str = COMMENT
    ) -> dict[str, Any]:
        kind = name[0].upper() + name[1:]
        query = (
            f"mutation($input: {kind}Input!) {{ {name}(input: $input) {{ {selection} {ERRORS} }} }}"
        )
        response = await gql(
            self.client, query, {"input": data}, token=token_for(self.settings, user)
        )
        payload: dict[str, Any] = response.data[name]
        return payload

    async def query(self, user: models.User, query: str, **variables: Any) -> Any:
        response = await gql(self.client, query, variables, token=token_for(self.settings, user))
        return response.data


@pytest.fixture
def api(client: httpx.AsyncClient, settings: Settings) -> Api:
    return Api(client, settings)


def errors(payload: dict[str, Any]) -> list[tuple[list[str] | None, str]]:
    return [(error["field"], error["code"]) for error in payload["userErrors"]]


async def comment_row(sessionmaker: Sessionmaker, comment_id: UUID) -> Any:
    async with sessionmaker() as session:
        result = await session.execute(
            text("select * from comments where id = :id"), {"id": comment_id}
        )
        return result.one()


def pk(global_id: str) -> UUID:
    return from_global_id(global_id)[1]


async def test_add_comment_and_reply(sessionmaker: Sessionmaker, api: Api) -> None:
    w = await make_world(sessionmaker)
    first = await api(w.student, "addComment", {"contentId": gid(w.published), "body": "Why?"})
    assert first["userErrors"] == []
    comment = first["comment"]
    assert comment["body"] == "Why?"
    assert comment["deleted"] is False
    assert comment["author"] == {"username": w.student.username}
    assert comment["content"] == {"id": gid(w.published)}
    assert comment["parent"] is None

    reply = await api(
        w.author,
        "addComment",
        {"contentId": gid(w.published), "body": "Because.", "parentId": comment["id"]},
    )
    assert reply["userErrors"] == []
    assert reply["comment"]["parent"] == {"id": comment["id"]}

    row = await comment_row(sessionmaker, pk(reply["comment"]["id"]))
    assert (row.author_id, row.created_by, row.updated_by) == (w.author.id,) * 3
    assert row.parent_id == pk(comment["id"])


async def test_add_comment_reports_every_invalid_field(
    sessionmaker: Sessionmaker, api: Api
) -> None:
    w = await make_world(sessionmaker)
    payload = await api(
        w.student,
        "addComment",
        {"contentId": "not-an-id", "body": "   ", "parentId": gid(w.published)},
    )
    assert payload["comment"] is None
    assert sorted(errors(payload)) == [
        (["input", "body"], "INVALID"),
        (["input", "contentId"], "INVALID"),
        (["input", "parentId"], "INVALID"),
    ]
    too_long = await api(
        w.student, "addComment", {"contentId": gid(w.published), "body": "x" * (BODY_MAX + 1)}
    )
    nul = await api(w.student, "addComment", {"contentId": gid(w.published), "body": "a\x00b"})
    assert errors(too_long) == errors(nul) == [(["input", "body"], "INVALID")]
    assert await count_rows(sessionmaker, "comments", w.org.id) == 0


async def test_a_reply_must_be_on_the_parents_content(sessionmaker: Sessionmaker, api: Api) -> None:
    w = await make_world(sessionmaker)
    async with tenant_session(sessionmaker, w.org.id) as db:
        elsewhere = await make_comment(db, content=w.other, author=w.student)
    payload = await api(
        w.student,
        "addComment",
        {"contentId": gid(w.published), "body": "Hi", "parentId": gid(elsewhere)},
    )
    assert errors(payload) == [(["input", "parentId"], "INVALID")]
    assert await count_rows(sessionmaker, "comments", w.org.id) == 1


async def test_who_may_comment_where(sessionmaker: Sessionmaker, api: Api) -> None:
    w = await make_world(sessionmaker)
    body = {"body": "Hello"}
    # A draft is invisible to students: indistinguishable from a missing content.
    hidden = await api(w.student, "addComment", {"contentId": gid(w.draft), **body})
    assert errors(hidden) == [(["input", "contentId"], "NOT_FOUND")]
    # Its author and admins see it and may edit it, so they may discuss it.
    for user in (w.author, w.admin):
        payload = await api(user, "addComment", {"contentId": gid(w.draft), **body})
        assert payload["userErrors"] == []
    # An author demoted to student still sees its draft, but may no longer edit it.
    async with tenant_session(sessionmaker, w.org.id) as db:
        demoted = await make_user(db, role=models.Role.STUDENT)
        own_draft = await make_content(db, author=demoted, status=models.ContentStatus.DRAFT)
    refused = await api(demoted, "addComment", {"contentId": gid(own_draft), **body})
    assert errors(refused) == [(None, "FORBIDDEN")]
    assert await count_rows(sessionmaker, "comments", w.org.id) == 2


async def test_edit_comment(sessionmaker: Sessionmaker, api: Api) -> None:
    w = await make_world(sessionmaker)
    async with tenant_session(sessionmaker, w.org.id) as db:
        comment = await make_comment(db, content=w.published, author=w.student, body="Frist")
    before = await comment_row(sessionmaker, comment.id)

    edited = await api(w.student, "editComment", {"id": gid(comment), "body": "First"})
    assert edited["userErrors"] == []
    assert edited["comment"]["body"] == "First"
    after = await comment_row(sessionmaker, comment.id)
    assert after.updated_at > before.updated_at
    assert (after.created_at, after.updated_by) == (before.created_at, w.student.id)

    invalid = await api(w.student, "editComment", {"id": gid(w.published), "body": ""})
    assert sorted(errors(invalid)) == [(["input", "body"], "INVALID"), (["input", "id"], "INVALID")]


async def test_only_the_author_or_an_admin_edits_and_deletes(
    sessionmaker: Sessionmaker, api: Api
) -> None:
    w = await make_world(sessionmaker)
    async with tenant_session(sessionmaker, w.org.id) as db:
        comment = await make_comment(db, content=w.published, author=w.student, body="Mine")
    for user in (w.other_student, w.author):  # the content's author is no moderator
        edit = await api(user, "editComment", {"id": gid(comment), "body": "Theirs"})
        delete = await api(user, "deleteComment", {"id": gid(comment)}, "deletedCommentId")
        assert errors(edit) == errors(delete) == [(None, "FORBIDDEN")]
    row = await comment_row(sessionmaker, comment.id)
    assert (row.body, row.deleted_at) == ("Mine", None)

    moderated = await api(w.admin, "editComment", {"id": gid(comment), "body": "[removed]"})
    assert moderated["comment"]["body"] == "[removed]"
    assert (await comment_row(sessionmaker, comment.id)).updated_by == w.admin.id


async def test_delete_comment_is_a_soft_delete(sessionmaker: Sessionmaker, api: Api) -> None:
    w = await make_world(sessionmaker)
    async with tenant_session(sessionmaker, w.org.id) as db:
        comment = await make_comment(db, content=w.published, author=w.student)
    payload = await api(
        w.student, "deleteComment", {"id": gid(comment)}, "deletedCommentId content { id }"
    )
    assert payload == {
        "deletedCommentId": gid(comment),
        "content": {"id": gid(w.published)},
        "userErrors": [],
    }
    row = await comment_row(sessionmaker, comment.id)
    assert row.deleted_at is not None
    assert row.deleted_by == row.updated_by == w.student.id

    node = await api.query(w.admin, "query($id: ID!) { node(id: $id) { id } }", id=gid(comment))
    assert node == {"node": None}
    again = await api(w.student, "deleteComment", {"id": gid(comment)}, "deletedCommentId")
    edit = await api(w.student, "editComment", {"id": gid(comment), "body": "Back"})
    reply = await api(
        w.student,
        "addComment",
        {"contentId": gid(w.published), "body": "Re", "parentId": gid(comment)},
    )
    assert errors(again) == errors(edit) == [(["input", "id"], "NOT_FOUND")]
    assert errors(reply) == [(["input", "parentId"], "NOT_FOUND")]


async def test_a_deleted_comment_with_replies_stays_as_a_tombstone(
    sessionmaker: Sessionmaker, api: Api
) -> None:
    w = await make_world(sessionmaker)
    async with tenant_session(sessionmaker, w.org.id) as db:
        root = await make_comment(db, content=w.published, author=w.student, body="Root")
        first = await make_comment(
            db, content=w.published, author=w.author, body="First", parent_id=root.id
        )
        second = await make_comment(
            db, content=w.published, author=w.admin, body="Second", parent_id=root.id
        )

    async def thread() -> Any:
        return (await api.query(w.student, THREAD, id=gid(w.published)))["node"]

    deleted = await api(w.student, "deleteComment", {"id": gid(root)}, "deletedCommentId")
    assert deleted["userErrors"] == []
    content = await thread()
    assert content["commentCount"] == 2  # live comments
    assert content["comments"]["totalCount"] == 1
    (tombstone,) = content["comments"]["nodes"]
    assert tombstone["id"] == gid(root)
    assert (tombstone["body"], tombstone["deleted"], tombstone["author"]) == (None, True, None)
    replies = tombstone["replies"]
    assert replies["totalCount"] == 2
    # One transaction wrote both, so they tie on created_at: the order is then by id.
    assert sorted(
        (r["body"], r["parent"]["id"], r["parent"]["deleted"]) for r in replies["nodes"]
    ) == [
        ("First", gid(root), True),
        ("Second", gid(root), True),
    ]

    # A deleted comment without replies is gone, and the counts agree.
    await api(w.admin, "deleteComment", {"id": gid(second)}, "deletedCommentId")
    content = await thread()
    replies = content["comments"]["nodes"][0]["replies"]
    assert (replies["totalCount"], [r["body"] for r in replies["nodes"]]) == (1, ["First"])

    # The last live reply goes: nothing is left below the tombstone, so it goes too.
    await api(w.author, "deleteComment", {"id": gid(first)}, "deletedCommentId")
    content = await thread()
    assert content["commentCount"] == 0
    assert content["comments"] == {"totalCount": 0, "nodes": []}


async def test_tombstones_keep_a_deep_live_reply_reachable(
    sessionmaker: Sessionmaker, api: Api
) -> None:
    w = await make_world(sessionmaker)
    async with tenant_session(sessionmaker, w.org.id) as db:
        root = await make_comment(db, content=w.published, author=w.student, body="Root")
        middle = await make_comment(
            db, content=w.published, author=w.student, body="Middle", parent_id=root.id
        )
        await make_comment(
            db, content=w.published, author=w.author, body="Leaf", parent_id=middle.id
        )
    for comment in (root, middle):  # both deleted: only the leaf below is live
        await api(w.student, "deleteComment", {"id": gid(comment)}, "deletedCommentId")

    content = (await api.query(w.other_student, THREAD, id=gid(w.published)))["node"]
    (top,) = content["comments"]["nodes"]
    (mid,) = top["replies"]["nodes"]
    assert (top["deleted"], mid["deleted"], mid["parent"]["id"]) == (True, True, gid(root))
    assert mid["replies"] == {"totalCount": 1, "nodes": [mid["replies"]["nodes"][0]]}
    assert mid["replies"]["nodes"][0]["body"] == "Leaf"


async def test_ids_of_another_tenant_are_not_found(sessionmaker: Sessionmaker, api: Api) -> None:
    w = await make_world(sessionmaker)
    theirs = await make_world(sessionmaker)
    async with tenant_session(sessionmaker, theirs.org.id) as db:
        their_comment = await make_comment(db, content=theirs.published, author=theirs.student)

    add = await api(w.admin, "addComment", {"contentId": gid(theirs.published), "body": "Hi"})
    reply = await api(
        w.admin,
        "addComment",
        {"contentId": gid(w.published), "body": "Hi", "parentId": gid(their_comment)},
    )
    edit = await api(w.admin, "editComment", {"id": gid(their_comment), "body": "Mine now"})
    delete = await api(w.admin, "deleteComment", {"id": gid(their_comment)}, "deletedCommentId")
    assert errors(add) == [(["input", "contentId"], "NOT_FOUND")]
    assert errors(reply) == [(["input", "parentId"], "NOT_FOUND")]
    assert errors(edit) == errors(delete) == [(["input", "id"], "NOT_FOUND")]

    assert await count_rows(sessionmaker, "comments", w.org.id) == 0
    row = await comment_row(sessionmaker, their_comment.id)
    assert (row.body, row.deleted_at) == ("A comment", None)
