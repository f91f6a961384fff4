"""Relations are loaded a level at a time: no field falls back to its own load when prefetched.

The fallback path gives the same answers (it is what a field resolved on its own uses), so each
test also checks the response itself, including aliases with different arguments and fragments.
"""

from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import models
import schema.execution.prefetch
from gql_server.settings import Settings
from gql_server.tenancy import tenant_session
from tests.api import gql, token_for
from tests.factories import (
    add_prerequisite,
    make_attachment,
    make_comment,
    make_content,
    make_org,
    make_profile,
    make_rating,
    make_tag,
    make_user,
    tag_content,
)


@pytest.fixture
def fallbacks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Names of the fields that had to load on their own, one object at a time."""
    calls: list[str] = []
    original = schema.execution.prefetch._fetch_one

    def counting(obj: Any, info: Any, relation: Any, args: dict[str, Any]) -> Any:
        calls.append(f"{type(obj).__name__}.{info.field_name}")
        return original(obj, info, relation, args)

    monkeypatch.setattr(schema.execution.prefetch, "_fetch_one", counting)
    return calls


async def _world(sessionmaker: async_sessionmaker[AsyncSession]) -> models.User:
    org = await make_org(sessionmaker)
    async with tenant_session(sessionmaker, org.id) as db:
        admin = await make_user(db, role=models.Role.ADMIN)
        await make_profile(db, user=admin, bio="admin bio")
        student = await make_user(db)
        tag = await make_tag(db, name="graphs")
        contents = [await make_content(db, author=admin) for _ in range(3)]
        for index, content in enumerate(contents):
            await tag_content(db, content, tag)
            await make_attachment(db, content=content)
            await make_rating(db, content=content, user=admin, score=index + 1)
            await make_rating(db, content=content, user=student, score=5)
            thread = await make_comment(db, content=content, author=student, body=f"q{index}")
            await make_comment(db, content=content, author=admin, body="a", parent_id=thread.id)
        await add_prerequisite(db, contents[1], contents[0])
    return admin


# At most 10 fields deep (the default depth limit), and still every relation of the schema.
EVERY_RELATION = """
fragment people on User { username profile { bio user { username } } }
{
  viewer { ...people ratings(first: 5) { totalCount nodes { score content { title } } } }
  contents(first: 10) { nodes {
    title author { ...people contents(first: 2) { totalCount nodes { title } } }
    tags { name contents(first: 5, orderBy: TITLE_ASC) { nodes { title } } }
    attachments { filename content { title } }
    prerequisites { title } requiredBy { title }
    ratingSummary { count average } commentCount viewerRating { score user { username } }
    one: comments(first: 1) { edges { node { body } } }
    two: comments(first: 2) { totalCount nodes {
      body author { username } content { title } parent { id }
      replies(first: 3) { nodes { body parent { body } author { ...people } } }
    } }
  } }
}
"""


async def test_every_relation_of_a_deep_query_is_loaded_ahead(
    sessionmaker: async_sessionmaker[AsyncSession],
    client: Any,
    settings: Settings,
    fallbacks: list[str],
) -> None:
    admin = await _world(sessionmaker)
    response = await gql(client, EVERY_RELATION, token=token_for(settings, admin))
    data = response.data
    assert fallbacks == []
    nodes = data["contents"]["nodes"]
    assert len(nodes) == 3
    for node in nodes:
        assert len(node["one"]["edges"]) == 1
        assert len(node["two"]["nodes"]) == 1  # one thread start per content
        assert node["two"]["totalCount"] == 1
        reply = node["two"]["nodes"][0]["replies"]["nodes"][0]
        assert reply["parent"]["body"] == node["two"]["nodes"][0]["body"]
        assert reply["author"]["profile"]["bio"] == "admin bio"
        assert node["author"]["contents"]["totalCount"] == 3
        assert node["tags"][0]["contents"]["nodes"] == sorted(
            node["tags"][0]["contents"]["nodes"], key=lambda item: item["title"]
        )
    assert data["viewer"]["ratings"]["totalCount"] == 3
    assert sorted(node["ratingSummary"]["average"] for node in nodes) == [3.0, 3.5, 4.0]


async def test_prefetched_answers_equal_those_of_fields_resolved_one_by_one(
    sessionmaker: async_sessionmaker[AsyncSession],
    client: Any,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    admin = await _world(sessionmaker)
    token = token_for(settings, admin)
    prefetched = (await gql(client, EVERY_RELATION, token=token)).data

    async def nothing(*_args: Any, **_kwargs: Any) -> None:
        return None

    monkeypatch.setattr(schema.execution.prefetch, "prefetch", nothing)
    monkeypatch.setattr("schema.relations.prefetch", nothing)
    one_by_one = (await gql(client, EVERY_RELATION, token=token)).data
    assert prefetched == one_by_one


async def test_fields_behind_inline_fragments_and_node_are_loaded_ahead(
    sessionmaker: async_sessionmaker[AsyncSession],
    client: Any,
    settings: Settings,
    fallbacks: list[str],
) -> None:
    admin = await _world(sessionmaker)
    token = token_for(settings, admin)
    first = (await gql(client, "{ contents(first: 1) { nodes { id } } }", token=token)).data
    content_id = first["contents"]["nodes"][0]["id"]
    query = """query ($id: ID!, $skip: Boolean!) { node(id: $id) { id ... on Content {
        author { username } tags @skip(if: $skip) { name } } } }"""
    response = await gql(client, query, {"id": content_id, "skip": False}, token=token)
    assert response.data["node"]["author"]["username"] == admin.username
    assert response.data["node"]["tags"] == [{"name": "graphs"}]
    assert fallbacks == []


async def test_a_bad_argument_deep_down_is_reported_at_its_own_path(
    sessionmaker: async_sessionmaker[AsyncSession], client: Any, settings: Settings
) -> None:
    admin = await _world(sessionmaker)
    query = (
        "{ contents(first: 2) { edges { node { title comments(first: 1000) { nodes { id } } } } } }"
    )
    response = await gql(client, query, token=token_for(settings, admin))
    # Non-null fields carry the first error up; it names the nested field that was at fault.
    assert response.error_codes[0] == "BAD_USER_INPUT"
    assert response.body["errors"][0]["path"] == ["contents", "edges", 0, "node", "comments"]
