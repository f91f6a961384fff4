"""Keyset connections through the API: whole walks both ways, bad arguments, filters and search.

The catalog has duplicate titles, timestamps, publication dates and average ratings, so every
order leans on its tie breaker (the id) and a cursor that lost it would skip or repeat rows.
"""

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import models
from gql_server.settings import Settings
from gql_server.tenancy import tenant_session
from schema.node import to_global_id
from tests.api import gql, token_for
from tests.factories import make_org

Sessionmaker = async_sessionmaker[AsyncSession]
S = models.ContentStatus
D = models.Difficulty
BASE = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)
PAGE_SIZE = 3


def at(hours: int) -> datetime:
    return BASE + timedelta(hours=hours)


@dataclass(frozen=True)
class Row:
    """One content of the catalog: what the orders and filters look at."""

    title: str
    created: int  # hours after BASE
    status: models.ContentStatus
    published: int | None
    difficulty: models.Difficulty
    author: int  # index into USERS
    tags: tuple[str, ...]
    scores: tuple[int, ...]
    body: str = "Notes."


# Authors: user 1 ("A") and user 2 ("B"); raters: users 3, 5 and 7.
CONTENTS = [
    Row("Algebra", 0, S.PUBLISHED, 5, D.BEGINNER, 1, ("Algebra",), (4,)),
    Row("Algebra", 1, S.PUBLISHED, 5, D.ADVANCED, 1, ("Algebra", "python"), (5, 3)),
    Row("Biology", 1, S.DRAFT, None, D.BEGINNER, 1, ("python",), (), "How photosynthesis works."),
    Row("Biology", 2, S.PUBLISHED, 2, D.INTERMEDIATE, 2, (), (4, 4)),
    Row("Biology", 2, S.ARCHIVED, 3, D.ADVANCED, 1, ("python",), (2,)),
    Row("Chemistry", 2, S.PUBLISHED, 3, D.BEGINNER, 1, ("Algebra",), (3, 5)),
    Row("Drawing", 3, S.DRAFT, None, D.BEGINNER, 2, (), ()),
    Row("Drawing", 4, S.PUBLISHED, 6, D.INTERMEDIATE, 1, ("python", "Algebra"), (4,)),
    Row("Economics", 4, S.PUBLISHED, 6, D.ADVANCED, 2, (), (1,)),
    Row("French", 5, S.PUBLISHED, 7, D.BEGINNER, 1, (), (4, 5, 3)),
    Row("French", 5, S.DRAFT, None, D.INTERMEDIATE, 1, ("Algebra",), ()),
]
R = models.Role
US = models.UserStatus
# (full name, created, role, status); user 0 is the admin who reads.
USERS = [
    ("Ada", 0, R.ADMIN, US.ACTIVE),
    ("Ben", 0, R.INSTRUCTOR, US.ACTIVE),
    ("Ada", 1, R.INSTRUCTOR, US.ACTIVE),
    ("Cy", 1, R.STUDENT, US.ACTIVE),
    ("Cy", 1, R.STUDENT, US.SUSPENDED),
    ("Dee", 2, R.STUDENT, US.ACTIVE),
    ("Eve", 3, R.STUDENT, US.DEACTIVATED),
    ("Eve", 3, R.STUDENT, US.ACTIVE),
    ("Flo", 4, R.STUDENT, US.INVITED),
    ("Gus 100%", 4, R.STUDENT, US.ACTIVE),
    ("Cy", 5, R.STUDENT, US.ACTIVE),
]
RATERS = (3, 5, 7)
TAGS = ["Algebra", "python", "Zoology", "art", "Biology", "chemistry", "Music"]
# Threads on the last published content ("French", index 9): hours, with duplicates.
THREAD_HOURS = [6, 6, 7, 8, 8, 8, 9, 10]


@dataclass(frozen=True)
class Catalog:
    viewer: models.User
    users: list[models.User]
    contents: list[models.Content]
    tags: dict[str, models.Tag]
    threads: list[models.Comment]


