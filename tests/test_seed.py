"""The seed: a deterministic demo, a benchmark set whose counts follow its rule, both bulk-loaded
through row-level security, and only ever into an empty database."""

import uuid
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from graphlib import TopologicalSorter
from typing import Any

import pytest
from sqlalchemy import Row, func, select
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

import models
from gql_server import migrate, seed
from gql_server.seed import scale
from tests.conftest import CreateDatabase
from tests.owner import database_owner

Snapshot = dict[str, list[Row[Any]]]
# Written by `gql-server trust`, by mutations and by deleting contents: never by the seed.
NOT_SEEDED = {"trusted_documents", "events", "content_deletions"}
SCALE = 0.01


@dataclass(frozen=True)
class Seeded:
    engine: AsyncEngine
    summary: seed.SeedSummary


async def migrated(create_database: CreateDatabase) -> AsyncEngine:
    engine = create_async_engine(await create_database(), poolclass=NullPool)
    await migrate.upgrade(engine)
    return engine


async def seed_twice(
    create_database: CreateDatabase, fill: Callable[[AsyncEngine], Awaitable[seed.SeedSummary]]
) -> list[Seeded]:
    seeded = []
    for _ in range(2):
        engine = await migrated(create_database)
        seeded.append(Seeded(engine, await fill(engine)))
    return seeded


@pytest.fixture(scope="module")
async def demos(create_database: CreateDatabase) -> AsyncIterator[list[Seeded]]:
    """The demo seeded into two fresh databases."""
    seeded = await seed_twice(create_database, seed.seed_demo)
    yield seeded
    for each in seeded:
        await each.engine.dispose()


@pytest.fixture(scope="module")
async def scaled(create_database: CreateDatabase) -> AsyncIterator[list[Seeded]]:
    """The benchmark set at a small scale, seeded into two fresh databases."""
    seeded = await seed_twice(create_database, lambda engine: seed.seed_scale(engine, SCALE))
    yield seeded
    for each in seeded:
        await each.engine.dispose()


async def snapshot(engine: AsyncEngine) -> Snapshot:
    """Every row of every table, all columns, in primary-key order."""
    async with engine.connect() as connection:
        return {
            table.name: list(
                await connection.execute(select(table).order_by(*table.primary_key.columns))
            )
            for table in models.Base.metadata.sorted_tables
            if table.name not in NOT_SEEDED
        }


def counts(rows: Snapshot) -> dict[str, int]:
    return {table: len(table_rows) for table, table_rows in rows.items()}


def assert_acyclic(edges: list[Row[Any]]) -> None:
    assert all(edge.content_id != edge.prerequisite_id for edge in edges)
    graph: dict[uuid.UUID, set[uuid.UUID]] = defaultdict(set)
    for edge in edges:
        graph[edge.content_id].add(edge.prerequisite_id)
    order = list(TopologicalSorter(graph).static_order())  # raises CycleError on a cycle
    assert len(order) == len(set(order))


async def test_the_demo_is_identical_on_two_fresh_databases(demos: list[Seeded]) -> None:
    first, second = [await snapshot(each.engine) for each in demos]
    assert counts(first) == counts(second) == dict(demos[0].summary.counts)
    assert [(c.id, c.title, c.status) for c in first["contents"]] == [
        (c.id, c.title, c.status) for c in second["contents"]
    ]
    assert first == second  # every id and value, timestamps included


async def test_every_demo_organization_shows_every_feature(demos: list[Seeded]) -> None:
    rows = await snapshot(demos[0].engine)
    assert sorted(org.slug for org in rows["organizations"]) == ["acme", "globex", "initech"]
    for org in rows["organizations"]:

        def of_org(table: str, org_id: uuid.UUID = org.id) -> list[Row[Any]]:
            return [row for row in rows[table] if row.organization_id == org_id]

        users = {user.username: user for user in of_org("users")}
        expected_roles = {
            "admin": "ADMIN",
            **{f"instructor{n}": "INSTRUCTOR" for n in range(1, 4)},
            **{f"student{n}": "STUDENT" for n in range(1, 11)},
        }
        assert {name: user.role for name, user in users.items()} == expected_roles
        assert users["admin"].email == f"admin@{org.slug}.example.com"
        profiles = of_org("user_profiles")
        assert {profile.user_id for profile in profiles} == {user.id for user in users.values()}
        assert all(
            profile.bio and profile.avatar_url and profile.preferences for profile in profiles
        )

        contents = of_org("contents")
        assert 12 <= len(contents) <= 20
        assert {c.status for c in contents} == {s.value for s in models.ContentStatus}
        assert {c.difficulty for c in contents} == {d.value for d in models.Difficulty}
        assert all((c.status == "DRAFT") == (c.published_at is None) for c in contents)
        assert len({c.created_at for c in contents}) == len(contents)
        assert {c.author_id for c in contents} <= {
            u.id for u in users.values() if u.role != "STUDENT"
        }
        assert users["admin"].id in {c.author_id for c in contents}

        assert len(of_org("tags")) == 8
        assert len(of_org("content_tags")) >= len(contents)
        attachments = of_org("attachments")
        assert attachments
        assert all(a.size_bytes > 0 for a in attachments)
        assert {a.mime_type for a in attachments} <= {
            "application/pdf",
            "video/mp4",
            "image/png",
            "application/zip",
            "application/x-ipynb+json",
        }
        assert of_org("content_prerequisites")

        comments = {comment.id: comment for comment in of_org("comments")}
        replies = [c for c in comments.values() if c.parent_id is not None]
        assert replies
        assert len(replies) < len(comments)
        assert all(comments[r.parent_id].content_id == r.content_id for r in replies)

        ratings = of_org("ratings")
        students = {u.id for u in users.values() if u.role == "STUDENT"}
        assert ratings
        assert all(1 <= r.score <= 5 and r.user_id in students for r in ratings)


