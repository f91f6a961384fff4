"""The compiled path answers exactly as standard execution does.

Every query of the suite is compared already (tests/differential.py, on for the whole suite).
Here: queries generated over the whole schema (hypothesis-graphql), as each role, with ids and
cursors of the tenant's own data; and a bug planted in the compiled path's builder, which the
comparison must catch.
"""

from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from hypothesis_graphql import nodes, queries
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import models
from gql_server.settings import Settings
from schema import schema
from schema.execution import loading
from schema.execution.run import Runner
from schema.node import to_global_id
from tests.differential import Differential
from tests.reliability.test_tenant_isolation import cursors_of
from tests.reliability.world import World, make_world

EXAMPLES = 60  # per role
ROLES = ("admin", "instructor", "student")


@pytest.fixture(scope="module")
async def world(sessionmaker: async_sessionmaker[AsyncSession]) -> World:
    return await make_world(sessionmaker)


@pytest.fixture(scope="module")
async def generated(
    world: World, client: httpx.AsyncClient, settings: Settings
) -> st.SearchStrategy[str]:
    cursors = await cursors_of(world, client, settings)
    values: dict[str, st.SearchStrategy[Any]] = {
        "ID": st.sampled_from(list(world.global_ids())).map(nodes.String),
        "Int": st.integers(min_value=0, max_value=4).map(nodes.Int),
        "String": (st.sampled_from(cursors) | st.sampled_from(["databases", "a", ""])).map(
            nodes.String
        ),
        "JSON": st.just(nodes.String("{}")),
    }
    return queries(schema.as_str(), custom_scalars=values, allow_x00=False)


@pytest.fixture(scope="module")
def compared(differential: Differential) -> Iterator[Counter[str]]:
    tally: Counter[str] = Counter()
    before = differential.compared
    yield tally
    # The property says little unless the compiled path really ran for most of them.
    assert differential.compared - before >= tally.total() // 2, (differential.compared, tally)