async def make_catalog(sessionmaker: Sessionmaker) -> Catalog:
    org = await make_org(sessionmaker)
    async with tenant_session(sessionmaker, org.id) as db:
        users = [
            models.User(
                id=uuid4(),
                email=f"user{i}@example.com",
                username=f"user{i}",
                full_name=name,
                role=role,
                status=status,
                created_at=at(hours),
            )
            for i, (name, hours, role, status) in enumerate(USERS)
        ]
        db.add_all(users)
        await db.flush()
        tags = {name: models.Tag(id=uuid4(), name=name) for name in TAGS}
        contents = [
            models.Content(
                id=uuid4(),
                author_id=users[row.author].id,
                title=row.title,
                body=row.body,
                status=row.status,
                difficulty=row.difficulty,
                published_at=None if row.published is None else at(row.published),
                created_at=at(row.created),
            )
            for row in CONTENTS
        ]
        db.add_all([*tags.values(), *contents])
        await db.flush()
        for row, content in zip(CONTENTS, contents, strict=True):
            db.add_all(
                models.ContentTag(content_id=content.id, tag_id=tags[t].id) for t in row.tags
            )
            db.add_all(
                models.Rating(content_id=content.id, user_id=users[rater].id, score=score)
                for rater, score in zip(RATERS, row.scores, strict=False)
            )
        threads = [
            models.Comment(
                id=uuid4(),
                content_id=contents[9].id,
                author_id=users[3 + i % 3].id,
                body=f"thread {i}",
                created_at=at(hours),
            )
            for i, hours in enumerate(THREAD_HOURS)
        ]
        db.add_all(threads)
        await db.flush()
        db.add_all(
            models.Comment(
                content_id=thread.content_id,
                author_id=users[1].id,
                parent_id=thread.id,
                body="a reply",
                created_at=at(11),
            )
            for thread in threads[:2]
        )
        await db.flush()
    return Catalog(users[0], users, contents, tags, threads)


def gid(row: Any) -> str:
    return to_global_id(type(row).__name__, row.id)


# --- expected orders, computed here from the same rows ------------------------------------------


def _average(row: Row) -> Fraction:
    return Fraction(sum(row.scores), len(row.scores)) if row.scores else Fraction(0)


CONTENT_KEYS: dict[str, Callable[[Row], Any]] = {
    "CREATED_AT": lambda row: row.created,
    "TITLE": lambda row: row.title,
    "PUBLISHED_AT": lambda row: row.created if row.published is None else row.published,
    "RATING": _average,
}
USER_KEYS: dict[str, Callable[[tuple[Any, ...]], Any]] = {
    "CREATED_AT": lambda user: user[1],
    "FULL_NAME": lambda user: user[0],
}


def expected_order(order: str, rows: list[Any], ids: list[UUID], keys: dict[str, Any]) -> list[int]:
    """Indexes of `rows` in the order's sequence: its key, then the id, both flipped for DESC."""
    field, _, direction = order.rpartition("_")
    indexes = sorted(range(len(rows)), key=lambda i: (keys[field](rows[i]), ids[i]))
    return indexes[::-1] if direction == "DESC" else indexes


# --- walking a connection -----------------------------------------------------------------------

CONNECTION_ARGS = "first: $first, after: $after, last: $last, before: $before"
CONNECTION_VARS = "$first: Int, $after: String, $last: Int, $before: String"
SELECTION = (
    "edges { cursor node { id } } pageInfo { hasNextPage hasPreviousPage startCursor endCursor }"
)

Fetch = Callable[[dict[str, Any]], Any]


@dataclass(frozen=True)
class Walk:
    name: str
    query: str
    path: tuple[str, ...]  # keys from `data` down to the connection
    order: str | None = None
    parent: str | None = None  # "content" or "author": the node the nested query starts from


