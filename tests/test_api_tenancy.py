"""Tenancy, read policy and authentication as a client sees them, through the real app.

Two organizations hold the same shape of data; a token of one must never reach the other's rows,
by any root field, by global id, or along any edge.
"""

import base64
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import httpx
import jwt
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import models
from gql_server import auth
from gql_server.settings import Settings
from gql_server.tenancy import tenant_session
from loaders.statements import key_of
from schema.node import to_global_id
from tests.api import gql, token_for
from tests.factories import make_org

Sessionmaker = async_sessionmaker[AsyncSession]
S = models.ContentStatus
NOW = datetime.now(UTC)


@dataclass(frozen=True)
class World:
    """One organization's rows, all with the same shape in every world."""

    org: models.Organization
    admin: models.User
    teacher: models.User
    other_teacher: models.User
    student: models.User
    suspended: models.User
    deactivated: models.User
    invited: models.User
    deleted_user: models.User
    published: models.Content  # by teacher
    second: models.Content  # published, by other_teacher
    teacher_draft: models.Content
    other_draft: models.Content  # by other_teacher
    archived: models.Content  # by teacher
    deleted_content: models.Content
    tag: models.Tag
    attachment: models.Attachment
    thread: models.Comment  # by student, on `published`
    reply: models.Comment  # by teacher
    hidden_comment: models.Comment  # by other_teacher, on `teacher_draft`
    deleted_comment: models.Comment
    rating: models.Rating  # by student, on `published`
    hidden_rating: models.Rating  # by other_teacher, on `teacher_draft`
    profile: models.UserProfile  # teacher's
    deleted_profile: models.UserProfile  # deleted_user's

    def ids(self) -> set[str]:
        """Global ids of every row of this world, visible or not."""
        rows = [getattr(self, name) for name in self.__dataclass_fields__]
        return {gid(row) for row in rows}


def gid(row: Any) -> str:
    return to_global_id(type(row).__name__, key_of(type(row), row))


async def populate(sessionmaker: Sessionmaker) -> World:
    org = await make_org(sessionmaker)
    label = org.slug

    def user(name: str, role: models.Role, **fields: Any) -> models.User:
        return models.User(
            id=uuid4(),
            email=f"{name}@{label}.example.com",
            username=f"{name}-{label}"[:40],
            full_name=name.title(),
            role=role,
            **fields,
        )

    def content(author: models.User, title: str, status: S, **fields: Any) -> models.Content:
        return models.Content(
            id=uuid4(),
            author_id=author.id,
            title=f"{title} about photosynthesis",
            body="Light becomes sugar.",
            status=status,
            published_at=None if status is S.DRAFT else NOW,
            **fields,
        )

    def comment(on: models.Content, by: models.User, **fields: Any) -> models.Comment:
        return models.Comment(id=uuid4(), content_id=on.id, author_id=by.id, body="Hm", **fields)

    async with tenant_session(sessionmaker, org.id) as db:
        R = models.Role
        admin = user("admin", R.ADMIN)
        teacher, other_teacher = user("t", R.INSTRUCTOR), user("o", R.INSTRUCTOR)
        student = user("s", R.STUDENT)
        suspended = user("sus", R.STUDENT, status=models.UserStatus.SUSPENDED)
        deactivated = user("dea", R.STUDENT, status=models.UserStatus.DEACTIVATED)
        invited = user("inv", R.STUDENT, status=models.UserStatus.INVITED)
        deleted_user = user("del", R.STUDENT, deleted_at=NOW)
        db.add_all(
            [admin, teacher, other_teacher, student, suspended, deactivated, invited, deleted_user]
        )
        await db.flush()
        published = content(teacher, "Published", S.PUBLISHED)
        second = content(other_teacher, "Second", S.PUBLISHED)
        teacher_draft = content(teacher, "Teacher draft", S.DRAFT)
        other_draft = content(other_teacher, "Other draft", S.DRAFT)
        archived = content(teacher, "Archived", S.ARCHIVED)
        deleted_content = content(teacher, "Deleted", S.PUBLISHED, deleted_at=NOW)
        everything = [published, second, teacher_draft, other_draft, archived, deleted_content]
        tag = models.Tag(id=uuid4(), name="shared")
        db.add_all([*everything, tag])
        profile = models.UserProfile(user_id=teacher.id, bio=f"bio of {label}")
        deleted_profile = models.UserProfile(user_id=deleted_user.id, bio="gone")
        db.add_all([profile, deleted_profile])
        await db.flush()
        db.add_all(models.ContentTag(content_id=c.id, tag_id=tag.id) for c in everything)
        db.add(models.ContentPrerequisite(content_id=published.id, prerequisite_id=second.id))
        db.add(models.ContentPrerequisite(content_id=second.id, prerequisite_id=other_draft.id))
        attachment = models.Attachment(
            id=uuid4(),
            content_id=published.id,
            filename="a.pdf",
            mime_type="application/pdf",
            size_bytes=5,
            url=f"https://files.example.com/{label}.pdf",
        )
        rating = models.Rating(content_id=published.id, user_id=student.id, score=5)
        hidden_rating = models.Rating(
            content_id=teacher_draft.id, user_id=other_teacher.id, score=1
        )
        db.add_all([rating, hidden_rating])
        thread = comment(published, student)
        hidden_comment = comment(teacher_draft, other_teacher)
        deleted_comment = comment(published, student, deleted_at=NOW)
        db.add_all([attachment, thread, hidden_comment, deleted_comment])
        await db.flush()
        reply = comment(published, teacher, parent_id=thread.id)
        db.add(reply)
        await db.flush()
    return World(
        org,
        admin,
        teacher,
        other_teacher,
        student,
        suspended,
        deactivated,
        invited,
        deleted_user,
        published,
        second,
        teacher_draft,
        other_draft,
        archived,
        deleted_content,
        tag,
        attachment,
        thread,
        reply,
        hidden_comment,
        deleted_comment,
        rating,
        hidden_rating,
        profile,
        deleted_profile,
    )


