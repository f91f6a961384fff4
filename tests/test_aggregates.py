"""Aggregates and groups beside a list, against the same rows counted in Python, as each role.

The world of `tests/test_where.py` (drafts, a deleted content, a second tenant), read back with
plain selects; what each viewer may see follows the read policy as `schema.policy` states it.
"""

from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import models
from gql_server.settings import Settings
from gql_server.tenancy import tenant_session
from schema.node import to_global_id
from tests.api import gql, token_for
from tests.test_where import VIEWERS, Reference, Viewer, World, make_world, read_back

Sessionmaker = async_sessionmaker[AsyncSession]

WHOLE = """query ($where: ContentWhere) { contentsAggregate(where: $where) {
  count sum { version } avg { version }
  min { version createdAt publishedAt } max { version createdAt publishedAt } } }"""
GROUPED = """query ($where: ContentWhere, $by: [ContentGroupKey!]!) {
  contentsAggregate(where: $where) { groupBy(by: $by) {
    key { status author { id } createdAtDay publishedAtMonth } count max { version } } } }"""


@pytest.fixture(scope="module")
async def world(sessionmaker: Sessionmaker) -> World:
    world = await make_world(sessionmaker)
    await make_world(sessionmaker)  # another tenant: none of its rows may count
    async with tenant_session(sessionmaker, world.org.id) as db:
        for row in world.rows["Content"]:
            versions = update(models.Content).where(models.Content.id == row["id"])
            await db.execute(versions.values(version=len(row["title"])))
    await read_back(sessionmaker, world)
    return world


def visible(world: World, viewer: str, where: dict[str, Any] | None) -> list[dict[str, Any]]:
    reference = Reference(world, Viewer(world.users[viewer]))
    rows = reference.visible("Content")
    return [row for row in rows if where is None or reference.matches(row, where)]


def iso(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat()


def measures(rows: list[dict[str, Any]]) -> dict[str, Any]:
    versions = [row["version"] for row in rows]
    created = [row["createdAt"] for row in rows]
    published = [row["publishedAt"] for row in rows if row["publishedAt"] is not None]
    return {
        "count": len(rows),
        "sum": {"version": float(sum(versions)) if versions else None},
        "avg": {"version": sum(versions) / len(versions) if versions else None},
        "min": {
            "version": min(versions, default=None),
            "createdAt": iso(min(created, default=None)),
            "publishedAt": iso(min(published, default=None)),
        },
        "max": {
            "version": max(versions, default=None),
            "createdAt": iso(max(created, default=None)),
            "publishedAt": iso(max(published, default=None)),
        },
    }


def normalized(answer: dict[str, Any]) -> dict[str, Any]:
    """Times as UTC ISO strings (the server may answer with another offset)."""
    for part in ("min", "max"):
        for name in ("createdAt", "publishedAt"):
            value = answer[part][name]
            answer[part][name] = None if value is None else iso(datetime.fromisoformat(value))
    if answer["avg"]["version"] is not None:
        answer["avg"]["version"] = round(answer["avg"]["version"], 6)
    return answer


WHERES = [
    None,
    {"status": {"eq": "PUBLISHED"}},
    {"comments": {"some": {}}},
    {"title": {"eq": "nothing-is-called-this"}},
]


@pytest.mark.parametrize("viewer", VIEWERS)
async def test_whole_list_aggregates_match_the_reference(
    client: httpx.AsyncClient, settings: Settings, world: World, viewer: str
) -> None:
    token = token_for(settings, world.users[viewer])
    for where in WHERES:
        response = await gql(client, WHOLE, {"where": where}, token=token)
        want = measures(visible(world, viewer, where))
        if want["avg"]["version"] is not None:
            want["avg"]["version"] = round(want["avg"]["version"], 6)
        assert normalized(response.data["contentsAggregate"]) == want, (viewer, where)
        assert response.statements == 2  # the request's setup, and the one aggregate


def day(value: datetime) -> str:
    return iso(value.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)) or ""


def month(value: datetime | None) -> str | None:
    if value is None:
        return None
    return iso(value.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0))


