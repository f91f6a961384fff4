"""Property: whatever query a user of tenant A sends, no id of tenant B comes back.

Queries are generated from the real schema's SDL (hypothesis-graphql), with `ID` arguments drawn
from both tenants' ids (global and raw), so `node`, `nodes` and the id filters are asked for B's
objects by name. Two tenants of the same shape; answers are checked for every id of B, in both
spellings, and for B's names and titles. An error message may quote an id the query itself sent;
nothing else may mention B.
"""

import re
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import httpx
import orjson
import pytest
from hypothesis import HealthCheck, event, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from hypothesis_graphql import nodes, queries
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gql_server.settings import Settings
from schema import schema
from schema.node import to_global_id
from tests.reliability.world import World, make_world

EXAMPLES = 150
UUID_PATTERN = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")


@pytest.fixture(scope="module")
async def tenants(sessionmaker: async_sessionmaker[AsyncSession]) -> tuple[World, World]:
    return (await make_world(sessionmaker), await make_world(sessionmaker))


def secrets_of(world: World) -> set[str]:
    """What of `world` must never reach another tenant: every id, in both spellings, and its
    users' names and emails, its contents' titles, its tags' names."""
    found: set[str] = set()
    for global_id, key in world.global_ids().items():
        found |= {global_id, *(str(pk) for pk in (key if isinstance(key, tuple) else (key,)))}
    found |= {user.username for user in world.users} | {user.email for user in world.users}
    found |= {content.title for content in world.contents} | {tag.name for tag in world.tags}
    return found


CURSORS = """
query ($content: ID!) {
  contents(first: 2) { edges { cursor } }
  users(first: 2) { edges { cursor } }
  tags(first: 2) { edges { cursor } }
  search(query: "databases", first: 2) { edges { cursor } }
  node(id: $content) { ... on Content { comments(first: 2) { edges { cursor } } } }
}"""


async def cursors_of(world: World, client: httpx.AsyncClient, settings: Settings) -> list[str]:
    """Cursors of the tenant's lists, as its admin reads them."""
    (token,) = world.tokens(settings, world.admins[:1])
    response = await client.post(
        "/graphql",
        json={
            "query": CURSORS,
            "variables": {"content": to_global_id("Content", world.published[0].id)},
        },
        headers={"Authorization": f"Bearer {token}"},
    )
    return re.findall(r'"cursor":"([^"]+)"', response.text)


def arguments(a: World, b: World, cursors: list[str]) -> dict[str, st.SearchStrategy[Any]]:
    """Values for the generated arguments: ids of both tenants, small page sizes, cursors of
    both tenants' lists (any list's: a cursor of another list is refused) and a few words."""
    # A few raw uuids too: no argument takes one (each is refused), but none may find B's row.
    raw = [str(key) for key in b.global_ids().values() if isinstance(key, UUID)][:3]
    ids = [*a.global_ids(), *b.global_ids(), *raw]
    words = ["databases", "learning", "a", b.users[0].username, ""]
    return {
        "ID": st.sampled_from(ids).map(nodes.String),
        "Int": st.integers(min_value=1, max_value=5).map(nodes.Int),
        "String": (st.sampled_from(cursors) | st.sampled_from(words) | st.text(max_size=8)).map(
            nodes.String
        ),
        "DateTime": st.datetimes(timezones=st.just(UTC)).map(datetime.isoformat).map(nodes.String),
        "JSON": st.just(nodes.String("{}")),
    }


def leaks(answer: dict[str, Any], query: str, secrets: set[str]) -> Iterator[str]:
    """B's values in what the answer says of itself (data, extensions), and in its errors unless
    the query sent them."""
    own = orjson.dumps({key: value for key, value in answer.items() if key != "errors"}).decode()
    errors = orjson.dumps(answer.get("errors", [])).decode()
    for secret in secrets:
        if secret in own or (secret in errors and secret not in query):
            yield secret
    for uuid in UUID_PATTERN.findall(own):
        if uuid.lower() in secrets:
            yield uuid.lower()


@pytest.fixture(scope="module")
async def generated(
    tenants: tuple[World, World], client: httpx.AsyncClient, settings: Settings
) -> st.SearchStrategy[str]:
    a, b = tenants
    cursors = [*await cursors_of(a, client, settings), *await cursors_of(b, client, settings)]
    assert len(cursors) >= 10
    return queries(schema.as_str(), custom_scalars=arguments(a, b, cursors), allow_x00=False)


@pytest.fixture(scope="module")
def outcomes() -> Iterator[Counter[str]]:
    """How the generated queries were answered: "data", or the first error's code."""
    tally: Counter[str] = Counter()
    yield tally
    print(f"\nisolation: {tally.total()} generated queries as tenant A: {dict(tally)}")
    # The property says little if the queries were all refused before they ran.
    assert tally["data"] >= tally.total() // 4, tally


@hypothesis_settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,  # the same queries on every run
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data())
async def test_queries_as_tenant_a_never_return_tenant_b(
    data: st.DataObject,
    client: httpx.AsyncClient,
    tenants: tuple[World, World],
    generated: st.SearchStrategy[str],
    outcomes: Counter[str],
    settings: Settings,
) -> None:
    a, b = tenants
    query = data.draw(generated, label="query")
    role = data.draw(st.sampled_from(["admin", "instructor", "student"]), label="viewer")
    viewer = {"admin": a.admins[0], "instructor": a.instructors[0], "student": a.students[0]}
    (token,) = a.tokens(settings, [viewer[role]])
    response = await client.post(
        "/graphql", json={"query": query}, headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code < 500, f"{response.status_code} {response.text[:500]}"
    answer = response.json()
    found = sorted(leaks(answer, query, secrets_of(b)))
    assert not found, f"tenant B's {found} in the answer to {query}: {response.text[:2000]}"
    outcome = "data" if not answer.get("errors") else answer["errors"][0]["extensions"]["code"]
    event(outcome)
    outcomes[outcome] += 1


def test_the_check_sees_b_wherever_it_is(tenants: tuple[World, World]) -> None:
    _, b = tenants
    secrets = secrets_of(b)
    content_id = to_global_id("Content", b.published[0].id)
    raw = str(b.users[0].id)
    assert list(leaks({"data": {"node": {"id": content_id}}}, "{ x }", secrets)) == [content_id]
    assert set(leaks({"data": {"a": [raw.upper()]}}, "{ x }", secrets)) == {raw}
    quoted = {"errors": [{"message": f"no such id: {content_id}"}]}
    assert list(leaks(quoted, f'{{ node(id: "{content_id}") {{ id }} }}', secrets)) == []
    assert list(leaks(quoted, "{ x }", secrets)) == [content_id]
