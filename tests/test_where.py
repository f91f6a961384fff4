"""`where` filters, generated from the exported schema and checked against a reference in Python.

A small world of users, contents, tags, comments, ratings and attachments (with nulls, drafts,
deleted rows, a hidden email and a second tenant) is read back from the database with plain
selects; the reference applies each filter to the rows each viewer may see, by the read policy
as `schema.policy` states it. Every operator of every comparison field of every root list's
`where` input, and `some`/`every`/`none` and to-one nesting of every relation, is tried as an
admin, an instructor and a student; random `and`/`or`/`not` trees (hypothesis) too.
"""

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx
import pytest
from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLList,
    build_schema,
    get_named_type,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import models
from gql_server.settings import Settings
from gql_server.tenancy import tenant_session
from schema.comparisons import MAX_CONDITIONS, MAX_DEPTH
from schema.node import to_global_id
from tests.api import gql, token_for
from tests.factories import make_org

Sessionmaker = async_sessionmaker[AsyncSession]
SDL = build_schema((Path(__file__).parents[1] / "schema.graphql").read_text())
BASE = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)
ROOTS = {"contents": "Content", "users": "User", "tags": "Tag"}
S, D, R = models.ContentStatus, models.Difficulty, models.Role
# Ordering of text depends on the database's collation: compared only where every value is
# lowercase letters and digits, which every collation orders alike.
PLAIN_TEXT = re.compile(r"^[a-z0-9]*$")


def at(hours: int) -> datetime:
    return BASE + timedelta(hours=hours)


@dataclass
class World:
    org: models.Organization
    users: dict[str, models.User]
    # GraphQL type name -> rows as plain dicts keyed by GraphQL field name (every row of the
    # tenant, hidden or not), with `_row` the model row.
    rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


USERS = {
    "admin": (R.ADMIN, "ada"),
    "teach": (R.INSTRUCTOR, "ben"),
    "other": (R.INSTRUCTOR, "cy"),
    "student": (R.STUDENT, "dee"),
    "quiet": (R.STUDENT, "eve"),
}
# title, author, status, difficulty, created hour, published hour, summary, tags, deleted
CONTENTS = [
    ("algebra", "teach", S.PUBLISHED, D.BEGINNER, 0, 1, None, ("math",), False),
    ("algebra2", "teach", S.DRAFT, D.ADVANCED, 1, None, "wip", ("math", "draft"), False),
    ("biology", "other", S.PUBLISHED, D.INTERMEDIATE, 2, 3, "cells", ("science",), False),
    ("chemistry", "other", S.ARCHIVED, D.BEGINNER, 3, 4, "atoms", ("science",), False),
    ("drawing", "other", S.DRAFT, D.BEGINNER, 4, None, "100%_off", (), False),
    ("economics", "admin", S.PUBLISHED, D.ADVANCED, 5, 6, None, ("math",), True),
    ("french", "admin", S.DRAFT, D.INTERMEDIATE, 6, None, "bonjour", (), False),
    ("geology", "teach", S.PUBLISHED, D.ADVANCED, 7, 8, "Rocks", ("science", "math"), False),
]
# content index, author, body, deleted
COMMENTS = [
    (0, "student", "great", False),
    (0, "other", "thanks", False),
    (2, "quiet", "hmm", False),
    (2, "student", "secret", True),
    (1, "admin", "draft note", False),
    (6, "teach", "merci", False),
    (5, "student", "gone", False),
]
RATINGS = [(0, "student", 5), (0, "quiet", 2), (2, "student", 3), (7, "quiet", 4), (1, "admin", 1)]
ATTACHMENTS = [(0, "slides.pdf", 2048), (2, "cells.png", 10), (1, "plan.txt", 300)]
PREREQUISITES = [(7, 0), (7, 2), (2, 0), (1, 6)]


