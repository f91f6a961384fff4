"""Every connection filters, sorts and aggregates alike: `Content.comments`, `Comment.replies`,
`User.comments` and `User.ratings` as much as the root lists, against the rows of each list
computed in Python, as each role.

The world of `tests/test_where.py`, with a thread under the first comment: a live reply, and a
deleted one that stays as a tombstone because a live reply hangs below it. A tombstone shows no
author, so no filter, sort or group may tell who wrote it either.
"""

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import loaders.compiled
import models
import schema.policy
from gql_server.settings import Settings
from gql_server.tenancy import tenant_session
from schema.node import to_global_id
from schema.policy import HiddenField
from tests.api import gql, token_for
from tests.test_sorting import Asc, Desc
from tests.test_where import (
    VIEWERS,
    Reference,
    Viewer,
    World,
    at,
    comparison_cases,
    make_world,
    read_back,
    relation_cases,
)

Sessionmaker = async_sessionmaker[AsyncSession]


@pytest.fixture(scope="module")
async def world(sessionmaker: Sessionmaker) -> World:
    world = await make_world(sessionmaker)
    await make_world(sessionmaker)  # another tenant: none of its rows may show or count
    (start,) = [row for row in world.rows["Comment"] if row["body"] == "great"]
    users = world.users
    async with tenant_session(sessionmaker, world.org.id) as db:
        live = models.Comment(
            content_id=start["contentId"],
            author_id=users["teach"].id,
            parent_id=start["id"],
            body="indeed",
            created_at=at(50),
        )
        tombstone = models.Comment(
            content_id=start["contentId"],
            author_id=users["other"].id,
            parent_id=start["id"],
            body="regret",
            created_at=at(51),
            deleted_at=at(60),
        )
        db.add_all([live, tombstone])
        (biology,) = [row for row in world.rows["Content"] if row["title"] == "biology"]
        db.add_all(  # three more threads, all at the same time: ties
            models.Comment(
                content_id=biology["id"], author_id=users[name].id, body=name, created_at=at(45)
            )
            for name in ("teach", "student", "quiet")
        )
        await db.flush()
        db.add(
            models.Comment(
                content_id=start["contentId"],
                author_id=users["quiet"].id,
                parent_id=tombstone.id,
                body="below",
                created_at=at(52),
            )
        )
    await read_back(sessionmaker, world)
    return world


class Lists(Reference):
    """The reference, taught the lists the connections hold (threads with their tombstones)."""

    def comment(self, pk: Any) -> dict[str, Any] | None:
        return next((row for row in self.world.rows["Comment"] if row["id"] == pk), None)

    def in_thread(self, row: dict[str, Any]) -> bool:
        if self.content(row["contentId"]) is None:
            return False
        if row["deletedAt"] is None:
            return True
        children = [c for c in self.world.rows["Comment"] if c["parentId"] == row["id"]]
        return any(self.in_thread(child) for child in children)

    def listed(self, kind: str, parent: dict[str, Any], name: str) -> list[dict[str, Any]]:
        comments = self.world.rows["Comment"]
        if (kind, name) == ("Content", "comments"):
            return [
                c
                for c in comments
                if c["contentId"] == parent["id"] and c["parentId"] is None and self.in_thread(c)
            ]
        if (kind, name) == ("Comment", "replies"):
            return [c for c in comments if c["parentId"] == parent["id"] and self.in_thread(c)]
        return list(self.related(parent, name))  # User.comments, User.ratings: live rows

    def related(self, row: dict[str, Any], name: str) -> Any:
        if (row["_type"], name) == ("Comment", "author") and row["deletedAt"] is not None:
            return None  # a tombstone shows no author
        return super().related(row, name)


