"""`sort`: keyset walks over multi-key orders (fields, a to-one relation's field, a count, the
average rating; ties and NULLs), forwards and backwards, against a reference sort in Python.

The world of `tests/test_where.py`, as each role; NULLs sort last ascending and first
descending, ties fall to the primary key.
"""

from fractions import Fraction
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gql_server.settings import Settings
from schema.node import to_global_id
from tests.api import gql, token_for
from tests.test_where import VIEWERS, Reference, Viewer, World, make_world

Sessionmaker = async_sessionmaker[AsyncSession]
PAGE = 2

SORTS: list[list[dict[str, Any]]] = [
    [{"status": "ASC"}, {"publishedAt": "DESC"}],
    [{"publishedAt": "ASC"}],
    [{"author": {"fullName": "DESC"}}, {"version": "ASC"}],
    [{"comments": {"count": "DESC"}}, {"difficulty": "ASC"}],
    [{"averageRating": "DESC"}],
    [{"difficulty": "DESC"}, {"author": {"createdAt": "ASC"}}, {"title": "DESC"}],
]


@pytest.fixture(scope="module")
async def world(sessionmaker: Sessionmaker) -> World:
    return await make_world(sessionmaker)


def key_value(reference: Reference, row: dict[str, Any], key: dict[str, Any]) -> tuple[Any, str]:
    ((name, spec),) = key.items()
    if name == "author":
        ((field, direction),) = spec.items()
        author = reference.related(row, "author")
        return (None if author is None else author[field]), direction
    if name == "comments":
        return len(reference.related(row, "comments")), spec["count"]
    if name == "averageRating":
        scores = [r["score"] for r in reference.visible("Rating") if r["contentId"] == row["id"]]
        return (Fraction(sum(scores), len(scores)) if scores else Fraction(0)), spec
    value = row[name]
    return (value.value if hasattr(value, "value") else value), spec


def reference_order(world: World, viewer: str, sort: list[dict[str, Any]]) -> list[str]:
    reference = Reference(world, Viewer(world.users[viewer]))
    rows = reference.visible("Content")

    def ordered(row: dict[str, Any]) -> list[Any]:
        parts: list[Any] = []
        for key in sort:
            value, direction = key_value(reference, row, key)
            # NULLs last ascending, first descending: (is null, value) either way round.
            parts.append(Desc((value is None, value)) if direction == "DESC" else Asc(value))
        parts.append(row["id"])
        return parts

    return [to_global_id("Content", row["id"]) for row in sorted(rows, key=ordered)]


class Asc:
    def __init__(self, value: Any) -> None:
        self.value = value

    def __lt__(self, other: "Asc") -> bool:
        if self.value is None or other.value is None:
            return self.value is not None and other.value is None
        return bool(self.value < other.value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Asc) and self.value == other.value


class Desc:
    def __init__(self, pair: tuple[bool, Any]) -> None:
        self.null, self.value = pair

    def __lt__(self, other: "Desc") -> bool:
        if self.null or other.null:
            return self.null and not other.null
        return bool(self.value > other.value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Desc) and (self.null, self.value) == (other.null, other.value)


QUERY = """query ($sort: [ContentSort!], $first: Int, $after: String, $last: Int, $before: String) {
  contents(sort: $sort, first: $first, after: $after, last: $last, before: $before) {
    nodes { id } pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } }"""


async def walk(client: httpx.AsyncClient, token: str, sort: Any, backwards: bool) -> list[str]:
    seen: list[str] = []
    cursor = None
    for _ in range(20):
        variables = (
            {"sort": sort, "last": PAGE, "before": cursor}
            if backwards
            else {"sort": sort, "first": PAGE, "after": cursor}
        )
        data = (await gql(client, QUERY, variables, token=token)).data["contents"]
        ids = [node["id"] for node in data["nodes"]]
        info = data["pageInfo"]
        if backwards:
            seen = ids + seen
            if not info["hasPreviousPage"]:
                return seen
            cursor = info["startCursor"]
        else:
            seen += ids
            if not info["hasNextPage"]:
                return seen
            cursor = info["endCursor"]
    raise AssertionError("the walk did not end")


@pytest.mark.parametrize("viewer", VIEWERS)
@pytest.mark.parametrize("sort", SORTS, ids=lambda sort: str(sort))
async def test_keyset_walks_match_the_reference_sort(
    client: httpx.AsyncClient, settings: Settings, world: World, viewer: str, sort: Any
) -> None:
    token = token_for(settings, world.users[viewer])
    want = reference_order(world, viewer, sort)
    assert len(want) >= 3
    assert await walk(client, token, sort, backwards=False) == want
    assert await walk(client, token, sort, backwards=True) == want


async def test_nested_lists_sort_too(
    client: httpx.AsyncClient, settings: Settings, world: World
) -> None:
    token = token_for(settings, world.users["admin"])
    response = await gql(
        client,
        """{ users(where: {username: {eq: "cy"}}) { nodes { contents(
             sort: [{status: DESC}, {title: ASC}]) { nodes { title status } } } } }""",
        token=token,
    )
    (user,) = response.data["users"]["nodes"]
    rows = [(n["status"], n["title"]) for n in user["contents"]["nodes"]]
    assert rows == sorted(rows, key=lambda r: (-ord(r[0][0]), r[1]))
    assert len(rows) == 3


@pytest.mark.parametrize(
    "sort",
    [
        [],
        [{"title": "ASC", "version": "DESC"}],
        [{}],
        [{"author": {}}],
        [{"title": "ASC"}] * 6,
    ],
)
async def test_a_sort_that_cannot_run_is_the_clients_error(
    client: httpx.AsyncClient, settings: Settings, world: World, sort: Any
) -> None:
    token = token_for(settings, world.users["admin"])
    response = await gql(client, QUERY, {"sort": sort, "first": 2}, token=token)
    assert response.error_codes == ["BAD_USER_INPUT"], response.body
    assert response.body["errors"][0]["extensions"]["argument"].startswith("sort")


async def test_a_cursor_of_another_sort_is_refused(
    client: httpx.AsyncClient, settings: Settings, world: World
) -> None:
    token = token_for(settings, world.users["admin"])
    first = await gql(client, QUERY, {"sort": SORTS[0], "first": 1}, token=token)
    cursor = first.data["contents"]["pageInfo"]["endCursor"]
    other = await gql(client, QUERY, {"sort": SORTS[1], "first": 1, "after": cursor}, token=token)
    assert other.error_codes == ["BAD_USER_INPUT"]


async def test_sorts_are_priced(
    client: httpx.AsyncClient, settings: Settings, world: World
) -> None:
    token = token_for(settings, world.users["admin"])
    costs = []
    for sort in (None, [{"title": "ASC"}], [{"title": "ASC"}, {"comments": {"count": "DESC"}}]):
        response = await gql(client, QUERY, {"sort": sort, "first": 1}, token=token)
        costs.append(response.body["extensions"]["cost"])
    assert costs[1] == costs[0] + 1
    assert costs[2] == costs[0] + 11


async def test_the_readme_example_runs(
    client: httpx.AsyncClient, settings: Settings, world: World
) -> None:
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    section = readme.split("### Sorting with `sort`", 1)[1]
    example = section.split("```graphql", 1)[1].split("```", 1)[0]
    response = await gql(client, example, token=token_for(settings, world.users["admin"]))
    names = [node["author"]["fullName"] for node in response.data["contents"]["nodes"]]
    assert names == sorted(names)