async def make_world(sessionmaker: Sessionmaker) -> World:
    org = await make_org(sessionmaker)
    async with tenant_session(sessionmaker, org.id) as db:
        users = {
            key: models.User(
                email=f"{name}{org.slug[-6:]}@example.com",
                username=name,
                full_name=name,
                role=role,
                created_at=at(index),
                last_login_at=None if index % 2 else at(10 + index),
            )
            for index, (key, (role, name)) in enumerate(USERS.items())
        }
        db.add_all(users.values())
        await db.flush()
        db.add(models.UserProfile(user_id=users["teach"].id, bio="teacher"))
        db.add(models.UserProfile(user_id=users["student"].id, bio=None))
        names = sorted({tag for row in CONTENTS for tag in row[7]})
        tags = {name: models.Tag(name=name) for name in names}
        db.add_all(tags.values())
        contents = [
            models.Content(
                author_id=users[author].id,
                title=title,
                body=f"body of {title}",
                status=status,
                difficulty=difficulty,
                created_at=at(created),
                published_at=None if published is None else at(published),
                summary=summary,
                deleted_at=at(20) if deleted else None,
            )
            for title, author, status, difficulty, created, published, summary, _, deleted in (
                CONTENTS
            )
        ]
        db.add_all(contents)
        await db.flush()
        for content, row in zip(contents, CONTENTS, strict=True):
            db.add_all(models.ContentTag(content_id=content.id, tag_id=tags[t].id) for t in row[7])
        db.add_all(
            models.Comment(
                content_id=contents[index].id,
                author_id=users[author].id,
                body=body,
                created_at=at(30 + number),
                deleted_at=at(40) if deleted else None,
            )
            for number, (index, author, body, deleted) in enumerate(COMMENTS)
        )
        db.add_all(
            models.Rating(content_id=contents[index].id, user_id=users[user].id, score=score)
            for index, user, score in RATINGS
        )
        db.add_all(
            models.Attachment(
                content_id=contents[index].id,
                filename=name,
                mime_type="application/octet-stream",
                size_bytes=size,
                url=f"https://files.example.com/{name}",
            )
            for index, name, size in ATTACHMENTS
        )
        db.add_all(
            models.ContentPrerequisite(
                content_id=contents[content].id, prerequisite_id=contents[prerequisite].id
            )
            for content, prerequisite in PREREQUISITES
        )
    world = World(org, users)
    await read_back(sessionmaker, world)
    return world


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


async def read_back(sessionmaker: Sessionmaker, world: World) -> None:
    """Every row of the tenant, as the reference sees it: plain selects, nothing filtered."""
    types = {
        "Content": models.Content,
        "User": models.User,
        "UserProfile": models.UserProfile,
        "Tag": models.Tag,
        "Comment": models.Comment,
        "Attachment": models.Attachment,
        "Rating": models.Rating,
    }
    async with tenant_session(sessionmaker, world.org.id) as db:
        for type_name, model in types.items():
            # The table, not the entity: no criteria of the session, only row-level security.
            rows = (await db.execute(select(model.__table__))).mappings()
            world.rows[type_name] = [
                {**{_camel(key): value for key, value in row.items()}, "_type": type_name}
                for row in rows
            ]
        tagged = (await db.execute(select(models.ContentTag.__table__))).mappings().all()
        needs = (await db.execute(select(models.ContentPrerequisite.__table__))).mappings().all()
    world.rows["_tags"] = [
        {"content": link["content_id"], "tag": link["tag_id"]} for link in tagged
    ]
    world.rows["_prerequisites"] = [
        {"content": link["content_id"], "prerequisite": link["prerequisite_id"]} for link in needs
    ]


@dataclass(frozen=True)
class Viewer:
    """The reference's read policy (`schema.policy`), for one user."""

    user: models.User

    def sees(self, row: dict[str, Any]) -> bool:
        kind = row["_type"]
        if row.get("deletedAt") is not None:
            return False
        if kind == "Content":
            return (
                self.user.role is R.ADMIN
                or row["status"] is S.PUBLISHED
                or row["authorId"] == self.user.id
            )
        return True

    def value(self, row: dict[str, Any], name: str) -> Any:
        hidden = row["_type"] == "User" and name == "email"
        if hidden and self.user.role is not R.ADMIN and row["id"] != self.user.id:
            return None
        if name == "id":
            return to_global_id(row["_type"], row["id"])
        return row.get(name)