@dataclass(frozen=True)
class Nested:
    """A connection under its parents: the query that lists it under every parent at once."""

    parent: str  # the parent's type
    name: str
    child: str  # the listed type
    # With %(vars)s for the variables, %(args)s for the connection's arguments and %(select)s
    # for its selection.
    query: str

    def parents(self, reference: Lists) -> list[dict[str, Any]]:
        if self.parent == "Comment":  # the thread starts of every content the viewer sees
            return [
                c
                for content in reference.visible("Content")
                for c in reference.listed("Content", content, "comments")
            ]
        return reference.visible(self.parent)

    def found(self, data: dict[str, Any]) -> dict[Any, Any]:
        """Parent global id -> the connection under it, from an answer to `query`."""
        if self.parent == "Comment":
            return {
                start["id"]: start["replies"]
                for content in data["contents"]["nodes"]
                for start in content["comments"]["nodes"]
            }
        root = "contents" if self.parent == "Content" else "users"
        return {node["id"]: node[self.name] for node in data[root]["nodes"]}

    def key(self, row: dict[str, Any]) -> str:
        if self.child == "Rating":
            return f"{row['contentId']}/{row['userId']}"
        return to_global_id(self.child, row["id"])


NODE_KEY = {"Rating": "content { id } user { id }", "Comment": "id"}
NESTED = [
    Nested(
        "Content",
        "comments",
        "Comment",
        "query (%(vars)s) { contents(first: 10) { nodes { id"
        " comments(%(args)s) { %(select)s } } } }",
    ),
    Nested(
        "Comment",
        "replies",
        "Comment",
        "query (%(vars)s) { contents(first: 10) { nodes { comments(first: 10) {"
        " nodes { id replies(%(args)s) { %(select)s } } } } } }",
    ),
    Nested(
        "User",
        "comments",
        "Comment",
        "query (%(vars)s) { users(first: 10) { nodes { id comments(%(args)s) { %(select)s } } } }",
    ),
    Nested(
        "User",
        "ratings",
        "Rating",
        "query (%(vars)s) { users(first: 10) { nodes { id ratings(%(args)s) { %(select)s } } } }",
    ),
]
IDS = {f"{nested.parent}.{nested.name}": nested for nested in NESTED}


def node_key(nested: Nested, node: dict[str, Any]) -> str:
    if nested.child == "Rating":
        return f"{node['content']['id']}/{node['user']['id']}"
    return str(node["id"])


def rating_key(world: World, row: dict[str, Any]) -> str:
    return f"{to_global_id('Content', row['contentId'])}/{to_global_id('User', row['userId'])}"


def want_key(world: World, nested: Nested, row: dict[str, Any]) -> str:
    return rating_key(world, row) if nested.child == "Rating" else nested.key(row)


async def lists(
    client: httpx.AsyncClient, token: str, nested: Nested, variables: dict[str, Any]
) -> dict[Any, set[str]]:
    args = "first: 10, where: $where"
    select = f"nodes {{ {NODE_KEY[nested.child]} }} totalCount"
    declared = f"$where: {nested.child}Where"
    query = nested.query % {"vars": declared, "args": args, "select": select}
    response = await gql(client, query, variables, token=token)
    assert not response.body.get("errors"), response.body
    found = {}
    for parent, connection in nested.found(response.data).items():
        keys = {node_key(nested, node) for node in connection["nodes"]}
        assert connection["totalCount"] == len(keys)
        found[parent] = keys
    return found


@pytest.mark.parametrize("viewer", VIEWERS)
@pytest.mark.parametrize("nested", NESTED, ids=lambda nested: f"{nested.parent}.{nested.name}")
async def test_every_filter_of_every_connection_matches_the_reference(
    client: httpx.AsyncClient, settings: Settings, world: World, viewer: str, nested: Nested
) -> None:
    user = world.users[viewer]
    token = token_for(settings, user)
    reference = Lists(world, Viewer(user))
    cases = [None, *comparison_cases(world, nested.child, Viewer(user))]
    cases += relation_cases(world, nested.child)
    assert len(cases) >= 10
    for where in cases:
        found = await lists(client, token, nested, {"where": where})
        want = {
            to_global_id(nested.parent, parent["id"]): {
                want_key(world, nested, row)
                for row in reference.listed(nested.parent, parent, nested.name)
                if where is None or reference.matches(row, where)
            }
            for parent in nested.parents(reference)
        }
        assert found == want, (viewer, where)


def test_the_world_has_a_tombstone_in_a_thread(world: World) -> None:
    reference = Lists(world, Viewer(world.users["admin"]))
    shown = [
        c for c in world.rows["Comment"] if c["deletedAt"] is not None and reference.in_thread(c)
    ]
    assert [c["body"] for c in shown] == ["regret"]


# --- sorting: keyset walks --------------------------------------------------------------------

