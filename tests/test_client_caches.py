"""Apollo Client's and urql's normalized caches take the API as it is: a screen of contents with
their authors, profiles, rating summaries, ratings and comments is stored object by object (every
object has an id, no custom keys), and a mutation's answer updates the screen without a refetch.

Run with Node (tests/node/caches.mjs) against a live server, as the clients run in a browser.
"""

from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import models
from gql_server.settings import Settings
from gql_server.tenancy import tenant_session
from schema.node import to_global_id
from tests import node_tools
from tests.api import token_for
from tests.factories import (
    make_comment,
    make_content,
    make_org,
    make_profile,
    make_rating,
    make_user,
)
from tests.live import LiveServer, in_process

# The screen shows these; each must be stored as an entity of its own.
ENTITIES = {"Comment", "Content", "Rating", "RatingSummary", "User", "UserProfile"}


@pytest.fixture(scope="module")
async def server(database_url: str) -> AsyncIterator[LiveServer]:
    async with in_process(Settings(database_url=None), database_url) as live:
        yield live


async def test_both_caches_normalize_the_screen_and_take_mutations_without_a_refetch(
    server: LiveServer, sessionmaker: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    org = await make_org(sessionmaker)
    async with tenant_session(sessionmaker, org.id) as db:
        author = await make_user(db, role=models.Role.INSTRUCTOR)
        viewer = await make_user(db, role=models.Role.STUDENT)
        raters = [await make_user(db, role=models.Role.STUDENT) for _ in range(2)]
        for user in (author, viewer):
            await make_profile(db, user=user, bio=f"bio of {user.username}")
        contents = [await make_content(db, author=author) for _ in range(3)]
        rated = contents[0]
        for rater in raters:
            await make_rating(db, content=rated, user=rater, score=4)
        for content in contents:
            thread = await make_comment(db, content=content, author=raters[0])
            await make_comment(db, content=content, author=author, parent_id=thread.id)
        await make_rating(db, content=contents[1], user=viewer, score=3)

    report = await node_tools.run(
        "caches.mjs",
        f"{server.http_url}/graphql",
        token_for(settings, viewer),
        to_global_id("Content", rated.id),
    )

    assert report["urqlWarnings"] == []  # no "no key" (15), no fragment guessing (16), nothing
    assert report["apolloWarnings"] == []
    summary_id = to_global_id("RatingSummary", rated.id)
    rating_id = to_global_id("Rating", (rated.id, viewer.id))
    for name, ratings in (("apollo", [4, 4, 5]), ("urql", [4, 4, 1])):
        client: dict[str, Any] = report[name]
        assert set(client["types"]) >= ENTITIES, name
        assert client["objects"] > 20, name  # the screen was all there
        assert client["unnormalized"] == [], name
        expected = {"id": summary_id, "count": 3, "average": round(sum(ratings) / 3, 4)}
        mutation = client["mutation"]
        assert mutation["rateErrors"] == mutation["profileErrors"] == [], name
        assert mutation["summary"] == expected, name
        # Read from the cache alone: the mutation's answer changed the screen's objects.
        after = client["after"]
        assert after is not None, f"{name}: the screen is no longer complete in the cache"
        assert after["summary"] == expected, name
        assert after["summary"] != client["before"]["summary"], name
        assert after["viewerRating"]["id"] == rating_id, name
        assert after["viewerRating"]["score"] == client["score"], name
        assert after["profile"] == {
            "id": to_global_id("UserProfile", viewer.id),
            "bio": client["bio"],
        }
        # The screen query, the rating and the profile: nothing was fetched again.
        assert client["requests"] == 3, name
    assert report["apollo"]["embedded"] == []  # stored in a parent only: connections, edges
    assert report["urql"]["stale"] is False
    assert report["apollo"]["before"]["summary"] == {"id": summary_id, "count": 2, "average": 4.0}