class Reference:
    """Filters applied in Python to the rows a viewer may see."""

    def __init__(self, world: World, viewer: Viewer) -> None:
        self.world, self.viewer = world, viewer
        self.by_id = {
            (kind, row["id"]): row
            for kind, rows in world.rows.items()
            if not kind.startswith("_") and kind not in ("Rating", "UserProfile")
            for row in rows
        }

    def visible(self, kind: str) -> list[dict[str, Any]]:
        rows = [row for row in self.world.rows[kind] if self.viewer.sees(row)]
        if kind in ("Comment", "Rating", "Attachment"):
            return [row for row in rows if self.content(row["contentId"]) is not None]
        return rows

    def content(self, pk: Any) -> dict[str, Any] | None:
        row = self.by_id.get(("Content", pk))
        return row if row is not None and self.viewer.sees(row) else None

    def one(self, kind: str, pk: Any) -> dict[str, Any] | None:
        return next((row for row in self.visible(kind) if row["id"] == pk), None)

    def related(self, row: dict[str, Any], name: str) -> Any:
        """The rows of relation `name` of `row`, as the viewer may see them."""
        kind, pk = row["_type"], row.get("id")
        key = (kind, name)
        if key == ("Content", "author"):
            return self.one("User", row["authorId"])
        if key == ("Content", "tags"):
            ids = {link["tag"] for link in self.world.rows["_tags"] if link["content"] == pk}
            return [tag for tag in self.visible("Tag") if tag["id"] in ids]
        if key == ("Tag", "contents"):
            ids = {link["content"] for link in self.world.rows["_tags"] if link["tag"] == pk}
            return [content for content in self.visible("Content") if content["id"] in ids]
        if key in (("Content", "prerequisites"), ("Content", "requiredBy")):
            mine, theirs = (
                ("content", "prerequisite")
                if name == "prerequisites"
                else ("prerequisite", "content")
            )
            links = self.world.rows["_prerequisites"]
            ids = {link[theirs] for link in links if link[mine] == pk}
            return [content for content in self.visible("Content") if content["id"] in ids]
        if key in (("Content", "comments"), ("Content", "attachments")):
            child = "Comment" if name == "comments" else "Attachment"
            return [other for other in self.visible(child) if other["contentId"] == pk]
        if key in (("User", "contents"), ("User", "comments")):
            child = "Content" if name == "contents" else "Comment"
            return [other for other in self.visible(child) if other["authorId"] == pk]
        if key == ("User", "ratings"):
            return [other for other in self.visible("Rating") if other["userId"] == pk]
        if key == ("User", "profile"):
            return next((p for p in self.visible("UserProfile") if p["userId"] == pk), None)
        if key in (("Comment", "content"), ("Rating", "content"), ("Attachment", "content")):
            return self.content(row["contentId"])
        if key == ("Comment", "author"):
            return self.one("User", row["authorId"])
        if key == ("Comment", "replies"):
            return [c for c in self.visible("Comment") if c["parentId"] == pk]
        if key in (("Rating", "user"), ("UserProfile", "user")):
            return self.one("User", row["userId"])
        raise AssertionError(f"teach the reference the relation {kind}.{name}")

    def matches(self, row: dict[str, Any], where: dict[str, Any]) -> bool:
        for name, condition in where.items():
            if name == "and":
                ok = all(self.matches(row, part) for part in condition)
            elif name == "or":
                ok = any(self.matches(row, part) for part in condition)
            elif name == "not":
                ok = not self.matches(row, condition)
            elif set(condition) & {"some", "every", "none"}:
                related = self.related(row, name)
                ok = all(
                    QUANTIFIERS[q](self.matches(other, inner) for other in related)
                    for q, inner in condition.items()
                )
            elif _is_comparison(condition):
                ok = all(
                    compare(op, self.viewer.value(row, name), operand)
                    for op, operand in condition.items()
                )
            else:
                other = self.related(row, name)
                ok = other is not None and self.matches(other, condition)
            if not ok:
                return False
        return True