SORTS: dict[str, list[list[dict[str, Any]]]] = {
    "Comment": [
        [{"content": {"title": "ASC"}}, {"createdAt": "DESC"}],
        [{"author": {"fullName": "DESC"}}],
        [{"replies": {"count": "DESC"}}, {"author": {"username": "ASC"}}],
        [{"updatedAt": "ASC"}],  # one transaction wrote them all: every one ties
    ],
    "Rating": [
        [{"score": "DESC"}],
        [{"createdAt": "ASC"}],  # ties: the content, then the user break them
        [{"content": {"title": "DESC"}}, {"user": {"fullName": "ASC"}}],
    ],
}


def sort_value(reference: Lists, row: dict[str, Any], key: dict[str, Any]) -> tuple[Any, str]:
    ((name, spec),) = key.items()
    if isinstance(spec, str):
        return row[name], spec
    ((inner, direction),) = spec.items()
    if inner == "count":
        return len(reference.related(row, name)), direction
    other = reference.related(row, name)
    return (None if other is None else other[inner]), direction


def reference_sorted(
    reference: Lists, nested: Nested, rows: list[dict[str, Any]], sort: list[dict[str, Any]]
) -> list[str]:
    def ordered(row: dict[str, Any]) -> list[Any]:
        parts: list[Any] = []
        for key in sort:
            value, direction = sort_value(reference, row, key)
            parts.append(Desc((value is None, value)) if direction == "DESC" else Asc(value))
        ties = [row["contentId"], row["userId"]] if nested.child == "Rating" else [row["id"]]
        return [*parts, *ties]

    return [want_key(reference.world, nested, row) for row in sorted(rows, key=ordered)]


async def walk(
    client: httpx.AsyncClient, token: str, nested: Nested, sort: Any, backwards: bool
) -> dict[Any, list[str]]:
    """Every parent's list, a page of 1 at a time (each parent's pages asked one by one)."""
    args = "where: $where, sort: $sort, first: $first, after: $after, last: $last, before: $before"
    select = (
        f"nodes {{ {NODE_KEY[nested.child]} }}"
        " pageInfo { hasNextPage hasPreviousPage startCursor endCursor }"
    )
    declared = (
        f"$where: {nested.child}Where, $sort: [{nested.child}Sort!], $first: Int,"
        " $after: String, $last: Int, $before: String"
    )
    query = nested.query % {"vars": declared, "args": args, "select": select}
    first = await gql(client, query, {"sort": sort, "first": 0}, token=token)
    walked: dict[Any, list[str]] = {}
    for parent in nested.found(first.data):
        seen: list[str] = []
        cursor = None
        for _ in range(30):
            page = {"last": 1, "before": cursor} if backwards else {"first": 1, "after": cursor}
            response = await gql(client, query, {"sort": sort, **page}, token=token)
            connection = nested.found(response.data)[parent]
            keys = [node_key(nested, node) for node in connection["nodes"]]
            info = connection["pageInfo"]
            if backwards:
                seen = keys + seen
                more, cursor = info["hasPreviousPage"], info["startCursor"]
            else:
                seen += keys
                more, cursor = info["hasNextPage"], info["endCursor"]
            if not more:
                break
        walked[parent] = seen
    return walked


@pytest.mark.parametrize("viewer", ["admin", "student"])
@pytest.mark.parametrize(
    ("name", "sort"),
    [
        (f"{nested.parent}.{nested.name}", sort)
        for nested in (NESTED[0], NESTED[2], NESTED[3])
        for sort in SORTS[nested.child]
    ],
    ids=str,
)
async def test_keyset_walks_on_nested_connections_match_the_reference_sort(
    client: httpx.AsyncClient, settings: Settings, world: World, viewer: str, name: str, sort: Any
) -> None:
    nested = IDS[name]
    user = world.users[viewer]
    reference = Lists(world, Viewer(user))
    token = token_for(settings, user)
    want = {
        to_global_id(nested.parent, parent["id"]): reference_sorted(
            reference, nested, reference.listed(nested.parent, parent, nested.name), sort
        )
        for parent in nested.parents(reference)
    }
    assert sum(len(rows) > 1 for rows in want.values()) >= 2  # walks with somewhere to go
    assert await walk(client, token, nested, sort, backwards=False) == want
    assert await walk(client, token, nested, sort, backwards=True) == want