@pytest.fixture
async def worlds(sessionmaker: Sessionmaker) -> tuple[World, World]:
    return await populate(sessionmaker), await populate(sessionmaker)


def strings(value: Any) -> Iterator[str]:
    """Every string in a response, keys excluded."""
    if isinstance(value, dict):
        for item in value.values():
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)
    elif isinstance(value, str):
        yield value


def footprint(world: World) -> set[str]:
    """Strings that only this world's rows carry: ids, usernames, emails, slug, bio, url."""
    users = [getattr(world, name) for name in World.__dataclass_fields__]
    users = [row for row in users if isinstance(row, models.User)]
    label = world.org.slug
    return (
        world.ids()
        | {u.username for u in users}
        | {u.email for u in users}
        | {label, f"bio of {label}", f"https://files.example.com/{label}.pdf"}
    )


# Pages of 10 hold every row of a world (at most 8 of a kind) and keep the walk under the
# default cost limit (README "Limits"); with pages of 100 it would cost 3,159,203.
EVERYTHING = """
{
  viewer { id username email profile { id bio } }
  organization { id slug }
  users(first: 10) { totalCount nodes { id username email profile { id bio user { id } }
    contents(first: 10) { nodes { id } }
    comments(first: 10) { nodes { id content { id } parent { id } } }
    ratings(first: 10) { nodes { id score content { id } user { id } } } } }
  contents(first: 10) { totalCount nodes { id author { id } tags { id } attachments { id url }
    prerequisites { id } requiredBy { id } viewerRating { id score } commentCount
    ratingSummary { id count }
    comments(first: 10) { totalCount nodes { id author { id }
      replies(first: 10) { nodes { id parent { id } } } } } } }
  tags(first: 10) { nodes { id contents(first: 10) { totalCount nodes { id } } } }
  search(query: "photosynthesis", first: 10) { nodes { id } }
}
"""