def _walks() -> list[Walk]:
    walks = []
    for order in (o for field in CONTENT_KEYS for o in (f"{field}_ASC", f"{field}_DESC")):
        walks.append(
            Walk(
                f"contents-{order}",
                f"query ({CONNECTION_VARS}) {{ contents({CONNECTION_ARGS}, orderBy: {order})"
                f" {{ {SELECTION} }} }}",
                ("contents",),
                order,
            )
        )
        walks.append(
            Walk(
                f"User.contents-{order}",
                f"query ($id: ID!, {CONNECTION_VARS}) {{ node(id: $id) {{ ... on User {{"
                f" contents({CONNECTION_ARGS}, orderBy: {order}) {{ {SELECTION} }} }} }} }}",
                ("node", "contents"),
                order,
                parent="author",
            )
        )
    for order in (o for field in USER_KEYS for o in (f"{field}_ASC", f"{field}_DESC")):
        walks.append(
            Walk(
                f"users-{order}",
                f"query ({CONNECTION_VARS}) {{ users({CONNECTION_ARGS}, orderBy: {order})"
                f" {{ {SELECTION} }} }}",
                ("users",),
                order,
            )
        )
    walks.append(
        Walk(
            "tags",
            f"query ({CONNECTION_VARS}) {{ tags({CONNECTION_ARGS}) {{ {SELECTION} }} }}",
            ("tags",),
        )
    )
    walks.append(
        Walk(
            "Content.comments",
            f"query ($id: ID!, {CONNECTION_VARS}) {{ node(id: $id) {{ ... on Content {{"
            f" comments({CONNECTION_ARGS}) {{ {SELECTION} }} }} }} }}",
            ("node", "comments"),
            parent="content",
        )
    )
    return walks


WALKS = _walks()


def expected_ids(walk: Walk, catalog: Catalog) -> list[str]:
    if walk.name.startswith("contents"):
        assert walk.order is not None
        ids = [c.id for c in catalog.contents]
        return [
            gid(catalog.contents[i])
            for i in expected_order(walk.order, CONTENTS, ids, CONTENT_KEYS)
        ]
    if walk.name.startswith("User.contents"):
        assert walk.order is not None
        mine = [i for i, row in enumerate(CONTENTS) if row.author == 1]
        rows, ids = [CONTENTS[i] for i in mine], [catalog.contents[i].id for i in mine]
        return [
            gid(catalog.contents[mine[i]])
            for i in expected_order(walk.order, rows, ids, CONTENT_KEYS)
        ]
    if walk.name.startswith("users"):
        assert walk.order is not None
        ids = [u.id for u in catalog.users]
        return [gid(catalog.users[i]) for i in expected_order(walk.order, USERS, ids, USER_KEYS)]
    if walk.name == "tags":
        return [gid(catalog.tags[name]) for name in sorted(TAGS, key=str.lower)]
    threads = sorted(catalog.threads, key=lambda c: (c.created_at, c.id))
    return [gid(thread) for thread in threads]


async def walk_pages(fetch: Fetch, *, forwards: bool) -> list[dict[str, Any]]:
    pages: list[dict[str, Any]] = []
    cursor = None
    while len(pages) < 20:
        if forwards:
            page = await fetch({"first": PAGE_SIZE, "after": cursor})
        else:
            page = await fetch({"last": PAGE_SIZE, "before": cursor})
        pages.append(page)
        info = page["pageInfo"]
        edges = page["edges"]
        assert info["startCursor"] == (edges[0]["cursor"] if edges else None)
        assert info["endCursor"] == (edges[-1]["cursor"] if edges else None)
        if not info["hasNextPage" if forwards else "hasPreviousPage"]:
            return pages
        assert len(edges) == PAGE_SIZE
        cursor = info["endCursor" if forwards else "startCursor"]
    raise AssertionError("the walk does not end")


def _ids(pages: list[dict[str, Any]]) -> list[str]:
    return [edge["node"]["id"] for page in pages for edge in page["edges"]]


@pytest.mark.parametrize("walk", WALKS, ids=[walk.name for walk in WALKS])
async def test_walk_forwards_and_backwards(
    sessionmaker: Sessionmaker, settings: Settings, client: httpx.AsyncClient, walk: Walk
) -> None:
    catalog = await make_catalog(sessionmaker)
    token = token_for(settings, catalog.viewer)
    parent = {"author": gid(catalog.users[1]), "content": gid(catalog.contents[9])}

    async def fetch(arguments: dict[str, Any]) -> Any:
        variables = {"first": None, "after": None, "last": None, "before": None, **arguments}
        if walk.parent is not None:
            variables["id"] = parent[walk.parent]
        data = (await gql(client, walk.query, variables, token=token)).data
        for key in walk.path:
            data = data[key]
        return data

    expected = expected_ids(walk, catalog)
    assert len(expected) > 2 * PAGE_SIZE

    forwards = await walk_pages(fetch, forwards=True)
    assert forwards[0]["pageInfo"]["hasPreviousPage"] is False
    assert forwards[-1]["pageInfo"]["hasNextPage"] is False
    assert all(page["pageInfo"]["hasPreviousPage"] for page in forwards[1:])
    assert _ids(forwards) == expected

    backwards = await walk_pages(fetch, forwards=False)
    assert backwards[0]["pageInfo"]["hasNextPage"] is False
    assert backwards[-1]["pageInfo"]["hasPreviousPage"] is False
    assert all(page["pageInfo"]["hasNextPage"] for page in backwards[1:])
    # Each backward page is in list order; the pages come last to first.
    assert _ids(backwards[::-1]) == expected