async def test_a_thread_sorts_by_author_with_its_tombstone_as_no_author(
    client: httpx.AsyncClient, settings: Settings, world: World
) -> None:
    token = token_for(settings, world.users["admin"])
    response = await gql(
        client,
        """{ contents(where: {title: {eq: "algebra"}}) { nodes { comments(first: 5) { nodes {
          replies(first: 5, sort: [{author: {fullName: DESC}}]) {
            nodes { deleted author { fullName } } }
          } } } } }""",
        token=token,
    )
    (content,) = response.data["contents"]["nodes"]
    (start,) = [c for c in content["comments"]["nodes"] if c["replies"]["nodes"]]
    replies = [(r["deleted"], r["author"]) for r in start["replies"]["nodes"]]
    # NULLs first descending: the tombstone's hidden author ("cy") is no author at all.
    assert replies == [(True, None), (False, {"fullName": "ben"})]


async def test_statements_are_constant_in_page_size(
    client: httpx.AsyncClient, settings: Settings, world: World
) -> None:
    token = token_for(settings, world.users["admin"])
    query = """query ($first: Int) { users(first: $first) { nodes {
      comments(first: $first, where: {content: {status: {eq: PUBLISHED}}},
               sort: [{content: {title: ASC}}]) { nodes { id } }
      ratings(first: $first, where: {score: {gte: 2}}, sort: [{score: DESC}]) {
        nodes { score } } } } }"""
    counts = set()
    for first in (1, 3, 20):
        response = await gql(client, query, {"first": first}, token=token)
        assert not response.body.get("errors"), response.body
        counts.add(response.statements)
    assert counts == {4}  # the request's setup, the users, their comments, their ratings


async def test_nested_filters_and_sorts_are_priced(
    client: httpx.AsyncClient, settings: Settings, world: World
) -> None:
    token = token_for(settings, world.users["admin"])
    costs = []
    for args in ("", "(where: {score: {gt: 1}})", "(sort: [{content: {title: ASC}}])"):
        query = f"{{ users(first: 1) {{ nodes {{ ratings{args} {{ nodes {{ score }} }} }} }} }}"
        costs.append((await gql(client, query, token=token)).body["extensions"]["cost"])
    assert costs[1] == costs[0] + 1
    assert costs[2] == costs[0] + 10


# --- aggregates on connections -----------------------------------------------------------------


def by_id(reference: Lists, kind: str, global_id: str) -> dict[str, Any]:
    (row,) = [r for r in reference.visible(kind) if to_global_id(kind, r["id"]) == global_id]
    return row


def mean(values: list[int]) -> float | None:
    return round(sum(values) / len(values), 6) if values else None