QUANTIFIERS: dict[str, Callable[[Any], bool]] = {
    "some": any,
    "every": all,
    "none": lambda found: not any(found),
}
OPERATORS = {
    "eq",
    "neq",
    "in",
    "notIn",
    "lt",
    "lte",
    "gt",
    "gte",
    "isNull",
    "contains",
    "startsWith",
}


def _is_comparison(condition: dict[str, Any]) -> bool:
    return bool(condition) and set(condition) <= OPERATORS


def _plain(value: Any) -> Any:
    if isinstance(
        value, models.ContentStatus | models.Difficulty | models.Role | models.UserStatus
    ):
        return value.value
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value) if "T" in value and value[:4].isdigit() else value
        except ValueError:
            return value
    return value


def compare(operator: str, value: Any, operand: Any) -> bool:
    value = _plain(value)
    if operator == "isNull":
        return (value is None) == operand
    if value is None:
        return False
    if operator in ("in", "notIn"):
        found = value in [_plain(item) for item in operand]
        return found if operator == "in" else not found
    operand = _plain(operand)
    if operator == "contains":
        return operand.lower() in value.lower()
    if operator == "startsWith":
        return value.lower().startswith(operand.lower())
    return {
        "eq": value == operand,
        "neq": value != operand,
        "lt": value < operand,
        "lte": value <= operand,
        "gt": value > operand,
        "gte": value >= operand,
    }[operator]