# --- totalCount -------------------------------------------------------------------------------


async def test_total_count_is_right_and_only_computed_when_asked(
    sessionmaker: Sessionmaker, settings: Settings, client: httpx.AsyncClient
) -> None:
    catalog = await make_catalog(sessionmaker)
    token = token_for(settings, catalog.viewer)
    content = gid(catalog.contents[9])
    cases = [
        ("{ contents(first: 2) { %s edges { node { id } } } }", {}, 11),
        (
            "{ contents(first: 2, filter: {status: [DRAFT]}) { %s edges { node { id } } } }",
            {},
            3,
        ),
        ("{ users(first: 2) { %s edges { node { id } } } }", {}, len(USERS)),
        ("{ tags(first: 2) { %s edges { node { id } } } }", {}, len(TAGS)),
        # Thread starts only: the replies hang under their thread.
        (
            "query ($id: ID!) { node(id: $id) { ... on Content { commentCount"
            " comments(first: 2) { %s edges { node { id } } } } } }",
            {"id": content},
            len(THREAD_HOURS),
        ),
        (
            "query ($id: ID!) { node(id: $id) { ... on User {"
            " contents(first: 2) { %s edges { node { id } } } } } }",
            {"id": gid(catalog.users[1])},
            sum(row.author == 1 for row in CONTENTS),
        ),
    ]
    for query, variables, total in cases:
        counted = await gql(client, query % "totalCount", variables, token=token)
        plain = await gql(client, query % "", variables, token=token)
        connection = next(iter(counted.data.values()))
        connection = connection.get("comments") or connection.get("contents") or connection
        assert connection["totalCount"] == total, query
        assert len(connection["edges"]) == 2
        assert plain.statements == counted.statements - 1, query
    comment_count = await gql(client, cases[4][0] % "", {"id": content}, token=token)
    assert comment_count.data["node"]["commentCount"] == len(THREAD_HOURS) + 2


# --- bad arguments ----------------------------------------------------------------------------


