"""Rating mutations through the real app: the upsert, its rules, and tenants."""

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
from schema.node import to_global_id
from tests.api import gql, token_for
from tests.factories import count_rows, make_content, make_org, make_rating, make_user

Sessionmaker = async_sessionmaker[AsyncSession]

RATED = (
    "rating { score } content { id version ratingSummary { count average } viewerRating { score } }"
)
ERRORS = "userErrors { field message code }"


@dataclass
class World:
    org: models.Organization
    admin: models.User
    author: models.User
    student: models.User
    published: models.Content
    draft: models.Content
    archived: models.Content


async def make_world(sessionmaker: Sessionmaker) -> World:
    org = await make_org(sessionmaker)
    async with tenant_session(sessionmaker, org.id) as db:
        admin = await make_user(db, role=models.Role.ADMIN)
        author = await make_user(db, role=models.Role.INSTRUCTOR)
        student = await make_user(db)
        published = await make_content(db, author=author)
        draft = await make_content(db, author=author, status=models.ContentStatus.DRAFT)
        archived = await make_content(db, author=author, status=models.ContentStatus.ARCHIVED)
    return World(org, admin, author, student, published, draft, archived)


def gid(content: models.Content) -> str:
    return to_global_id("Content", content.id)


class Api:
    def __init__(self, client: httpx.AsyncClient, settings: Settings) -> None:
        self.client, self.settings = client, settings

    async def rate(self, user: models.User, content: str, score: int) -> dict[str, Any]:
        return await self.call(user, "rateContent", {"contentId": content, "score": score}, RATED)

    async def remove(self, user: models.User, content: str) -> dict[str, Any]:
        selection = "content { ratingSummary { count } viewerRating { score } }"
        return await self.call(user, "removeRating", {"contentId": content}, selection)

    async def call(
        self, user: models.User, name: str, data: dict[str, Any], selection: str
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


@pytest.fixture
def api(client: httpx.AsyncClient, settings: Settings) -> Api:
    return Api(client, settings)


def errors(payload: dict[str, Any]) -> list[tuple[list[str] | None, str]]:
    return sorted(
        ((error["field"], error["code"]) for error in payload["userErrors"]),
        key=lambda error: (error[0] or [], error[1]),
    )


async def ratings(sessionmaker: Sessionmaker, org_id: UUID) -> list[Any]:
    async with sessionmaker() as session:
        result = await session.execute(
            text("select * from ratings where organization_id = :org"), {"org": org_id}
        )
        return list(result.all())


async def test_rate_then_rate_again(sessionmaker: Sessionmaker, api: Api) -> None:
    w = await make_world(sessionmaker)
    async with tenant_session(sessionmaker, w.org.id) as db:
        await make_rating(db, content=w.published, user=w.admin, score=5)

    first = await api.rate(w.student, gid(w.published), 2)
    assert first["userErrors"] == []
    assert first["rating"] == {"score": 2}
    assert first["content"] == {
        "id": gid(w.published),
        "version": 1,  # a rating is not an edit of the content
        "ratingSummary": {"count": 2, "average": 3.5},
        "viewerRating": {"score": 2},
    }
    (before,) = [
        row for row in await ratings(sessionmaker, w.org.id) if row.user_id == w.student.id
    ]

    again = await api.rate(w.student, gid(w.published), 4)
    assert again["content"]["ratingSummary"] == {"count": 2, "average": 4.5}
    assert again["content"]["viewerRating"] == {"score": 4}
    (after,) = [row for row in await ratings(sessionmaker, w.org.id) if row.user_id == w.student.id]
    assert (after.score, after.created_at) == (4, before.created_at)
    assert after.updated_at > before.updated_at


async def test_rate_content_reports_every_invalid_field(
    sessionmaker: Sessionmaker, api: Api
) -> None:
    w = await make_world(sessionmaker)
    for score in (0, 6, -1):
        payload = await api.rate(w.student, gid(w.published), score)
        assert (payload["rating"], errors(payload)) == (None, [(["input", "score"], "INVALID")])
    both = await api.rate(w.student, to_global_id("User", w.student.id), 9)
    assert errors(both) == [(["input", "contentId"], "INVALID"), (["input", "score"], "INVALID")]
    assert await ratings(sessionmaker, w.org.id) == []


async def test_only_published_contents_are_rated(sessionmaker: Sessionmaker, api: Api) -> None:
    w = await make_world(sessionmaker)
    # Students do not see drafts or archived contents at all.
    for content in (w.draft, w.archived):
        payload = await api.rate(w.student, gid(content), 3)
        assert errors(payload) == [(["input", "contentId"], "NOT_FOUND")]
    # Their author and admins see them, and still may not rate them.
    for user in (w.author, w.admin):
        for content in (w.draft, w.archived):
            assert errors(await api.rate(user, gid(content), 3)) == [(None, "FORBIDDEN")]
    assert await ratings(sessionmaker, w.org.id) == []


async def test_remove_rating(sessionmaker: Sessionmaker, api: Api) -> None:
    w = await make_world(sessionmaker)
    async with tenant_session(sessionmaker, w.org.id) as db:
        await make_rating(db, content=w.published, user=w.student, score=1)
        await make_rating(db, content=w.published, user=w.admin, score=5)
    removed = await api.remove(w.student, gid(w.published))
    assert removed == {
        "content": {"ratingSummary": {"count": 1}, "viewerRating": None},
        "userErrors": [],
    }
    again = await api.remove(w.student, gid(w.published))
    assert (again["content"], errors(again)) == (None, [(["input", "contentId"], "NOT_FOUND")])
    assert [row.user_id for row in await ratings(sessionmaker, w.org.id)] == [w.admin.id]


async def test_contents_of_another_tenant_are_not_found(
    sessionmaker: Sessionmaker, api: Api
) -> None:
    w = await make_world(sessionmaker)
    theirs = await make_world(sessionmaker)
    async with tenant_session(sessionmaker, theirs.org.id) as db:
        await make_rating(db, content=theirs.published, user=theirs.student, score=5)
    rate = await api.rate(w.admin, gid(theirs.published), 1)
    remove = await api.remove(w.admin, gid(theirs.published))
    assert errors(rate) == errors(remove) == [(["input", "contentId"], "NOT_FOUND")]
    assert await ratings(sessionmaker, w.org.id) == []
    assert await count_rows(sessionmaker, "ratings", theirs.org.id) == 1
    assert [row.score for row in await ratings(sessionmaker, theirs.org.id)] == [5]


async def test_a_rating_has_an_id_that_node_resolves(
    sessionmaker: Sessionmaker, api: Api, client: httpx.AsyncClient, settings: Settings
) -> None:
    w = await make_world(sessionmaker)
    selection = "rating { id score } content { ratingSummary { id count } }"
    payload = await api.call(
        w.student, "rateContent", {"contentId": gid(w.published), "score": 2}, selection
    )
    rating_id = to_global_id("Rating", (w.published.id, w.student.id))
    assert payload["rating"] == {"id": rating_id, "score": 2}
    summary = payload["content"]["ratingSummary"]
    assert summary == {"id": to_global_id("RatingSummary", w.published.id), "count": 1}
    # Rated again: the same rating, the same id.
    again = await api.call(
        w.student, "rateContent", {"contentId": gid(w.published), "score": 5}, selection
    )
    assert again["rating"] == {"id": rating_id, "score": 5}
    query = "query ($id: ID!) { node(id: $id) { id ... on Rating { score user { id } } } }"
    response = await gql(client, query, {"id": rating_id}, token=token_for(settings, w.admin))
    user_id = to_global_id("User", w.student.id)
    assert response.data["node"] == {"id": rating_id, "score": 5, "user": {"id": user_id}}


async def test_refused_mutations_between_applied_ones_in_one_request(
    sessionmaker: Sessionmaker, client: httpx.AsyncClient, settings: Settings
) -> None:
    """Each mutation's savepoint (a plain one for these) is undone alone: the request goes on.
    (A student does not see drafts or archived contents: not found.)"""
    world = await make_world(sessionmaker)
    published, draft, archived = gid(world.published), gid(world.draft), gid(world.archived)
    query = f"""mutation {{
      first: rateContent(input: {{contentId: "{published}", score: 4}}) {{ rating {{ score }} }}
      refused: addComment(input: {{contentId: "{draft}", body: "no"}}) {{ userErrors {{ code }} }}
      alsoRefused: rateContent(input: {{contentId: "{archived}", score: 2}}) {{
        userErrors {{ code }}
      }}
      last: addComment(input: {{contentId: "{published}", body: "yes"}}) {{ comment {{ body }} }}
    }}"""
    response = await gql(client, query, token=token_for(settings, world.student))
    assert response.data == {
        "first": {"rating": {"score": 4}},
        "refused": {"userErrors": [{"code": "NOT_FOUND"}]},
        "alsoRefused": {"userErrors": [{"code": "NOT_FOUND"}]},
        "last": {"comment": {"body": "yes"}},
    }
    assert await count_rows(sessionmaker, "ratings", world.org.id) == 1
    assert await count_rows(sessionmaker, "comments", world.org.id) == 1


async def announcements(sessionmaker: Sessionmaker, org_id: UUID) -> list[list[str]]:
    """The tables each `tables_written` event of the tenant announced, oldest first."""
    async with sessionmaker() as session:
        found = await session.scalars(
            select(models.OutboxEvent.tables)
            .where(
                models.OutboxEvent.organization_id == org_id,
                models.OutboxEvent.kind == models.EventKind.TABLES_WRITTEN,
            )
            .order_by(models.OutboxEvent.id)
        )
        return [sorted(tables) for tables in found]


async def test_a_request_that_wrote_announces_its_tables_once(
    sessionmaker: Sessionmaker, api: Api
) -> None:
    w = await make_world(sessionmaker)
    before = await announcements(sessionmaker, w.org.id)  # the world's set-up
    await api.rate(w.student, gid(w.published), 4)
    await api.rate(w.student, "not an id", 4)  # refused: it wrote nothing, so announces nothing
    async with sessionmaker() as session:
        citus = await session.scalar(
            text("select exists (select from pg_extension where extname = 'citus')")
        )
    # The rating's transaction announced its table once, in itself; on Citus nothing is
    # announced (gql_server.tenancy.begin_tenant).
    assert await announcements(sessionmaker, w.org.id) == before + ([] if citus else [["ratings"]])