@pytest.mark.parametrize("role", ROLES)
@hypothesis_settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data())
async def test_generated_queries_are_answered_alike_by_both_paths(
    data: st.DataObject,
    role: str,
    client: httpx.AsyncClient,
    world: World,
    generated: st.SearchStrategy[str],
    compared: Counter[str],
    differential: Differential,
    settings: Settings,
) -> None:
    query = data.draw(generated)
    user = {"admin": world.admins, "instructor": world.instructors, "student": world.students}
    (token,) = world.tokens(settings, user[role][:1])
    before = len(differential.mismatches)
    response = await client.post(
        "/graphql", json={"query": query}, headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 200, response.text
    compared[role] += 1
    assert differential.mismatches[before:] == []


async def test_a_bug_planted_in_the_builder_is_caught(
    client: httpx.AsyncClient,
    world: World,
    settings: Settings,
    differential: Differential,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    right = Runner.page_info

    def wrong(self: Runner, part: Any, value: Any) -> dict[str, Any]:  # flips every flag
        info = right(self, part, value)
        return {key: (not item if isinstance(item, bool) else item) for key, item in info.items()}

    monkeypatch.setattr(Runner, "page_info", wrong)
    (token,) = world.tokens(settings, world.admins[:1])
    before = len(differential.mismatches)
    response = await client.post(
        "/graphql",
        json={"query": "{ contents(first: 1) { pageInfo { hasNextPage } } }"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 200
    caught = differential.mismatches[before:]
    del differential.mismatches[before:]  # expected here: not this test's failure
    assert len(caught) == 1
    assert "hasNextPage" in caught[0]


async def test_skip_and_include_read_a_variables_default(
    client: httpx.AsyncClient, world: World, settings: Settings, differential: Differential
) -> None:
    query = """query ($with: Boolean = true, $without: Boolean = false) {
        viewer { id @include(if: $with) username @skip(if: $without) role @include(if: $without) }
    }"""
    (token,) = world.tokens(settings, world.admins[:1])
    before = differential.compared
    response = await client.post(
        "/graphql", json={"query": query}, headers={"Authorization": f"Bearer {token}"}
    )
    assert differential.compared == before + 1  # planned, and compared with the standard path
    assert list(response.json()["data"]["viewer"]) == ["id", "username"]


async def test_a_failed_root_field_that_may_not_be_null_ends_the_operation(
    client: httpx.AsyncClient, world: World, settings: Settings, differential: Differential
) -> None:
    # `node` is loaded, but `nodes` (a non-null list) fails before anything below the root runs:
    # standard execution reports only that; so must the compiled path, not the bad cursor below.
    query = """query ($id: ID!) {
        node(id: $id) { ... on User { contents(last: 5, after: "not a cursor") { totalCount } } }
        nodes(ids: ["not a global id"]) { id }
    }"""
    (token,) = world.tokens(settings, world.admins[:1])
    before = differential.compared
    response = await client.post(
        "/graphql",
        json={"query": query, "variables": {"id": to_global_id("User", world.instructors[0].id)}},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert differential.compared == before + 1
    body = response.json()
    assert body["data"] is None
    assert [error["path"] for error in body["errors"]] == [["nodes"]]


NORMALIZABLE = """query ($ids: [ID!]!) {
  nodes(ids: $ids) {
    id __typename
    ... on Rating { score user { id profile { id bio } } content { id ratingSummary { id count } } }
    ... on UserProfile { bio avatarUrl user { id ratings(first: 3) { nodes { id score } } } }
  }
  contents(first: 10) { nodes { id ratingSummary { id count average } viewerRating { id }
    author { profile { id } } } }
}"""


@pytest.mark.parametrize("role", ROLES)
async def test_ratings_profiles_and_summaries_with_their_ids_are_answered_alike(
    client: httpx.AsyncClient,
    world: World,
    settings: Settings,
    differential: Differential,
    role: str,
) -> None:
    user = {"admin": world.admins, "instructor": world.instructors, "student": world.students}
    (token,) = world.tokens(settings, user[role][:1])
    ids = [to_global_id("Rating", (r.content_id, r.user_id)) for r in world.ratings]
    ids += [to_global_id("UserProfile", profile.user_id) for profile in world.profiles]
    before = (differential.compared, len(differential.mismatches))
    response = await client.post(
        "/graphql",
        json={"query": NORMALIZABLE, "variables": {"ids": ids}},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 200
    assert differential.compared == before[0] + 1  # planned, and compared with the standard path
    assert differential.mismatches[before[1] :] == []
    nodes = response.json()["data"]["nodes"]
    assert len(nodes) == len(world.ratings) + len(world.profiles)
    # Ratings are of published contents and profiles of live users: every role sees them all.
    assert [node["id"] for node in nodes] == ids


COMMENT_AND_RATE = """mutation ($content: ID!, $score: Int!) {
  first: addComment(input: {contentId: $content, body: "first"}) {
    comment { id body author { username } content { id commentCount } } userErrors { code }
  }
  second: addComment(input: {contentId: $content, body: "second"}) {
    comment { id content { commentCount comments(first: 3) { totalCount } } }
  }
  rateContent(input: {contentId: $content, score: $score}) {
    rating { id score user { username } } content { ratingSummary { count } }
    userErrors { field message code }
  }
}"""


async def count_comments(sessionmaker: async_sessionmaker[AsyncSession], world: World) -> int:
    async with sessionmaker() as session:
        found = await session.scalar(
            select(func.count()).where(models.Comment.content_id == world.published[0].id)
        )
    return int(found or 0)


async def test_mutations_run_once_each_in_turn_and_are_answered_alike(
    client: httpx.AsyncClient,
    world: World,
    settings: Settings,
    differential: Differential,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    (token,) = world.tokens(settings, world.students[:1])
    comments = await count_comments(sessionmaker, world)
    before = differential.compared_mutations
    variables = {"content": to_global_id("Content", world.published[0].id), "score": 4}
    response = await client.post(
        "/graphql",
        json={"query": COMMENT_AND_RATE, "variables": variables},
        headers={"Authorization": f"Bearer {token}"},
    )
    body = response.json()
    assert "errors" not in body, body
    # Planned, and compared with the reference (which ran in a savepoint rolled back).
    assert differential.compared_mutations == before + 1
    # Each mutation applied once: two comments, whatever ran twice.
    assert await count_comments(sessionmaker, world) == comments + 2
    first, second = body["data"]["first"], body["data"]["second"]
    # Serial: each payload reads what its own mutation left, before the next one ran.
    assert (
        first["comment"]["content"]["commentCount"] + 1
        == (second["comment"]["content"]["commentCount"])
    )
    assert first["comment"]["author"] == {"username": world.students[0].username}
    assert body["data"]["rateContent"]["rating"]["score"] == 4


async def test_a_bug_planted_in_a_payloads_plan_is_caught(
    client: httpx.AsyncClient,
    world: World,
    settings: Settings,
    differential: Differential,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    right = loading._held

    def wrong(value: Any) -> Any:  # user errors in the reverse order
        held = right(value)
        return held[::-1] if isinstance(held, list) else held

    monkeypatch.setattr(loading, "_held", wrong)
    (token,) = world.tokens(settings, world.students[:1])
    before = len(differential.mismatches)
    mutation = """mutation { rateContent(input: {contentId: "not an id", score: 9}) {
        rating { score } userErrors { field code } } }"""
    response = await client.post(
        "/graphql", json={"query": mutation}, headers={"Authorization": f"Bearer {token}"}
    )
    assert len(response.json()["data"]["rateContent"]["userErrors"]) == 2
    caught = differential.mismatches[before:]
    del differential.mismatches[before:]  # expected here: not this test's failure
    assert len(caught) == 1
    assert "userErrors" in caught[0]