def forged_cursor(order: str, values: list[Any]) -> str:
    raw = json.dumps({"o": order, "v": values}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


NIL = "00000000-0000-0000-0000-000000000000"
CONTENTS_PAGE = (
    "query ($after: String, $before: String) { contents(%s, after: $after, before: $before)"
    " { edges { node { id } } } }"
)
BAD_ARGUMENTS: dict[str, tuple[str, dict[str, Any]]] = {
    "first above the maximum": (CONTENTS_PAGE % "first: 101", {}),
    "last above the maximum": (CONTENTS_PAGE % "last: 101", {}),
    "negative first": (CONTENTS_PAGE % "first: -1", {}),
    "negative last": (CONTENTS_PAGE % "last: -1", {}),
    "first and last": (CONTENTS_PAGE % "first: 2, last: 2", {}),
    "garbage after": (CONTENTS_PAGE % "first: 2", {"after": "garbage"}),
    "garbage before": (CONTENTS_PAGE % "last: 2", {"before": "!!not base64!!"}),
    "json that is no cursor": (CONTENTS_PAGE % "first: 2", {"after": "WzEsMiwzXQ"}),  # [1,2,3]
    "cursor of another order": (
        CONTENTS_PAGE % "first: 2",
        {"after": forged_cursor("TITLE_ASC", ["Algebra", NIL])},
    ),
    "uuid that is a number": (
        CONTENTS_PAGE % "first: 2",
        {"after": forged_cursor("CREATED_AT_DESC", ["2024-03-01T09:00:00+00:00", 7])},
    ),
    "time without offset": (
        CONTENTS_PAGE % "first: 2",
        {"after": forged_cursor("CREATED_AT_DESC", ["2024-03-01T09:00:00", NIL])},
    ),
    "time out of range": (
        CONTENTS_PAGE % "first: 2",
        {"after": forged_cursor("CREATED_AT_DESC", ["0001-01-01T00:00:00+05:00", NIL])},
    ),
    "NUL in a title": (
        CONTENTS_PAGE % "first: 2, orderBy: TITLE_ASC",
        {"after": forged_cursor("TITLE_ASC", ["a\u0000b", NIL])},
    ),
    "rating too large": (
        CONTENTS_PAGE % "first: 2, orderBy: RATING_ASC",
        {"after": forged_cursor("RATING_ASC", ["1e999999", NIL])},
    ),
    "too many values": (
        CONTENTS_PAGE % "first: 2",
        {"after": forged_cursor("CREATED_AT_DESC", ["2024-03-01T09:00:00+00:00", NIL, 1])},
    ),
    "users: first above the maximum": ("{ users(first: 101) { edges { node { id } } } }", {}),
    "tags: negative last": ("{ tags(last: -5) { edges { node { id } } } }", {}),
    "tags: cursor of contents": (
        "query ($after: String) { tags(first: 2, after: $after) { edges { node { id } } } }",
        {"after": forged_cursor("CREATED_AT_DESC", ["2024-03-01T09:00:00+00:00", NIL])},
    ),
    "search: first above the maximum": (
        '{ search(query: "notes", first: 101) { edges { node { id } } } }',
        {},
    ),
    "search: blank query": ('{ search(query: "   ") { edges { node { id } } } }', {}),
    "search: NUL": ('{ search(query: "a\\u0000b") { edges { node { id } } } }', {}),
    "filter: text with NUL": (
        '{ contents(filter: {text: "a\\u0000b"}) { edges { node { id } } } }',
        {},
    ),
    "filter: tag with NUL": (
        '{ contents(filter: {tags: ["a\\u0000b"]}) { edges { node { id } } } }',
        {},
    ),
    "filter: more tags than allowed": (
        "query ($tags: [String!]) { contents(filter: {tags: $tags}) { edges { node { id } } } }",
        {"tags": [f"tag{i}" for i in range(5000)]},
    ),
    "filter: users text with NUL": (
        '{ users(filter: {text: "a\\u0000b"}) { edges { node { id } } } }',
        {},
    ),
    "filter: garbage authorId": (
        '{ contents(filter: {authorId: ["nope"]}) { edges { node { id } } } }',
        {},
    ),
    "filter: createdAfter out of range": (
        '{ contents(filter: {createdAfter: "0001-01-01T00:00:00+05:00"})'
        " { edges { node { id } } } }",
        {},
    ),
}


@pytest.mark.parametrize("case", BAD_ARGUMENTS)
async def test_bad_arguments_are_bad_user_input(
    sessionmaker: Sessionmaker, settings: Settings, client: httpx.AsyncClient, case: str
) -> None:
    org = await make_org(sessionmaker)
    async with tenant_session(sessionmaker, org.id) as db:
        viewer = models.User(
            email="v@example.com", username="viewer", full_name="V", role=models.Role.ADMIN
        )
        db.add(viewer)
    query, variables = BAD_ARGUMENTS[case]
    response = await gql(client, query, variables, token=token_for(settings, viewer))
    assert response.status == 200, response.body
    assert response.error_codes == ["BAD_USER_INPUT"], response.body
    assert response.body["data"] is None


async def test_bad_arguments_of_nested_connections(
    sessionmaker: Sessionmaker, settings: Settings, client: httpx.AsyncClient
) -> None:
    catalog = await make_catalog(sessionmaker)
    token = token_for(settings, catalog.viewer)
    title_cursor = (
        await gql(
            client,
            "{ contents(first: 1, orderBy: TITLE_ASC) { pageInfo { endCursor } } }",
            token=token,
        )
    ).data["contents"]["pageInfo"]["endCursor"]
    content, author = gid(catalog.contents[9]), gid(catalog.users[1])
    nested = [
        ("... on Content { comments(first: 101) { edges { cursor } } }", content, None),
        ("... on Content { comments(first: 1, last: 1) { edges { cursor } } }", content, None),
        ("... on Content { comments(first: 1, after: $c) { edges { cursor } } }", content, "x"),
        (
            "... on User { contents(first: 1, after: $c) { edges { cursor } } }",
            author,
            title_cursor,  # a TITLE_ASC cursor where CREATED_AT_DESC is walked
        ),
        ("... on User { ratings(last: -1) { edges { cursor } } }", author, None),
    ]
    for selection, parent, cursor in nested:
        response = await gql(
            client,
            f"query ($id: ID!{', $c: String' if cursor else ''})"
            f" {{ node(id: $id) {{ {selection} }} }}",
            {"id": parent, "c": cursor},
            token=token,
        )
        assert response.status == 200
        assert response.error_codes == ["BAD_USER_INPUT"], (selection, response.body)
    # The same TITLE_ASC cursor is good for the order it came from.
    response = await gql(
        client,
        "query ($c: String) { contents(first: 1, after: $c, orderBy: TITLE_ASC)"
        " { edges { node { title } } } }",
        {"c": title_cursor},
        token=token,
    )
    assert response.data["contents"]["edges"] == [{"node": {"title": "Algebra"}}]


# --- filters ----------------------------------------------------------------------------------


def _with(predicate: Callable[[Row], bool]) -> set[int]:
    return {i for i, row in enumerate(CONTENTS) if predicate(row)}


CONTENT_FILTERS: dict[str, tuple[str, set[int]]] = {
    "status DRAFT": ("status: [DRAFT]", _with(lambda r: r.status is S.DRAFT)),
    "status PUBLISHED or ARCHIVED": (
        "status: [PUBLISHED, ARCHIVED]",
        _with(lambda r: r.status is not S.DRAFT),
    ),
    "difficulty": ("difficulty: [ADVANCED]", _with(lambda r: r.difficulty is D.ADVANCED)),
    "tag, any case": ('tags: ["PYTHON"]', _with(lambda r: "python" in r.tags)),
    "every tag": (
        'tags: ["python", "algebra"]',
        _with(lambda r: {"python", "Algebra"} <= set(r.tags)),
    ),
    "unknown tag": ('tags: ["nope"]', set()),
    "createdAfter is inclusive": (
        f'createdAfter: "{at(2).isoformat()}"',
        _with(lambda r: r.created >= 2),
    ),
    "createdBefore is exclusive": (
        f'createdBefore: "{at(2).isoformat()}"',
        _with(lambda r: r.created < 2),
    ),
    "created between": (
        f'createdAfter: "{at(1).isoformat()}", createdBefore: "{at(4).isoformat()}"',
        _with(lambda r: 1 <= r.created < 4),
    ),
    "text": ('text: "photosynthesis"', _with(lambda r: "photosynthesis" in r.body)),
    "text matches titles": ('text: "biology"', _with(lambda r: r.title == "Biology")),
    "all together": (
        'status: [PUBLISHED], tags: ["algebra"], difficulty: [BEGINNER]',
        _with(
            lambda r: r.status is S.PUBLISHED and "Algebra" in r.tags and r.difficulty is D.BEGINNER
        ),
    ),
}


async def test_content_filters_narrow(
    sessionmaker: Sessionmaker, settings: Settings, client: httpx.AsyncClient
) -> None:
    catalog = await make_catalog(sessionmaker)
    token = token_for(settings, catalog.viewer)
    ids = [gid(content) for content in catalog.contents]

    async def filtered(arguments: str) -> list[str]:
        query = (
            f"{{ contents(first: 100, filter: {{{arguments}}}) {{ totalCount nodes {{ id }} }} }}"
        )
        connection = (await gql(client, query, token=token)).data["contents"]
        assert connection["totalCount"] == len(connection["nodes"])
        return [node["id"] for node in connection["nodes"]]

    for name, (arguments, expected) in CONTENT_FILTERS.items():
        assert 0 <= len(expected) < len(CONTENTS), name
        found = await filtered(arguments)
        # Still in the default order (newest first, ties by id descending).
        order = expected_order(
            "CREATED_AT_DESC", CONTENTS, [c.id for c in catalog.contents], CONTENT_KEYS
        )
        assert found == [ids[i] for i in order if i in expected], name

    by_author = await filtered(f'authorId: ["{gid(catalog.users[2])}"]')
    assert {ids.index(i) for i in by_author} == _with(lambda r: r.author == 2)
    either = await filtered(f'authorId: ["{gid(catalog.users[2])}", "{gid(catalog.users[1])}"]')
    assert len(either) == len(CONTENTS)
    # The id of another type is not the id of a user.
    response = await gql(
        client,
        f'{{ contents(filter: {{authorId: ["{ids[0]}"]}}) {{ totalCount }} }}',
        token=token,
    )
    assert response.error_codes == ["BAD_USER_INPUT"]


USER_FILTERS: dict[str, tuple[str, set[int]]] = {
    "role": ("role: [INSTRUCTOR]", {1, 2}),
    "roles": ("role: [ADMIN, INSTRUCTOR]", {0, 1, 2}),
    "status": ("status: [SUSPENDED, DEACTIVATED]", {4, 6}),
    "role and status": ("role: [STUDENT], status: [ACTIVE]", {3, 5, 7, 9, 10}),
    "text in the full name, any case": ('text: "aDa"', {0, 2}),
    "text in the username": ('text: "user10"', {10}),
    "text in the email": ('text: "user5@example"', {5}),
    "a LIKE wildcard is literal": ('text: "%"', {9}),
    "an underscore is literal": ('text: "_"', set()),
}


async def test_user_filters_narrow(
    sessionmaker: Sessionmaker, settings: Settings, client: httpx.AsyncClient
) -> None:
    catalog = await make_catalog(sessionmaker)
    token = token_for(settings, catalog.viewer)
    ids = [gid(user) for user in catalog.users]
    for name, (arguments, expected) in USER_FILTERS.items():
        query = f"{{ users(first: 100, filter: {{{arguments}}}) {{ totalCount nodes {{ id }} }} }}"
        connection = (await gql(client, query, token=token)).data["users"]
        assert {ids.index(node["id"]) for node in connection["nodes"]} == expected, name
        assert connection["totalCount"] == len(expected), name


# --- search -----------------------------------------------------------------------------------

SEARCH = (
    'query ($after: String) { search(query: "photosynthesis", first: 1, after: $after)'
    " { edges { node { id } } pageInfo { hasNextPage hasPreviousPage endCursor } } }"
)


async def test_search_ranks_titles_first_and_paginates(
    sessionmaker: Sessionmaker, settings: Settings, client: httpx.AsyncClient
) -> None:
    org = await make_org(sessionmaker)
    async with tenant_session(sessionmaker, org.id) as db:
        viewer = models.User(
            email="s@example.com", username="searcher", full_name="S", role=models.Role.STUDENT
        )
        db.add(viewer)
        await db.flush()
        # Listed body match first: the ranks, not the insertion order, must decide.
        rows = [
            models.Content(
                id=uuid4(),
                author_id=viewer.id,
                title=title,
                summary=summary,
                body=body,
                status=models.ContentStatus.PUBLISHED,
                published_at=BASE,
            )
            for title, summary, body in [
                ("Leaves", None, "Leaves do photosynthesis all day."),
                ("Plants", "All about photosynthesis.", "Green things."),
                ("Photosynthesis explained", None, "About plants."),
                ("Photosynthesis notes", None, "About plants."),
                ("Photosynthesis notes", None, "About plants."),
                ("Rocks", None, "Granite and basalt."),
            ]
        ]
        db.add_all(rows)
    token = token_for(settings, viewer)
    found, after = [], None
    for _ in range(10):
        connection = (await gql(client, SEARCH, {"after": after}, token=token)).data["search"]
        found += [edge["node"]["id"] for edge in connection["edges"]]
        assert connection["pageInfo"]["hasPreviousPage"] is (after is not None)
        if not connection["pageInfo"]["hasNextPage"]:
            break
        after = connection["pageInfo"]["endCursor"]
    # Title (weight A) above summary (B) above body (C); equal ranks by id, descending; the
    # unrelated content never shows.
    title_matches = sorted(rows[2:5], key=lambda row: row.id, reverse=True)
    assert found == [gid(row) for row in [*title_matches, rows[1], rows[0]]]