@pytest.mark.parametrize("role", ["admin", "teacher", "student"])
async def test_no_root_field_or_edge_reaches_the_other_tenant(
    worlds: tuple[World, World], settings: Settings, client: httpx.AsyncClient, role: str
) -> None:
    for mine, theirs in (worlds, worlds[::-1]):
        response = await gql(client, EVERYTHING, token=token_for(settings, getattr(mine, role)))
        seen = set(strings(response.data))
        assert not seen & footprint(theirs)
        # It did walk its own tenant's rows.
        assert {gid(mine.org), gid(mine.published), gid(mine.thread), gid(mine.tag)} <= seen
        assert gid(mine.attachment) in seen
        assert gid(mine.reply) in seen
        assert gid(mine.rating) in seen
        assert gid(mine.profile) in seen


NODE = "query ($id: ID!) { node(id: $id) { id __typename } }"


async def test_ids_of_the_other_tenant_look_like_ids_that_never_existed(
    worlds: tuple[World, World], settings: Settings, client: httpx.AsyncClient
) -> None:
    a, b = worlds
    token = token_for(settings, a.admin)
    theirs = sorted(b.ids())
    for global_id in theirs:
        kind, *parts = base64.urlsafe_b64decode(global_id + "==").decode().split(":")
        never = to_global_id(kind, tuple(uuid4() for _ in parts) if len(parts) > 1 else uuid4())
        foreign = await gql(client, NODE, {"id": global_id}, token=token)
        missing = await gql(client, NODE, {"id": never}, token=token)
        assert foreign.body["data"] == missing.body["data"] == {"node": None}, kind
        assert "errors" not in foreign.body
        assert "errors" not in missing.body
    # The same ids of A's own world do resolve (the admin sees all that is not deleted).
    response = await gql(
        client,
        "query ($ids: [ID!]!) { nodes(ids: $ids) { id } }",
        {"ids": [*theirs, gid(a.published), gid(a.org)]},
        token=token,
    )
    nodes = response.data["nodes"]
    assert nodes[: len(theirs)] == [None] * len(theirs)
    assert nodes[len(theirs) :] == [{"id": gid(a.published)}, {"id": gid(a.org)}]


async def test_soft_deleted_rows_resolve_to_null(
    worlds: tuple[World, World], settings: Settings, client: httpx.AsyncClient
) -> None:
    a, _ = worlds
    token = token_for(settings, a.admin)
    deleted = (a.deleted_content, a.deleted_comment, a.deleted_user, a.deleted_profile)
    for row in deleted:
        response = await gql(client, NODE, {"id": gid(row)}, token=token)
        assert response.data == {"node": None}, type(row).__name__
    lists = (await gql(client, EVERYTHING, token=token)).data
    seen = set(strings(lists))
    assert not seen & {gid(row) for row in deleted}
    published = next(n for n in lists["contents"]["nodes"] if n["id"] == gid(a.published))
    assert published["commentCount"] == 2  # the thread and its reply, not the deleted one