@pytest.mark.parametrize("viewer", VIEWERS)
async def test_aggregates_on_every_connection_match_the_reference(
    client: httpx.AsyncClient, settings: Settings, world: World, viewer: str
) -> None:
    user = world.users[viewer]
    reference = Lists(world, Viewer(user))
    token = token_for(settings, user)
    response = await gql(
        client,
        """{
          contents(first: 1, where: {status: {neq: ARCHIVED}}) { aggregate { count
            groupBy(by: [STATUS]) { key { status } count } } }
          tags { aggregate { count } }
          users(first: 10) { aggregate { count } nodes { id
            comments(first: 1) { aggregate { count
              groupBy(by: [CONTENT]) { key { content { id } } count } } }
            ratings(first: 1, where: {score: {gte: 2}}) {
              aggregate { count sum { score } avg { score }
              min { score } max { score } groupBy(by: [SCORE]) { key { score } count } } }
          } }
          threads: contents(first: 10) { nodes { id comments(first: 1) { aggregate {
            groupBy(by: [AUTHOR]) { key { author { id } } count } } } } }
        }""",
        token=token,
    )
    data = response.data
    contents = [r for r in reference.visible("Content") if r["status"].value != "ARCHIVED"]
    assert data["contents"]["aggregate"]["count"] == len(contents)
    statuses = Counter(row["status"].value for row in contents)
    assert {
        g["key"]["status"]: g["count"] for g in data["contents"]["aggregate"]["groupBy"]
    } == statuses
    assert data["tags"]["aggregate"]["count"] == len(reference.visible("Tag"))
    assert data["users"]["aggregate"]["count"] == len(reference.visible("User"))
    for node in data["users"]["nodes"]:
        row = by_id(reference, "User", node["id"])
        comments = reference.listed("User", row, "comments")
        aggregate = node["comments"]["aggregate"]
        assert aggregate["count"] == len(comments)
        by_content = Counter(to_global_id("Content", c["contentId"]) for c in comments)
        assert {g["key"]["content"]["id"]: g["count"] for g in aggregate["groupBy"]} == by_content
        scores = [r["score"] for r in reference.listed("User", row, "ratings") if r["score"] >= 2]
        ratings = node["ratings"]["aggregate"]
        assert ratings["count"] == len(scores)
        assert ratings["sum"]["score"] == (float(sum(scores)) if scores else None)
        assert (None if ratings["avg"]["score"] is None else round(ratings["avg"]["score"], 6)) == (
            mean(scores)
        )
        assert ratings["min"]["score"] == min(scores, default=None)
        assert ratings["max"]["score"] == max(scores, default=None)
        assert {g["key"]["score"]: g["count"] for g in ratings["groupBy"]} == Counter(scores)
    for node in data["threads"]["nodes"]:
        row = by_id(reference, "Content", node["id"])
        threads = reference.listed("Content", row, "comments")
        authors = Counter(
            None if author is None else to_global_id("User", author["id"])
            for author in (reference.related(c, "author") for c in threads)
        )
        found = Counter(
            {
                (g["key"]["author"] and g["key"]["author"]["id"]): g["count"]
                for g in node["comments"]["aggregate"]["groupBy"]
            }
        )
        assert found == authors, node["id"]


async def test_a_thread_groups_its_tombstone_under_no_author(
    client: httpx.AsyncClient, settings: Settings, world: World
) -> None:
    token = token_for(settings, world.users["admin"])
    response = await gql(
        client,
        """{ contents(where: {title: {eq: "algebra"}}) { nodes { comments(first: 5) { nodes {
          replies(first: 1) { aggregate { count
            groupBy(by: [AUTHOR]) { key { author { fullName } } count } } }
        } } } } }""",
        token=token,
    )
    (content,) = response.data["contents"]["nodes"]
    groups = [
        Counter(
            {
                (g["key"]["author"] or {}).get("fullName"): g["count"]
                for g in c["replies"]["aggregate"]["groupBy"]
            }
        )
        for c in content["comments"]["nodes"]
    ]
    # The live reply under its author, the tombstone (by "cy") under none.
    assert Counter({"ben": 1, None: 1}) in groups


async def test_an_aggregate_is_one_statement_for_every_parent(
    client: httpx.AsyncClient, settings: Settings, world: World
) -> None:
    token = token_for(settings, world.users["admin"])
    query = """query ($first: Int) { users(first: $first) { nodes {
      contents { aggregate { count } } } } }"""
    grouped = """query ($first: Int) { users(first: $first) { nodes {
      ratings { aggregate { count groupBy(by: [CONTENT]) { count } } } } } }"""
    for first in (1, 5):
        response = await gql(client, query, {"first": first}, token=token)
        assert response.statements == 3  # setup, the users, one aggregate for all of them
        response = await gql(client, grouped, {"first": first}, token=token)
        assert response.statements == 4  # ... the whole aggregate, and the groups
    alone = await gql(
        client, "{ contents(where: {status: {eq: DRAFT}}) { aggregate { count } } }", token=token
    )
    assert alone.statements == 2  # no page is read when none is selected


async def test_an_aggregate_is_priced_once_per_connection(
    client: httpx.AsyncClient, settings: Settings, world: World
) -> None:
    token = token_for(settings, world.users["admin"])
    costs = {}
    for first in (0, 1, 50):
        for aggregate in ("", "aggregate { count groupBy(by: [STATUS]) { count } }"):
            query = f"{{ users(first: 2) {{ nodes {{ contents(first: {first}) {{ {aggregate}"
            query += " nodes { id } } } } }"
            response = await gql(client, query, token=token)
            costs[first, bool(aggregate)] = response.body["extensions"]["cost"]
    added = {first: costs[first, True] - costs[first, False] for first in (0, 1, 50)}
    assert added[0] == added[1] == added[50] > 2 * 20  # per parent: its groups (a list)
    assert costs[50, False] > costs[1, False]