def _wire(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(
        value, models.ContentStatus | models.Difficulty | models.Role | models.UserStatus
    ):
        return value.value
    return value


# --- cases generated from the exported schema --------------------------------------------------


def where_fields(type_name: str) -> dict[str, Any]:
    where = SDL.get_type(f"{type_name}Where")
    assert isinstance(where, GraphQLInputObjectType)
    return {name: f.type for name, f in where.fields.items() if name not in ("and", "or", "not")}


def comparison_cases(world: World, type_name: str, viewer: Viewer) -> list[dict[str, Any]]:
    """One `where` per operator of every comparison field of the type, with values taken from
    the tenant's rows (hidden ones included) and one that no row holds."""
    cases: list[dict[str, Any]] = []
    rows = world.rows[type_name]
    for name, input_type in where_fields(type_name).items():
        named = get_named_type(input_type)
        assert isinstance(named, GraphQLInputObjectType)
        if not named.name.endswith("Comparison"):
            continue
        everyone = Viewer(world.users["admin"])
        values = sorted({_wire(everyone.value(row, name)) for row in rows} - {None}, key=repr)
        assert values, f"the world has no {type_name}.{name} values"
        missing = _missing(named, values, type_name)
        for operator, operator_field in named.fields.items():
            if operator == "isNull":
                cases += [{name: {"isNull": True}}, {name: {"isNull": False}}]
                continue
            is_list = isinstance(operator_field.type, GraphQLList) or isinstance(
                getattr(operator_field.type, "of_type", None), GraphQLList
            )
            ordered_text = named.name == "StringComparison" and operator in (
                "lt",
                "lte",
                "gt",
                "gte",
            )
            if ordered_text and not all(PLAIN_TEXT.match(value) for value in values):
                continue
            picks = [values[0], values[len(values) // 2], missing]
            for pick in picks:
                if operator in ("contains", "startsWith"):
                    pick = pick[:3].upper() if operator == "startsWith" else pick[1:4].upper()
                operand = [pick, values[-1]] if is_list else pick
                cases.append({name: {operator: operand}})
    return cases


def _missing(comparison: GraphQLInputObjectType, values: list[Any], type_name: str) -> Any:
    eq = get_named_type(comparison.fields["eq"].type)
    if isinstance(eq, GraphQLEnumType):
        return next((v for v in eq.values if v not in values), values[0])
    if eq.name == "Int":
        return 987654
    if eq.name == "DateTime":
        return at(-1000).isoformat()
    if eq.name == "ID":
        return to_global_id(type_name, uuid4())
    return "zzznothing"


def relation_cases(world: World, type_name: str) -> list[dict[str, Any]]:
    """For every relation of the type: `some`/`every`/`none` (or the nested row) with a
    condition on the related type's first comparison field, and with an empty condition."""
    cases: list[dict[str, Any]] = []
    for name, input_type in where_fields(type_name).items():
        named = get_named_type(input_type)
        assert isinstance(named, GraphQLInputObjectType)
        if named.name.endswith("Comparison"):
            continue
        if named.name.endswith("ListWhere"):
            target = named.name.removesuffix("ListWhere")
            for inner in _inner_conditions(world, target):
                cases += [{name: {q: inner}} for q in ("some", "every", "none")]
        else:
            target = named.name.removesuffix("Where")
            cases += [{name: inner} for inner in _inner_conditions(world, target)]
    return cases


def _inner_conditions(world: World, target: str) -> list[dict[str, Any]]:
    everyone = Viewer(world.users["admin"])
    conditions: list[dict[str, Any]] = [{}]
    for name, input_type in where_fields(target).items():
        named = get_named_type(input_type)
        if getattr(named, "name", "").endswith("Comparison") and name != "id":
            values = [everyone.value(row, name) for row in world.rows[target]]
            present = [v for v in values if v is not None]
            if present:
                conditions.append({name: {"eq": _wire(present[0])}})
                conditions.append({name: {"isNull": False}})
                break
    return conditions


LIST_QUERY = """
query ($where: %sWhere) { %s(first: 100, where: $where) { nodes { id } totalCount } }
"""


async def ask(client: httpx.AsyncClient, token: str, root: str, where: Any) -> tuple[set[str], int]:
    response = await gql(client, LIST_QUERY % (ROOTS[root], root), {"where": where}, token=token)
    data = response.data[root]
    return {node["id"] for node in data["nodes"]}, data["totalCount"]


def expected(world: World, viewer: Viewer, root: str, where: dict[str, Any]) -> set[str]:
    reference = Reference(world, viewer)
    kind = ROOTS[root]
    return {
        to_global_id(kind, row["id"])
        for row in reference.visible(kind)
        if reference.matches(row, where)
    }


@pytest.fixture(scope="module")
async def world(sessionmaker: Sessionmaker) -> World:
    world = await make_world(sessionmaker)
    other = await make_world(sessionmaker)  # a second tenant: none of its rows may match
    assert other.org.id != world.org.id
    return world


VIEWERS = ("admin", "teach", "student")


@pytest.mark.parametrize("viewer", VIEWERS)
@pytest.mark.parametrize("root", list(ROOTS))
async def test_every_operator_matches_the_reference(
    client: httpx.AsyncClient, settings: Settings, world: World, root: str, viewer: str
) -> None:
    user = world.users[viewer]
    token = token_for(settings, user)
    cases = comparison_cases(world, ROOTS[root], Viewer(user))
    assert len(cases) >= 10
    for where in cases:
        found, total = await ask(client, token, root, where)
        want = expected(world, Viewer(user), root, where)
        assert found == want, (viewer, where)
        assert total == len(want), (viewer, where)


@pytest.mark.parametrize("viewer", VIEWERS)
@pytest.mark.parametrize("root", list(ROOTS))
async def test_every_relation_filter_matches_the_reference(
    client: httpx.AsyncClient, settings: Settings, world: World, root: str, viewer: str
) -> None:
    user = world.users[viewer]
    token = token_for(settings, user)
    cases = relation_cases(world, ROOTS[root])
    assert cases
    for where in cases:
        found, _ = await ask(client, token, root, where)
        assert found == expected(world, Viewer(user), root, where), (viewer, where)


# --- random trees -------------------------------------------------------------------------------


def tree(leaves: list[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
    """`where` values: leaves from the generated cases, under `and`/`or`/`not` up to the limit."""
    leaf = st.sampled_from(leaves)
    return st.recursive(
        leaf,
        lambda inner: st.one_of(
            st.lists(inner, max_size=3).map(lambda parts: {"and": parts}),
            st.lists(inner, max_size=3).map(lambda parts: {"or": parts}),
            inner.map(lambda part: {"not": part}),
            st.tuples(leaf, inner).map(lambda pair: {**pair[0], "and": [pair[1]]}),
        ),
        max_leaves=6,
    ).filter(lambda where: _depth(where) <= MAX_DEPTH)


def _depth(where: Any) -> int:
    if isinstance(where, list):
        return max((_depth(part) for part in where), default=0)
    if not isinstance(where, dict):
        return 0
    nested = [
        _depth(value) + (1 if key in ("and", "or", "not", "some", "every", "none") else 0)
        for key, value in where.items()
    ]
    return max(nested, default=0)


@pytest.mark.parametrize("viewer", VIEWERS)
async def test_and_or_not_trees_match_the_reference(
    client: httpx.AsyncClient, settings: Settings, world: World, viewer: str
) -> None:
    user = world.users[viewer]
    token = token_for(settings, user)
    leaves = comparison_cases(world, "Content", Viewer(user)) + relation_cases(world, "Content")
    tried: list[dict[str, Any]] = []

    @settings_for_trees
    @given(where=tree(leaves))
    def collect(where: dict[str, Any]) -> None:
        tried.append(where)

    collect()
    assert len(tried) >= 20
    for where in tried:
        found, _ = await ask(client, token, "contents", where)
        assert found == expected(world, Viewer(user), "contents", where), (viewer, where)


settings_for_trees = settings(
    max_examples=40,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow],
)


# --- the read policy, tenants, bad input, cost, statements ----------------------------------------


async def test_relation_filters_see_only_what_the_viewer_may_read(
    client: httpx.AsyncClient, settings: Settings, world: World
) -> None:
    """Drafts of others never make a user match for a student; an admin sees them all."""
    where = {"contents": {"some": {"status": {"eq": "DRAFT"}}}}
    names = {}
    for viewer in ("admin", "teach", "student"):
        found, _ = await ask(client, token_for(settings, world.users[viewer]), "users", where)
        names[viewer] = {
            row["username"]
            for row in world.rows["User"]
            if to_global_id("User", row["id"]) in found
        }
    assert names == {"admin": {"ben", "cy", "ada"}, "teach": {"ben"}, "student": set()}


async def test_a_hidden_email_matches_nothing_negated_or_not(
    client: httpx.AsyncClient, settings: Settings, world: World
) -> None:
    teach = world.users["teach"]
    token = token_for(settings, world.users["student"])
    for where in (
        {"email": {"eq": teach.email}},
        {"email": {"startsWith": teach.email[:2]}},
        {"and": [{"username": {"eq": "ben"}}, {"not": {"email": {"contains": "zzz"}}}]},
    ):
        found, _ = await ask(client, token, "users", where)
        assert found == expected(world, Viewer(world.users["student"]), "users", where)
    own, _ = await ask(client, token, "users", {"email": {"eq": world.users["student"].email}})
    assert own == {to_global_id("User", world.users["student"].id)}
    hidden, _ = await ask(client, token, "users", {"email": {"eq": teach.email}})
    assert hidden == set()


async def test_nested_lists_and_the_old_filter_take_where_too(
    client: httpx.AsyncClient, settings: Settings, world: World
) -> None:
    token = token_for(settings, world.users["admin"])
    response = await gql(
        client,
        """query ($where: ContentWhere) {
          users(where: {username: {in: ["ben", "cy"]}}) { nodes { username
            contents(where: $where, filter: {difficulty: [BEGINNER, ADVANCED]}) {
              nodes { title } totalCount } } }
          tags(where: {name: {eq: "science"}}) { nodes { contents(where: $where) {
            nodes { title } } } }
        }""",
        {"where": {"or": [{"summary": {"isNull": True}}, {"title": {"startsWith": "CHEM"}}]}},
        token=token,
    )
    users = {
        node["username"]: sorted(c["title"] for c in node["contents"]["nodes"])
        for node in response.data["users"]["nodes"]
    }
    assert users == {"ben": ["algebra"], "cy": ["chemistry"]}
    (tag,) = response.data["tags"]["nodes"]
    assert sorted(c["title"] for c in tag["contents"]["nodes"]) == ["chemistry"]


@pytest.mark.parametrize(
    ("where", "argument"),
    [
        ({"title": {"eq": "a\u0000b"}}, "where.title.eq"),
        ({"id": {"eq": "bm90LWFuLWlk"}}, "where.id.eq"),
        ({"author": {"id": {"in": [to_global_id("Tag", uuid4())]}}}, "where.author.id.in"),
        ({"createdAt": {"gt": "0001-01-01T00:00:00+14:00"}}, "where.createdAt.gt"),
        ({"title": {"in": [str(i) for i in range(101)]}}, "where.title.in"),
        ({"not": {"not": {"not": {"not": {"not": {"title": {"eq": "x"}}}}}}}, "where.not.not"),
        ({"or": [{"title": {"eq": str(i)}} for i in range(MAX_CONDITIONS + 1)]}, "where.or"),
    ],
)
async def test_a_filter_that_cannot_run_is_the_clients_error(
    client: httpx.AsyncClient, settings: Settings, world: World, where: Any, argument: str
) -> None:
    response = await gql(
        client,
        LIST_QUERY % ("Content", "contents"),
        {"where": where},
        token=token_for(settings, world.users["admin"]),
    )
    assert response.status == 200
    assert response.error_codes == ["BAD_USER_INPUT"], response.body
    (error,) = response.body["errors"]
    assert error["extensions"]["argument"].startswith(argument), error
    assert response.body["data"] is None or response.body["data"].get("contents") is None


async def test_filters_are_priced(
    client: httpx.AsyncClient, settings: Settings, world: World
) -> None:
    token = token_for(settings, world.users["admin"])
    query = "query ($where: ContentWhere) { contents(first: 1, where: $where) { nodes { id } } }"
    costs = {}
    for name, where in {
        "none": None,
        "two comparisons": {"title": {"eq": "a", "neq": "b"}},
        "a relation": {"comments": {"some": {"createdAt": {"gt": BASE.isoformat()}}}},
        "nested": {"or": [{"author": {"username": {"eq": "ben"}}}, {"tags": {"none": {}}}]},
    }.items():
        response = await gql(client, query, {"where": where}, token=token)
        assert "extensions" in response.body, response.body
        costs[name] = response.body["extensions"]["cost"]
    base = costs["none"]
    assert costs["two comparisons"] == base + 2
    assert costs["a relation"] == base + 11
    assert costs["nested"] == base + 21


async def test_a_relation_filter_is_part_of_the_one_statement_whatever_the_page_size(
    client: httpx.AsyncClient, settings: Settings, world: World
) -> None:
    token = token_for(settings, world.users["admin"])
    query = """query ($first: Int, $where: ContentWhere) {
      users { nodes { contents(first: $first, where: $where) { nodes { title } } } } }"""
    where = {"comments": {"some": {"author": {"role": {"eq": "STUDENT"}}}}, "tags": {"every": {}}}
    counts = set()
    for first in (1, 5, 50):
        response = await gql(client, query, {"first": first, "where": where}, token=token)
        counts.add(response.statements)
    assert len(counts) == 1, counts


async def test_a_number_beyond_a_columns_range_matches_nothing(
    client: httpx.AsyncClient, settings: Settings, world: World
) -> None:
    """`score` is a smallint: 100000 is compared, not sent as one (which would fail)."""
    token = token_for(settings, world.users["admin"])
    for where in (
        {"ratings": {"some": {"score": {"eq": 100_000}}}},
        {"ratings": {"some": {"score": {"in": [2_147_483_647, -2_147_483_648]}}}},
    ):
        found, _ = await ask(client, token, "users", where)
        assert found == set()
    found, _ = await ask(client, token, "users", {"ratings": {"some": {"score": {"lt": 100_000}}}})
    assert found == expected(
        world, Viewer(world.users["admin"]), "users", {"ratings": {"some": {}}}
    )


async def test_the_readme_example_runs(
    client: httpx.AsyncClient, settings: Settings, world: World
) -> None:
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    section = readme.split("### Filtering with `where`", 1)[1]
    example = section.split("```graphql", 1)[1].split("```", 1)[0]
    response = await gql(client, example, token=token_for(settings, world.users["admin"]))
    assert isinstance(response.data["contents"]["totalCount"], int)