def _encoded(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


MALFORMED_IDS = [
    "garbage",
    "",
    "%%%",
    _encoded("Content"),
    _encoded("Content:not-a-uuid"),
    _encoded(f"Nope:{uuid4()}"),
    _encoded(f"RatingSummary:{uuid4()}"),  # has an id, but is not a node
    _encoded(f"Rating:{uuid4()}"),  # a rating is keyed by its content and its user
    _encoded(f"Rating:{uuid4()}:{uuid4()}:{uuid4()}"),
    _encoded(f"Rating:{uuid4()}:"),
    _encoded(f"Content:{uuid4()}:{uuid4()}"),
    base64.urlsafe_b64encode(b"\xff\xfe:\x00").decode(),
]


@pytest.mark.parametrize("global_id", MALFORMED_IDS)
async def test_a_malformed_id_is_bad_user_input(
    worlds: tuple[World, World], settings: Settings, client: httpx.AsyncClient, global_id: str
) -> None:
    token = token_for(settings, worlds[0].student)
    for query, variables in [
        (NODE, {"id": global_id}),
        ("query ($ids: [ID!]!) { nodes(ids: $ids) { id } }", {"ids": [global_id]}),
    ]:
        response = await gql(client, query, variables, token=token)
        assert response.status == 200
        assert response.error_codes == ["BAD_USER_INPUT"], response.body


# --- read policy ------------------------------------------------------------------------------

POLICY = """
query ($teacher: ID!, $other: ID!, $tag: ID!) {
  contents(first: 100) { totalCount nodes { id } }
  search(query: "photosynthesis", first: 100) { nodes { id } }
  teacher: node(id: $teacher) { ... on User { contents(first: 100) { totalCount nodes { id } } } }
  other: node(id: $other) { ... on User {
    contents(first: 100) { nodes { id } }
    comments(first: 100) { totalCount nodes { id } } } }
  tag: node(id: $tag) { ... on Tag { contents(first: 100) { totalCount nodes { id } } } }
}
"""


async def _policy_view(
    client: httpx.AsyncClient, settings: Settings, world: World, viewer: str
) -> dict[str, Any]:
    response = await gql(
        client,
        POLICY,
        {
            "teacher": gid(world.teacher),
            "other": gid(world.other_teacher),
            "tag": gid(world.tag),
        },
        token=token_for(settings, getattr(world, viewer)),
    )
    data = response.data
    assert data["contents"]["totalCount"] == len(data["contents"]["nodes"])
    assert data["tag"]["contents"]["totalCount"] == len(data["tag"]["contents"]["nodes"])
    assert data["teacher"]["contents"]["totalCount"] == len(data["teacher"]["contents"]["nodes"])
    return data


def _ids(connection: dict[str, Any]) -> set[str]:
    return {node["id"] for node in connection["nodes"]}


@pytest.mark.parametrize(
    ("viewer", "visible"),
    [
        ("student", {"published", "second"}),
        ("teacher", {"published", "second", "teacher_draft", "archived"}),
        ("other_teacher", {"published", "second", "other_draft"}),
        ("admin", {"published", "second", "teacher_draft", "other_draft", "archived"}),
    ],
)
async def test_read_policy_by_role(
    worlds: tuple[World, World],
    settings: Settings,
    client: httpx.AsyncClient,
    viewer: str,
    visible: set[str],
) -> None:
    world = worlds[0]
    contents = {
        name: gid(getattr(world, name))
        for name in ("published", "second", "teacher_draft", "other_draft", "archived")
    }
    expected = {contents[name] for name in visible}
    data = await _policy_view(client, settings, world, viewer)
    assert _ids(data["contents"]) == expected
    assert _ids(data["search"]) == expected
    assert _ids(data["tag"]["contents"]) == expected
    by_teacher = {contents[n] for n in ("published", "teacher_draft", "archived")}
    assert _ids(data["teacher"]["contents"]) == expected & by_teacher
    by_other = {contents[n] for n in ("second", "other_draft")}
    assert _ids(data["other"]["contents"]) == expected & by_other
    # other_teacher's one comment is on the teacher's draft: seen only by who sees the draft.
    comments = _ids(data["other"]["comments"])
    assert comments == ({gid(world.hidden_comment)} if "teacher_draft" in visible else set())

    token = token_for(settings, getattr(world, viewer))
    for name, global_id in contents.items():
        response = await gql(client, NODE, {"id": global_id}, token=token)
        found = response.data["node"]
        assert (found is not None) is (name in visible), name
    # The rating on the draft counts only for who sees the draft.
    response = await gql(
        client,
        "query ($id: ID!) { node(id: $id) { ... on User { ratings { nodes { score } } } } }",
        {"id": gid(world.other_teacher)},
        token=token,
    )
    ratings = response.data["node"]["ratings"]["nodes"]
    assert ratings == ([{"score": 1}] if "teacher_draft" in visible else [])
    # By its own id, too: a rating of a content the viewer may not see is null.
    response = await gql(
        client,
        "query ($ids: [ID!]!) { nodes(ids: $ids) { id ... on Rating { score } } }",
        {"ids": [gid(world.hidden_rating), gid(world.rating)]},
        token=token,
    )
    hidden, seen = response.data["nodes"]
    assert seen == {"id": gid(world.rating), "score": 5}
    assert hidden == (
        {"id": gid(world.hidden_rating), "score": 1} if "teacher_draft" in visible else None
    )


async def test_a_role_claim_in_the_token_does_not_outrank_the_database(
    worlds: tuple[World, World], settings: Settings, client: httpx.AsyncClient
) -> None:
    world = worlds[0]
    token = auth.issue(
        settings,
        user_id=world.student.id,
        organization_id=world.org.id,
        role=models.Role.ADMIN,
    )
    data = await _policy_view(client, settings, world, "student")
    forged = (
        await gql(
            client,
            POLICY,
            {
                "teacher": gid(world.teacher),
                "other": gid(world.other_teacher),
                "tag": gid(world.tag),
            },
            token=token,
        )
    ).data
    assert forged == data
    assert _ids(forged["contents"]) == {gid(world.published), gid(world.second)}


EMAILS = "{ viewer { id email } users(first: 100) { nodes { id email } } }"


@pytest.mark.parametrize("viewer", ["student", "teacher", "admin"])
async def test_emails_are_shown_to_their_owner_and_to_admins(
    worlds: tuple[World, World], settings: Settings, client: httpx.AsyncClient, viewer: str
) -> None:
    world = worlds[0]
    me = getattr(world, viewer)
    data = (await gql(client, EMAILS, token=token_for(settings, me))).data
    assert data["viewer"] == {"id": gid(me), "email": me.email}
    emails = {node["id"]: node["email"] for node in data["users"]["nodes"]}
    assert emails[gid(me)] == me.email
    others = {global_id: email for global_id, email in emails.items() if global_id != gid(me)}
    assert len(others) >= 6
    if viewer == "admin":
        assert emails[gid(world.student)] == world.student.email
        assert None not in others.values()
    else:
        assert set(others.values()) == {None}


# --- authentication ---------------------------------------------------------------------------

QUERY = "{ viewer { id } }"
Header = Callable[[tuple[World, World], Settings], str | None]


def _signed(settings: Settings, payload: dict[str, Any], secret: str | None = None) -> str:
    return jwt.encode(payload, secret or settings.jwt_secret, algorithm="HS256")


def _claims(user: models.User, **extra: Any) -> dict[str, Any]:
    now = int(time.time())
    return {
        "sub": str(user.id),
        "org": str(user.organization_id),
        "role": user.role.value,
        "iat": now,
        "exp": now + 600,
        **extra,
    }


def _bearer(token: str) -> str:
    return f"Bearer {token}"


def _token_of(name: str) -> Header:
    return lambda w, s: _bearer(token_for(s, getattr(w[0], name)))


BAD_CREDENTIALS: dict[str, Header] = {
    "no header": lambda w, s: None,
    "another scheme": lambda w, s: "Token x",
    "basic auth": lambda w, s: "Basic dXNlcjpwYXNz",
    "bearer without a token": lambda w, s: "Bearer ",
    "bearer alone": lambda w, s: "Bearer",
    "garbage token": lambda w, s: "Bearer not.a.jwt",
    "expired": lambda w, s: _bearer(_signed(s, _claims(w[0].student, exp=int(time.time()) - 60))),
    "another secret": lambda w, s: _bearer(
        _signed(s, _claims(w[0].student), secret="another-secret-of-enough-length-0123456789")
    ),
    "unsigned (alg none)": lambda w, s: _bearer(
        jwt.encode(_claims(w[0].student), key=None, algorithm="none")
    ),
    "no expiry": lambda w, s: _bearer(
        _signed(s, {k: v for k, v in _claims(w[0].student).items() if k != "exp"})
    ),
    "subject not a uuid": lambda w, s: _bearer(_signed(s, _claims(w[0].student, sub="admin"))),
    "user of A with the org of B": lambda w, s: _bearer(
        _signed(s, _claims(w[0].admin, org=str(w[1].org.id)))
    ),
    "user that never existed": lambda w, s: _bearer(
        _signed(s, _claims(w[0].admin, sub=str(uuid4())))
    ),
    "suspended user": _token_of("suspended"),
    "deactivated user": _token_of("deactivated"),
    "invited user": _token_of("invited"),
    "soft-deleted user": _token_of("deleted_user"),
}


@pytest.mark.parametrize("case", BAD_CREDENTIALS)
async def test_bad_credentials_are_401(
    worlds: tuple[World, World], settings: Settings, client: httpx.AsyncClient, case: str
) -> None:
    authorization = BAD_CREDENTIALS[case](worlds, settings)
    headers = {} if authorization is None else {"Authorization": authorization}
    response = await client.post("/graphql", json={"query": QUERY}, headers=headers)
    assert response.status_code == 401, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["www-authenticate"].startswith("Bearer")
    body = response.json()
    assert set(body) <= {"errors", "data"}
    assert body.get("data") is None
    (error,) = body["errors"]
    assert isinstance(error["message"], str)
    assert error["message"]
    assert error["extensions"]["code"] == "UNAUTHENTICATED"
    # Nothing about the other tenant's or the user's rows leaks into the message.
    assert not set(error["message"].split()) & footprint(worlds[1])


async def test_a_good_token_works_and_its_sibling_cases_do_not(
    worlds: tuple[World, World], settings: Settings, client: httpx.AsyncClient
) -> None:
    a, b = worlds
    for world in (a, b):
        response = await gql(client, QUERY, token=token_for(settings, world.student))
        assert response.data == {"viewer": {"id": gid(world.student)}}
    lower = {"Authorization": f"bearer {token_for(settings, a.student)}"}
    response = await client.post("/graphql", json={"query": QUERY}, headers=lower)
    assert response.status_code == 200
    assert "errors" not in response.json()


# --- introspection and HTTP -------------------------------------------------------------------


async def test_introspection_without_a_token_in_development(
    settings: Settings, client: httpx.AsyncClient
) -> None:
    assert not settings.is_production
    response = await gql(client, "{ __schema { queryType { name } } }")
    assert response.status == 200
    assert response.data == {"__schema": {"queryType": {"name": "Query"}}}
    response = await gql(client, "{ __typename }")
    assert response.status == 200
    assert response.data == {"__typename": "Query"}


@pytest.mark.parametrize(
    "query",
    [
        "{ __typename viewer { id } }",
        "{ __schema { queryType { name } } users { totalCount } }",
        "query { ...F } fragment F on Query { __typename viewer { id } }",
        "query { ... on Query { organization { id } } }",
    ],
)
async def test_data_mixed_with_introspection_needs_a_token(
    client: httpx.AsyncClient, query: str
) -> None:
    response = await gql(client, query)
    assert response.status == 401
    assert response.error_codes == ["UNAUTHENTICATED"]
    assert response.body.get("data") is None


async def test_a_subscription_over_http_is_400_pointing_at_the_websocket(
    worlds: tuple[World, World], settings: Settings, client: httpx.AsyncClient
) -> None:
    token = token_for(settings, worlds[0].admin)
    response = await gql(client, "subscription { contentPublished { id } }", token=token)
    assert response.status == 400
    assert response.error_codes == ["BAD_REQUEST"]
    assert "WebSocket" in response.body["errors"][0]["message"]


async def test_a_mutation_over_get_is_405(
    worlds: tuple[World, World], settings: Settings, client: httpx.AsyncClient
) -> None:
    token = token_for(settings, worlds[0].admin)
    for headers in ({}, {"Authorization": f"Bearer {token}"}):
        response = await client.get(
            "/graphql", params={"query": "mutation { __typename }"}, headers=headers
        )
        assert response.status_code == 405
        assert response.json()["errors"][0]["extensions"]["code"]
    # A query over GET is fine.
    response = await client.get(
        "/graphql",
        params={"query": "{ viewer { id } }"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 200
    assert response.json()["data"] == {"viewer": {"id": gid(worlds[0].admin)}}


@pytest.mark.parametrize(
    "body", [b"{not json", b"", b"[1, 2]", b'"a string"', b'{"query": 5}', b"\xff\xfe"]
)
async def test_a_body_that_is_no_graphql_request_is_400(
    worlds: tuple[World, World], settings: Settings, client: httpx.AsyncClient, body: bytes
) -> None:
    token = token_for(settings, worlds[0].admin)
    for headers in ({}, {"Authorization": f"Bearer {token}"}):
        response = await client.post(
            "/graphql", content=body, headers={"content-type": "application/json", **headers}
        )
        assert response.status_code == 400, (body, response.text)
        assert response.json()["errors"][0]["message"]