async def test_demo_contents_are_found_by_full_text_search(demos: list[Seeded]) -> None:
    async with demos[0].engine.connect() as connection:
        for word in ("python", "graph", "database"):
            found = await connection.execute(
                select(models.Organization.slug, func.count())
                .join(models.Content, models.Content.organization_id == models.Organization.id)
                .where(
                    models.Content.search_vector.op("@@")(
                        func.websearch_to_tsquery("english", word)
                    )
                )
                .group_by(models.Organization.slug)
            )
            assert {slug for slug, _ in found} == {"acme", "globex", "initech"}, word


async def test_the_demo_prerequisites_have_no_cycle(demos: list[Seeded]) -> None:
    assert_acyclic((await snapshot(demos[0].engine))["content_prerequisites"])


def test_the_scale_rule() -> None:
    assert scale.ScalePlan.for_scale(1) == scale.ScalePlan(10, 2_000)
    assert scale.ScalePlan.for_scale(2.5) == scale.ScalePlan(25, 2_000)
    assert scale.ScalePlan.for_scale(0.01) == scale.ScalePlan(1, 200)
    with pytest.raises(ValueError, match="positive"):
        scale.ScalePlan.for_scale(0)


async def test_the_scale_set_loads_the_counts_of_its_rule(scaled: list[Seeded]) -> None:
    organizations = max(1, round(10 * SCALE))
    per_org = max(1, round(20_000 * SCALE / organizations))
    expected = {
        "organizations": organizations,
        "users": organizations * scale.USERS,
        "user_profiles": organizations * scale.USERS,
        "tags": organizations * scale.TAGS,
        "contents": organizations * per_org,
        "content_tags": organizations * sum(1 + i % 3 for i in range(per_org)),
        "attachments": organizations * ((per_org + 1) // 2),
        "content_prerequisites": organizations * 2 * (per_org // 5),
        "comments": organizations * per_org * scale.COMMENTS_PER_CONTENT,
        "ratings": organizations * per_org * scale.RATINGS_PER_CONTENT,
    }
    rows = await snapshot(scaled[0].engine)
    assert counts(rows) == expected
    assert dict(scaled[0].summary.counts) == expected

    assert sorted(org.slug for org in rows["organizations"]) == [
        f"scale-{n:03d}" for n in range(1, organizations + 1)
    ]
    roles = Counter(user.role for user in rows["users"])
    assert roles == {
        "ADMIN": organizations,
        "INSTRUCTOR": organizations * scale.INSTRUCTORS,
        "STUDENT": organizations * (scale.USERS - scale.INSTRUCTORS - 1),
    }
    published = sum(c.status == "PUBLISHED" for c in rows["contents"]) / len(rows["contents"])
    assert 0.6 < published < 0.8
    assert any(comment.parent_id for comment in rows["comments"])
    assert_acyclic(rows["content_prerequisites"])


async def test_the_scale_set_is_identical_on_two_fresh_databases(scaled: list[Seeded]) -> None:
    first, second = [await snapshot(each.engine) for each in scaled]
    assert first == second


async def analyzed(engine: AsyncEngine) -> set[str]:
    """The tables an ANALYZE has given statistics (autovacuum's own runs are not counted)."""
    async with engine.connect() as connection:
        result = await connection.exec_driver_sql(
            "select relname from pg_stat_user_tables where last_analyze is not null"
        )
        return {name for (name,) in result}


async def test_the_planner_has_statistics_for_every_table_seeded(scaled: list[Seeded]) -> None:
    # Reads right after seeding would otherwise be planned for near-empty tables.
    assert await analyzed(scaled[0].engine) == set(scaled[0].summary.counts)


async def test_is_empty_until_seeded_and_seeding_again_is_refused(
    create_database: CreateDatabase,
) -> None:
    engine = await migrated(create_database)
    try:
        assert await seed.is_empty(engine)
        await seed.seed_scale(engine, 0.0005)
        assert not await seed.is_empty(engine)
        with pytest.raises(seed.AlreadySeeded, match="already seeded"):
            await seed.seed_demo(engine)
        with pytest.raises(seed.AlreadySeeded, match="already seeded"):
            await seed.seed_scale(engine, 0.0005)
    finally:
        await engine.dispose()


async def test_an_owner_without_superuser_rights_seeds_through_row_level_security(
    create_database: CreateDatabase, demos: list[Seeded]
) -> None:
    """Forced row-level security binds the tables' owner too: the seed must set the tenant."""
    url = await create_database()
    async with database_owner(url) as owner_url:
        owner = create_async_engine(owner_url, poolclass=NullPool)
        admin = create_async_engine(url, poolclass=NullPool)
        try:
            await migrate.upgrade(owner)
            assert await seed.is_empty(owner)
            await seed.seed_demo(owner)
            assert not await seed.is_empty(owner)
            assert await analyzed(owner) == set(models.Base.metadata.tables) - NOT_SEEDED
            with pytest.raises(seed.AlreadySeeded):
                await seed.seed_demo(owner)
            assert await snapshot(admin) == await snapshot(demos[0].engine)
        finally:
            await owner.dispose()
            await admin.dispose()


def test_the_summary_is_one_line_of_counts_and_seconds() -> None:
    summary = seed.SeedSummary({"organizations": 3, "comments": 1_200}, 0.42)
    assert str(summary) == "seeded 3 organizations, 1,200 comments in 0.4 s"