async def test_the_fields_beside_lists_agree_with_aggregate(
    client: httpx.AsyncClient, settings: Settings, world: World
) -> None:
    token = token_for(settings, world.users["teach"])
    response = await gql(
        client,
        """{ contentsAggregate(where: {comments: {some: {}}}) { count max { version } }
             contents(where: {comments: {some: {}}}) { aggregate { count max { version } } } }""",
        token=token,
    )
    assert response.data["contentsAggregate"] == response.data["contents"]["aggregate"]


# --- fields a viewer may never read ----------------------------------------------------------


@pytest.fixture
def published_at_hidden() -> Iterator[None]:
    """`Content.publishedAt` as a field only admins read on every row, instructors on their own
    rows, students on none (the schema declares no such field today)."""
    declared = schema.policy.HIDDEN_FIELDS
    hidden = HiddenField(
        models.Content.published_at,
        owner=models.Content.author_id,
        on_anything=frozenset({models.Role.ADMIN}),
        on_own=frozenset({models.Role.INSTRUCTOR}),
    )
    # Statements are compiled once per shape: none compiled before may be reused meanwhile.
    loaders.compiled._TEMPLATES.clear()
    schema.policy.HIDDEN_FIELDS = (*declared, hidden)
    try:
        yield
    finally:
        schema.policy.HIDDEN_FIELDS = declared
        loaders.compiled._TEMPLATES.clear()


REFUSED = [
    ("{ contents(where: {publishedAt: {isNull: false}}) { nodes { id } } }", "where.publishedAt"),
    (
        "{ users(where: {contents: {some: {publishedAt: {isNull: true}}}}) { nodes { id } } }",
        "where.contents.some.publishedAt",
    ),
    (
        "{ contents(sort: [{title: ASC}, {publishedAt: DESC}]) { nodes { id } } }",
        "sort.1.publishedAt",
    ),
    (
        "{ users { nodes { comments(sort: [{content: {publishedAt: ASC}}]) { nodes { id } } } } }",
        "sort.0.content.publishedAt",
    ),
    (
        "{ contents { aggregate { groupBy(by: [STATUS, PUBLISHED_AT_MONTH]) { count } } } }",
        "by.1",
    ),
    ("{ contentsAggregate(where: {publishedAt: {isNull: true}}) { count } }", "where.publishedAt"),
]


@pytest.mark.usefixtures("published_at_hidden")
@pytest.mark.parametrize(("query", "argument"), REFUSED)
async def test_a_field_the_viewer_may_never_read_is_refused_with_its_path(
    client: httpx.AsyncClient, settings: Settings, world: World, query: str, argument: str
) -> None:
    student = await gql(client, query, token=token_for(settings, world.users["student"]))
    assert student.error_codes == ["BAD_USER_INPUT"], student.body
    (error,) = student.body["errors"]
    assert error["extensions"]["argument"] == argument
    for allowed in ("admin", "teach"):  # they read it on some rows or every row: it runs
        response = await gql(client, query, token=token_for(settings, world.users[allowed]))
        assert not response.body.get("errors"), (allowed, response.body)


@pytest.mark.usefixtures("published_at_hidden")
async def test_a_field_hidden_on_some_rows_reads_as_null_there(
    client: httpx.AsyncClient, settings: Settings, world: World
) -> None:
    teach = world.users["teach"]
    query = """{ contents(first: 100, where: {publishedAt: {isNull: false}}) { nodes { id } }
                 contentsAggregate { groupBy(by: [PUBLISHED_AT_MONTH]) { count } } }"""
    response = await gql(client, query, token=token_for(settings, teach))
    reference = Reference(world, Viewer(teach))
    own = {
        to_global_id("Content", row["id"])
        for row in reference.visible("Content")
        if row["authorId"] == teach.id and row["publishedAt"] is not None
    }
    assert {node["id"] for node in response.data["contents"]["nodes"]} == own
    counts = sorted(g["count"] for g in response.data["contentsAggregate"]["groupBy"])
    assert counts == sorted([len(own), len(reference.visible("Content")) - len(own)])


def test_the_fixture_restores_the_declared_fields() -> None:
    assert [field.column for field in schema.policy.HIDDEN_FIELDS] == [models.User.email]