@pytest.mark.parametrize("viewer", VIEWERS)
@pytest.mark.parametrize(
    "by", [["STATUS"], ["AUTHOR"], ["STATUS", "CREATED_AT_DAY"], ["PUBLISHED_AT_MONTH"]]
)
async def test_groups_match_the_reference(
    client: httpx.AsyncClient, settings: Settings, world: World, viewer: str, by: list[str]
) -> None:
    token = token_for(settings, world.users[viewer])
    response = await gql(client, GROUPED, {"by": by, "where": None}, token=token)
    found = {
        (
            group["key"]["status"],
            group["key"]["author"] and group["key"]["author"]["id"],
            group["key"]["createdAtDay"]
            and iso(datetime.fromisoformat(group["key"]["createdAtDay"])),
            group["key"]["publishedAtMonth"]
            and iso(datetime.fromisoformat(group["key"]["publishedAtMonth"])),
        ): (group["count"], group["max"]["version"])
        for group in response.data["contentsAggregate"]["groupBy"]
    }
    grouped: defaultdict[tuple[Any, ...], list[dict[str, Any]]] = defaultdict(list)
    for row in visible(world, viewer, None):
        grouped[
            (
                row["status"].value if "STATUS" in by else None,
                to_global_id("User", row["authorId"]) if "AUTHOR" in by else None,
                day(row["createdAt"]) if "CREATED_AT_DAY" in by else None,
                month(row["publishedAt"]) if "PUBLISHED_AT_MONTH" in by else None,
            )
        ].append(row)
    want = {key: (len(rows), max(row["version"] for row in rows)) for key, rows in grouped.items()}
    assert found == want


async def test_nested_aggregates_are_one_statement_for_every_parent(
    client: httpx.AsyncClient, settings: Settings, world: World
) -> None:
    query = """query ($where: ContentWhere) { users(first: 20) { nodes { id
      contentsAggregate(where: $where) { count max { createdAt }
        groupBy(by: [STATUS]) { key { status } count } } } } }"""
    for viewer in VIEWERS:
        token = token_for(settings, world.users[viewer])
        where = {"status": {"neq": "ARCHIVED"}}
        response = await gql(client, query, {"where": where}, token=token)
        rows = visible(world, viewer, where)
        for node in response.data["users"]["nodes"]:
            mine = [row for row in rows if to_global_id("User", row["authorId"]) == node["id"]]
            aggregate = node["contentsAggregate"]
            assert aggregate["count"] == len(mine), viewer
            latest = max((row["createdAt"] for row in mine), default=None)
            shown = aggregate["max"]["createdAt"]
            assert (shown and iso(datetime.fromisoformat(shown))) == iso(latest)
            statuses: defaultdict[str, int] = defaultdict(int)
            for row in mine:
                statuses[row["status"].value] += 1
            assert {g["key"]["status"]: g["count"] for g in aggregate["groupBy"]} == statuses
        # setup, the users page, the whole aggregates, the groups: whatever the number of users
        assert response.statements == 4


async def test_group_keys_are_typed_and_a_wrong_one_is_refused(
    client: httpx.AsyncClient, settings: Settings, world: World
) -> None:
    token = token_for(settings, world.users["admin"])
    response = await gql(client, GROUPED, {"by": ["EMAIL"], "where": None}, token=token)
    assert response.error_codes == ["BAD_USER_INPUT"]
    users = await gql(
        client,
        "{ usersAggregate { count groupBy(by: [ROLE]) { key { role } count } } }",
        token=token,
    )
    roles: defaultdict[str, int] = defaultdict(int)
    for row in world.rows["User"]:
        roles[row["role"].value] += 1
    groups = users.data["usersAggregate"]["groupBy"]
    assert {g["key"]["role"]: g["count"] for g in groups} == roles
    assert users.data["usersAggregate"]["count"] == len(world.rows["User"])


async def test_aggregates_are_priced_like_lists(
    client: httpx.AsyncClient, settings: Settings, world: World
) -> None:
    token = token_for(settings, world.users["admin"])
    plain = await gql(client, "{ contentsAggregate { count } }", token=token)
    grouped = await gql(
        client, "{ contentsAggregate { count groupBy(by: [STATUS]) { count } } }", token=token
    )
    assert grouped.body["extensions"]["cost"] > plain.body["extensions"]["cost"] + 10


async def test_the_readme_example_runs(
    client: httpx.AsyncClient, settings: Settings, world: World
) -> None:
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    section = readme.split("### Aggregates and groups", 1)[1]
    example = section.split("```graphql", 1)[1].split("```", 1)[0]
    response = await gql(client, example, token=token_for(settings, world.users["admin"]))
    aggregate = response.data["contents"]["aggregate"]
    assert aggregate["count"] == sum(group["count"] for group in aggregate["groupBy"])
    assert len(response.data["contents"]["nodes"]) <= 5 < aggregate["count"]
    for user in response.data["users"]["nodes"]:
        contents = user["contents"]["aggregate"]
        assert contents["count"] == sum(group["count"] for group in contents["groupBy"])
