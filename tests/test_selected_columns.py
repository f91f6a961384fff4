"""A statement selects only the columns the query reads (plus keys): a content's `body` and
`summary`, a user's `email`, travel only for a query that asks for them.

The SQL is read where it leaves for PostgreSQL: asyncpg's `Connection.fetch`, which every
loader's statement goes through (not while the suite's differential check runs the request again
the standard way, which selects whole rows).
"""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import models
from gql_server.settings import Settings
from gql_server.tenancy import tenant_session
from schema.node import to_global_id
from tests.api import gql, token_for
from tests.differential import Differential
from tests.factories import (
    make_comment,
    make_content,
    make_org,
    make_profile,
    make_rating,
    make_user,
)

Sessionmaker = async_sessionmaker[AsyncSession]


@contextmanager
def statements_sent(differential: Differential) -> Iterator[list[str]]:
    """The SQL of every statement the compiled path sent through asyncpg's `fetch` meanwhile."""
    sent: list[str] = []
    fetch = asyncpg.Connection.fetch

    async def recording(connection: asyncpg.Connection, sql: str, *args: Any, **kw: Any) -> Any:
        if not differential.running_reference:
            sent.append(sql)
        return await fetch(connection, sql, *args, **kw)

    asyncpg.Connection.fetch = recording  # type: ignore[method-assign]
    try:
        yield sent
    finally:
        asyncpg.Connection.fetch = fetch  # type: ignore[method-assign]


def selects(sent: list[str], column: str) -> bool:
    return any(column in sql.split(" FROM ", 1)[0] for sql in sent)


@pytest.fixture
async def world(sessionmaker: Sessionmaker) -> tuple[models.User, models.Content]:
    org = await make_org(sessionmaker)
    async with tenant_session(sessionmaker, org.id) as db:
        admin = await make_user(db, role=models.Role.ADMIN)
        content = await make_content(db, author=admin, title="T", body="a long body")
        await make_comment(db, content=content, author=admin, body="a comment")
    return admin, content


async def test_a_list_of_titles_selects_no_body_summary_or_email(
    client: httpx.AsyncClient,
    settings: Settings,
    world: tuple[models.User, models.Content],
    differential: Differential,
) -> None:
    admin, _ = world
    query = """{ contents(first: 5) { edges { cursor node { id title
        author { username } comments(first: 3) { nodes { id } } } } } }"""
    with statements_sent(differential) as sent:
        response = await gql(client, query, token=token_for(settings, admin))
    (edge,) = response.data["contents"]["edges"]
    assert edge["node"]["title"] == "T"
    assert edge["node"]["author"]["username"] == admin.username
    assert len(edge["node"]["comments"]["nodes"]) == 1
    assert sent, "the loaders' statements go through asyncpg"
    for column in ("contents.body", "contents.summary", "users.email", "comments.body"):
        assert not selects(sent, column), column
    # Keys still travel: the author is found by the content's author_id.
    assert selects(sent, "contents.author_id")


async def test_what_a_query_reads_travels(
    client: httpx.AsyncClient,
    settings: Settings,
    world: tuple[models.User, models.Content],
    differential: Differential,
) -> None:
    admin, content = world
    query = """query ($id: ID!) { node(id: $id) { ... on Content { body summary
        author { email } comments(first: 3) { nodes { body } } } } }"""
    variables = {"id": to_global_id("Content", content.id)}
    with statements_sent(differential) as sent:
        response = await gql(client, query, variables, token=token_for(settings, admin))
    node = response.data["node"]
    assert node["body"] == "a long body"
    assert node["author"]["email"] == admin.email
    assert node["comments"]["nodes"] == [{"body": "a comment"}]
    for column in ("contents.body", "contents.summary", "users.email", "comments.body"):
        assert selects(sent, column), column
    # A comment's body shows only while it is live: what decides it travels with it.
    assert selects(sent, "comments.deleted_at")


async def test_an_id_of_several_columns_reads_its_key_and_no_more(
    client: httpx.AsyncClient,
    settings: Settings,
    sessionmaker: Sessionmaker,
    differential: Differential,
) -> None:
    org = await make_org(sessionmaker)
    async with tenant_session(sessionmaker, org.id) as db:
        admin = await make_user(db, role=models.Role.ADMIN)
        content = await make_content(db, author=admin, status=models.ContentStatus.PUBLISHED)
        await make_rating(db, content=content, user=admin, score=2)
        await make_profile(db, user=admin, bio="a bio")
    rating_id = to_global_id("Rating", (content.id, admin.id))
    profile_id = to_global_id("UserProfile", admin.id)
    query = """query ($ids: [ID!]!) {
        nodes(ids: $ids) { id }
        contents(first: 1) { nodes { author { profile { id } } } }
    }"""
    with statements_sent(differential) as sent:
        response = await gql(
            client, query, {"ids": [rating_id, profile_id]}, token=token_for(settings, admin)
        )
    data = response.data
    assert data["nodes"] == [{"id": rating_id}, {"id": profile_id}]
    (node,) = data["contents"]["nodes"]
    assert node == {"author": {"profile": {"id": profile_id}}}
    for column in ("ratings.content_id", "ratings.user_id", "user_profiles.user_id"):
        assert selects(sent, column), column
    for column in ("ratings.score", "user_profiles.bio", "user_profiles.preferences"):
        assert not selects(sent, column), column
