"""Every mutation x every role, on its own objects and on others', as `schema.policy` says.

Targets, as seen from the actor: `own` (it wrote the object, or it is itself), `others` (someone
else's, visible to it), `own-draft` (its own unpublished content), `others-draft` (something of
or on someone else's DRAFT: hidden from all but admins and the author), `-` (no object: creation,
tags). A denied call (FORBIDDEN, NOT_FOUND) must leave every row of the tenant as it was; an
allowed one must change something, so the input is known to be one that works.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import models
from gql_server.settings import Settings
from gql_server.tenancy import tenant_session
from schema import schema
from schema.node import to_global_id
from tests.api import gql, token_for
from tests.factories import make_org

Sessionmaker = async_sessionmaker[AsyncSession]


class Outcome(StrEnum):
    ALLOWED = "ALLOWED"
    FORBIDDEN = "FORBIDDEN"
    NOT_FOUND = "NOT_FOUND"


A, F, N = Outcome.ALLOWED, Outcome.FORBIDDEN, Outcome.NOT_FOUND

# The policy, cell by cell: (mutation, actor, target, expected).
MATRIX: list[tuple[str, str, str, Outcome]] = [
    # CREATE_CONTENT: staff.
    ("createContent", "admin", "-", A),
    ("createContent", "teacher", "-", A),
    ("createContent", "student", "-", F),
    # EDIT_CONTENT: admins on anything, instructors on their own (students not even on theirs);
    # drafts are hidden from everyone else.
    ("updateContent", "admin", "others", A),
    ("updateContent", "admin", "others-draft", A),
    ("updateContent", "teacher", "own", A),
    ("updateContent", "teacher", "others", F),
    ("updateContent", "teacher", "others-draft", N),
    ("updateContent", "student", "own", F),
    ("updateContent", "student", "others", F),
    ("updateContent", "student", "others-draft", N),
    ("publishContent", "admin", "others-draft", A),
    ("publishContent", "teacher", "own-draft", A),
    ("publishContent", "teacher", "others", F),
    ("publishContent", "teacher", "others-draft", N),
    ("publishContent", "student", "own", F),
    ("publishContent", "student", "others", F),
    ("publishContent", "student", "others-draft", N),
    ("archiveContent", "admin", "others", A),
    ("archiveContent", "teacher", "own", A),
    ("archiveContent", "teacher", "others", F),
    ("archiveContent", "teacher", "others-draft", N),
    ("archiveContent", "student", "own", F),
    ("archiveContent", "student", "others", F),
    ("archiveContent", "student", "others-draft", N),
    ("deleteContent", "admin", "others", A),
    ("deleteContent", "admin", "others-draft", A),
    ("deleteContent", "teacher", "own", A),
    ("deleteContent", "teacher", "others", F),
    ("deleteContent", "teacher", "others-draft", N),
    ("deleteContent", "student", "own", F),
    ("deleteContent", "student", "others", F),
    ("deleteContent", "student", "others-draft", N),
    ("restoreContent", "admin", "others", A),
    ("restoreContent", "admin", "others-draft", A),
    ("restoreContent", "teacher", "own", A),
    ("restoreContent", "teacher", "others", F),
    ("restoreContent", "teacher", "others-draft", N),
    ("restoreContent", "student", "own", F),
    ("restoreContent", "student", "others", F),
    ("restoreContent", "student", "others-draft", N),
    # A content's links are part of it: EDIT_CONTENT.
    ("addPrerequisite", "admin", "others", A),
    ("addPrerequisite", "admin", "others-draft", A),
    ("addPrerequisite", "teacher", "own", A),
    ("addPrerequisite", "teacher", "others", F),
    ("addPrerequisite", "teacher", "others-draft", N),
    ("addPrerequisite", "student", "own", F),
    ("addPrerequisite", "student", "others", F),
    ("addPrerequisite", "student", "others-draft", N),
    ("removePrerequisite", "admin", "others", A),
    ("removePrerequisite", "admin", "others-draft", A),
    ("removePrerequisite", "teacher", "own", A),
    ("removePrerequisite", "teacher", "others", F),
    ("removePrerequisite", "teacher", "others-draft", N),
    ("removePrerequisite", "student", "own", F),
    ("removePrerequisite", "student", "others", F),
    ("removePrerequisite", "student", "others-draft", N),
    ("addAttachment", "admin", "others", A),
    ("addAttachment", "admin", "others-draft", A),
    ("addAttachment", "teacher", "own", A),
    ("addAttachment", "teacher", "others", F),
    ("addAttachment", "teacher", "others-draft", N),
    ("addAttachment", "student", "own", F),
    ("addAttachment", "student", "others", F),
    ("addAttachment", "student", "others-draft", N),
    ("removeAttachment", "admin", "others", A),
    ("removeAttachment", "admin", "others-draft", A),
    ("removeAttachment", "teacher", "own", A),
    ("removeAttachment", "teacher", "others", F),
    ("removeAttachment", "teacher", "others-draft", N),
    ("removeAttachment", "student", "own", F),
    ("removeAttachment", "student", "others", F),
    ("removeAttachment", "student", "others-draft", N),
    ("tagContent", "admin", "others", A),
    ("tagContent", "admin", "others-draft", A),
    ("tagContent", "teacher", "own", A),
    ("tagContent", "teacher", "others", F),
    ("tagContent", "teacher", "others-draft", N),
    ("tagContent", "student", "own", F),
    ("tagContent", "student", "others", F),
    ("tagContent", "student", "others-draft", N),
    ("untagContent", "admin", "others", A),
    ("untagContent", "admin", "others-draft", A),
    ("untagContent", "teacher", "own", A),
    ("untagContent", "teacher", "others", F),
    ("untagContent", "teacher", "others-draft", N),
    ("untagContent", "student", "own", F),
    ("untagContent", "student", "others", F),
    ("untagContent", "student", "others-draft", N),
    # CREATE_TAG: staff; MANAGE_TAGS: admins.
    ("createTag", "admin", "-", A),
    ("createTag", "teacher", "-", A),
    ("createTag", "student", "-", F),
    ("renameTag", "admin", "-", A),
    ("renameTag", "teacher", "-", F),
    ("renameTag", "student", "-", F),
    ("deleteTag", "admin", "-", A),
    ("deleteTag", "teacher", "-", F),
    ("deleteTag", "student", "-", F),
    # MANAGE_USERS: admins, even on oneself it is nobody else's.
    ("createUser", "admin", "-", A),
    ("createUser", "teacher", "-", F),
    ("createUser", "student", "-", F),
    ("updateUser", "admin", "others", A),
    ("updateUser", "teacher", "own", F),
    ("updateUser", "teacher", "others", F),
    ("updateUser", "student", "own", F),
    ("updateUser", "student", "others", F),
    ("deactivateUser", "admin", "others", A),
    ("deactivateUser", "teacher", "own", F),
    ("deactivateUser", "teacher", "others", F),
    ("deactivateUser", "student", "own", F),
    ("deactivateUser", "student", "others", F),
    # EDIT_PROFILE: admins on anyone, everyone on its own.
    ("updateProfile", "admin", "own", A),
    ("updateProfile", "admin", "others", A),
    ("updateProfile", "teacher", "own", A),
    ("updateProfile", "teacher", "others", F),
    ("updateProfile", "student", "own", A),
    ("updateProfile", "student", "others", F),
    # COMMENT: everyone, on contents it sees; only the author or an admin on unpublished ones.
    ("addComment", "admin", "others", A),
    ("addComment", "admin", "others-draft", A),
    ("addComment", "teacher", "own", A),
    ("addComment", "teacher", "own-draft", A),
    ("addComment", "teacher", "others", A),
    ("addComment", "teacher", "others-draft", N),
    ("addComment", "student", "own", A),
    ("addComment", "student", "others", A),
    ("addComment", "student", "others-draft", N),
    # EDIT_COMMENT, DELETE_COMMENT: admins on any, everyone on its own (while it sees the content).
    ("editComment", "admin", "others", A),
    ("editComment", "admin", "others-draft", A),
    ("editComment", "teacher", "own", A),
    ("editComment", "teacher", "others", F),
    ("editComment", "teacher", "others-draft", N),
    ("editComment", "student", "own", A),
    ("editComment", "student", "others", F),
    ("editComment", "student", "others-draft", N),
    ("deleteComment", "admin", "others", A),
    ("deleteComment", "admin", "others-draft", A),
    ("deleteComment", "teacher", "own", A),
    ("deleteComment", "teacher", "others", F),
    ("deleteComment", "teacher", "others-draft", N),
    ("deleteComment", "student", "own", A),
    ("deleteComment", "student", "others", F),
    ("deleteComment", "student", "others-draft", N),
    # RATE: everyone, published contents only; one removes only its own rating.
    ("rateContent", "admin", "others", A),
    ("rateContent", "admin", "others-draft", F),
    ("rateContent", "teacher", "own", A),
    ("rateContent", "teacher", "own-draft", F),
    ("rateContent", "teacher", "others", A),
    ("rateContent", "teacher", "others-draft", N),
    ("rateContent", "student", "own", A),
    ("rateContent", "student", "others", A),
    ("rateContent", "student", "others-draft", N),
    ("removeRating", "admin", "own", A),
    ("removeRating", "admin", "others-draft", A),
    ("removeRating", "teacher", "own", A),
    ("removeRating", "teacher", "others-draft", N),
    ("removeRating", "student", "own", A),
    ("removeRating", "student", "others-draft", N),
]


@dataclass(frozen=True)
class World:
    org: models.Organization
    users: dict[str, models.User]
    # Contents: t/o/s = teacher's, other_teacher's, student's; pub/draft; *_del soft-deleted.
    contents: dict[str, UUID]
    comments: dict[str, UUID]
    attachments: dict[str, UUID]
    tag_on: UUID  # on every content below
    tag_off: UUID  # on none


@dataclass(frozen=True)
class Scope:
    """The objects one (actor, target) cell acts on; None where the cell has no such object."""

    content: UUID | None = None
    deleted: UUID | None = None
    comment: UUID | None = None
    attachment: UUID | None = None
    user: UUID | None = None
    rated: UUID | None = None  # a content the actor has rated


async def make_world(sessionmaker: Sessionmaker) -> World:
    org = await make_org(sessionmaker)
    now = datetime.now(UTC)

    def user(name: str, role: models.Role) -> models.User:
        return models.User(
            id=uuid4(), email=f"{name}@example.com", username=name, full_name=name, role=role
        )

    users = {
        "admin": user("admin", models.Role.ADMIN),
        "teacher": user("teacher", models.Role.INSTRUCTOR),
        "other_teacher": user("other_teacher", models.Role.INSTRUCTOR),
        "student": user("student", models.Role.STUDENT),
        "other_student": user("other_student", models.Role.STUDENT),
    }

    def content(author: str, status: models.ContentStatus, *, deleted: bool = False) -> Any:
        published = status is models.ContentStatus.PUBLISHED
        return models.Content(
            id=uuid4(),
            author_id=users[author].id,
            title=f"{author} {status.value}",
            body="Body",
            status=status,
            published_at=now if published else None,
            deleted_at=now if deleted else None,
        )

    pub, draft = models.ContentStatus.PUBLISHED, models.ContentStatus.DRAFT
    rows = {
        "t_pub": content("teacher", pub),
        "t_draft": content("teacher", draft),
        "o_pub": content("other_teacher", pub),
        "o_draft": content("other_teacher", draft),
        "t_del": content("teacher", pub, deleted=True),
        "t_del_draft": content("teacher", draft, deleted=True),
        "o_del": content("other_teacher", pub, deleted=True),
        "o_del_draft": content("other_teacher", draft, deleted=True),
        "linked": content("other_teacher", pub),  # every live content above requires it
        "spare": content("other_teacher", pub),  # required by none
        # Written by the student while it was an instructor: owning is not enough for a student.
        "s_pub": content("student", pub),
        "s_del": content("student", pub, deleted=True),
    }
    contents = {name: row.id for name, row in rows.items()}
    live = ("t_pub", "t_draft", "o_pub", "o_draft", "s_pub")
    ids = {name: row.id for name, row in users.items()}

    def comment(on: str, by: str) -> models.Comment:
        return models.Comment(id=uuid4(), content_id=contents[on], author_id=ids[by], body="Hi")

    comment_rows = {
        "teacher": comment("t_pub", "teacher"),
        "student": comment("t_pub", "student"),
        "other_student": comment("t_pub", "other_student"),
        "student_on_t_draft": comment("t_draft", "student"),
        "teacher_on_o_draft": comment("o_draft", "teacher"),
    }
    attachment_rows = {
        on: models.Attachment(
            id=uuid4(),
            content_id=contents[on],
            filename="notes.pdf",
            mime_type="application/pdf",
            size_bytes=1024,
            url="https://files.example.com/notes.pdf",
        )
        for on in live
    }
    tag_on, tag_off = models.Tag(id=uuid4(), name="on"), models.Tag(id=uuid4(), name="off")
    ratings = [
        ("t_pub", "admin"),
        ("t_pub", "teacher"),
        ("t_pub", "student"),
        ("t_pub", "other_student"),
        ("t_draft", "admin"),
        ("t_draft", "student"),
        ("o_draft", "teacher"),
    ]
    async with tenant_session(sessionmaker, org.id) as db:
        db.add_all(users.values())
        await db.flush()
        db.add_all([*rows.values(), tag_on, tag_off])
        await db.flush()
        db.add_all(
            [
                *comment_rows.values(),
                *attachment_rows.values(),
                *(
                    models.Rating(content_id=contents[c], user_id=ids[u], score=4)
                    for c, u in ratings
                ),
                *(models.ContentTag(content_id=contents[c], tag_id=tag_on.id) for c in live),
                *(
                    models.ContentPrerequisite(
                        content_id=contents[c], prerequisite_id=contents["linked"]
                    )
                    for c in live
                ),
                *(models.UserProfile(user_id=pk, bio="Hello") for pk in ids.values()),
            ]
        )
    return World(
        org,
        users,
        contents,
        {name: row.id for name, row in comment_rows.items()},
        {name: row.id for name, row in attachment_rows.items()},
        tag_on.id,
        tag_off.id,
    )


def scope(w: World, actor: str, target: str) -> Scope:
    c, u, cm, at = w.contents, w.users, w.comments, w.attachments
    scopes = {
        ("admin", "own"): Scope(user=u["admin"].id, rated=c["t_pub"]),
        ("admin", "others"): Scope(
            content=c["t_pub"],
            deleted=c["t_del"],
            comment=cm["student"],
            attachment=at["t_pub"],
            user=u["teacher"].id,
        ),
        ("admin", "others-draft"): Scope(
            content=c["t_draft"],
            deleted=c["t_del_draft"],
            comment=cm["student_on_t_draft"],
            attachment=at["t_draft"],
            rated=c["t_draft"],
        ),
        ("teacher", "own"): Scope(
            content=c["t_pub"],
            deleted=c["t_del"],
            comment=cm["teacher"],
            attachment=at["t_pub"],
            user=u["teacher"].id,
            rated=c["t_pub"],
        ),
        ("teacher", "own-draft"): Scope(content=c["t_draft"]),
        ("teacher", "others"): Scope(
            content=c["o_pub"],
            deleted=c["o_del"],
            comment=cm["student"],
            attachment=at["o_pub"],
            user=u["other_teacher"].id,
        ),
        ("teacher", "others-draft"): Scope(
            content=c["o_draft"],
            deleted=c["o_del_draft"],
            comment=cm["teacher_on_o_draft"],
            attachment=at["o_draft"],
            rated=c["o_draft"],
        ),
        ("student", "own"): Scope(
            content=c["s_pub"],
            deleted=c["s_del"],
            comment=cm["student"],
            attachment=at["s_pub"],
            user=u["student"].id,
            rated=c["t_pub"],
        ),
        ("student", "others"): Scope(
            content=c["t_pub"],
            deleted=c["t_del"],
            comment=cm["other_student"],
            attachment=at["t_pub"],
            user=u["other_student"].id,
        ),
        ("student", "others-draft"): Scope(
            content=c["t_draft"],
            deleted=c["t_del_draft"],
            comment=cm["student_on_t_draft"],
            attachment=at["t_draft"],
            rated=c["t_draft"],
        ),
    }
    return scopes.get((actor, target), Scope())


def gid(type_name: str, pk: UUID | None) -> str:
    assert pk is not None, "this cell's scope has no such object"
    return to_global_id(type_name, pk)


Build = Callable[[World, Scope], dict[str, Any]]

# Per mutation: the payload field that holds the result, and a valid input for the cell's scope.
INPUTS: dict[str, tuple[str, Build]] = {
    "createContent": ("content { id }", lambda w, s: {"title": "New", "body": "Text"}),
    "updateContent": (
        "content { id }",
        lambda w, s: {"id": gid("Content", s.content), "expectedVersion": 1, "title": "Changed"},
    ),
    "publishContent": ("content { id }", lambda w, s: {"id": gid("Content", s.content)}),
    "archiveContent": ("content { id }", lambda w, s: {"id": gid("Content", s.content)}),
    "deleteContent": ("deletedContentId", lambda w, s: {"id": gid("Content", s.content)}),
    "restoreContent": ("content { id }", lambda w, s: {"id": gid("Content", s.deleted)}),
    "addPrerequisite": (
        "content { id }",
        lambda w, s: {
            "contentId": gid("Content", s.content),
            "prerequisiteId": gid("Content", w.contents["spare"]),
        },
    ),
    "removePrerequisite": (
        "content { id }",
        lambda w, s: {
            "contentId": gid("Content", s.content),
            "prerequisiteId": gid("Content", w.contents["linked"]),
        },
    ),
    "addAttachment": (
        "attachment { id }",
        lambda w, s: {
            "contentId": gid("Content", s.content),
            "filename": "slides.pdf",
            "mimeType": "application/pdf",
            "sizeBytes": 2048,
            "url": "https://files.example.com/slides.pdf",
        },
    ),
    "removeAttachment": (
        "removedAttachmentId",
        lambda w, s: {"id": gid("Attachment", s.attachment)},
    ),
    "tagContent": (
        "content { id }",
        lambda w, s: {"contentId": gid("Content", s.content), "tagIds": [gid("Tag", w.tag_off)]},
    ),
    "untagContent": (
        "content { id }",
        lambda w, s: {"contentId": gid("Content", s.content), "tagIds": [gid("Tag", w.tag_on)]},
    ),
    "createTag": ("tag { id }", lambda w, s: {"name": "fresh"}),
    "renameTag": ("tag { id }", lambda w, s: {"id": gid("Tag", w.tag_on), "name": "renamed"}),
    "deleteTag": ("deletedTagId", lambda w, s: {"id": gid("Tag", w.tag_on)}),
    "createUser": (
        "user { id }",
        lambda w, s: {
            "email": "newcomer@example.com",
            "username": "newcomer",
            "fullName": "New Comer",
            "role": "STUDENT",
        },
    ),
    "updateUser": (
        "user { id }",
        lambda w, s: {"id": gid("User", s.user), "fullName": "Renamed"},
    ),
    "deactivateUser": ("user { id }", lambda w, s: {"id": gid("User", s.user)}),
    "updateProfile": (
        "profile { bio }",
        lambda w, s: {"userId": gid("User", s.user), "bio": "Changed"},
    ),
    "addComment": (
        "comment { id }",
        lambda w, s: {"contentId": gid("Content", s.content), "body": "New comment"},
    ),
    "editComment": (
        "comment { id }",
        lambda w, s: {"id": gid("Comment", s.comment), "body": "Edited"},
    ),
    "deleteComment": ("deletedCommentId", lambda w, s: {"id": gid("Comment", s.comment)}),
    "rateContent": (
        "rating { score }",
        lambda w, s: {"contentId": gid("Content", s.content), "score": 2},
    ),
    "removeRating": ("content { id }", lambda w, s: {"contentId": gid("Content", s.rated)}),
}


async def snapshot(sessionmaker: Sessionmaker, org_id: UUID) -> dict[str, list[str]]:
    """Every row of every tenant table of the org, as the login role (no tenant, no policy)."""
    async with sessionmaker() as session:
        return {
            table: sorted(
                repr(tuple(row))
                for row in await session.execute(
                    text(f"select * from {table} where organization_id = :org"), {"org": org_id}
                )
            )
            for table in models.TENANT_TABLES
        }


def test_matrix_covers_every_mutation() -> None:
    mutation_type = schema._schema.mutation_type
    assert mutation_type is not None
    mutations = set(mutation_type.fields)
    assert {row[0] for row in MATRIX} == mutations
    assert set(INPUTS) == mutations


def _case_id(mutation: str, actor: str, target: str) -> str:
    return f"{mutation}-{actor}" if target == "-" else f"{mutation}-{actor}-{target}"


@pytest.mark.parametrize(
    ("mutation", "actor", "target", "expected"),
    [pytest.param(*row, id=_case_id(*row[:3])) for row in MATRIX],
)
async def test_permission(
    client: httpx.AsyncClient,
    settings: Settings,
    sessionmaker: Sessionmaker,
    mutation: str,
    actor: str,
    target: str,
    expected: Outcome,
) -> None:
    world = await make_world(sessionmaker)
    selection, build = INPUTS[mutation]
    variables = {"input": build(world, scope(world, actor, target))}
    kind = mutation[0].upper() + mutation[1:]
    query = (
        f"mutation($input: {kind}Input!) {{ {mutation}(input: $input)"
        f" {{ {selection} userErrors {{ code message }} }} }}"
    )
    before = await snapshot(sessionmaker, world.org.id)
    response = await gql(client, query, variables, token=token_for(settings, world.users[actor]))
    payload = response.data[mutation]
    after = await snapshot(sessionmaker, world.org.id)

    codes = [error["code"] for error in payload["userErrors"]]
    if expected is Outcome.ALLOWED:
        assert codes == [], payload["userErrors"]
        assert payload[selection.split()[0]] is not None
        assert after != before, "an allowed call should have changed something"
    else:
        assert codes == [expected.value], payload["userErrors"]
        assert after == before
