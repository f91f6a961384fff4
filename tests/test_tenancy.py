"""The two tenancy locks: ORM criteria and row-level security, each tested on every tenant table."""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

import pytest
from sqlalchemy import insert, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import NullPool

import models
from gql_server.tenancy import (
    INCLUDE_DELETED,
    CrossTenantWrite,
    SessionScope,
    rescope,
    tenant_session,
)
from tests.factories import (
    add_prerequisite,
    count_rows,
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

Sessionmaker = async_sessionmaker[AsyncSession]

TENANT_MODELS: list[type[models.Base]] = [
    models.User,
    models.UserProfile,
    models.Content,
    models.ContentDeletion,
    models.ContentPrerequisite,
    models.Attachment,
    models.Comment,
    models.Rating,
    models.Tag,
    models.ContentTag,
    models.OutboxEvent,
]
# What `populate` writes in each tenant, per table.
ROWS_PER_TENANT = {
    "users": 2,
    "user_profiles": 1,
    "contents": 2,
    "content_deletions": 1,
    "content_prerequisites": 1,
    "attachments": 1,
    "comments": 2,
    "ratings": 1,
    "tags": 1,
    "content_tags": 1,
    "events": 1,  # the one written; and, where writes are announced, `tables_written` (below)
}


@dataclass(frozen=True)
class Tenant:
    org: models.Organization
    user: models.User
    content: models.Content
    tag: models.Tag


async def populate(sessionmaker: Sessionmaker) -> Tenant:
    """A fresh organization with rows in every tenant table."""
    org = await make_org(sessionmaker)
    async with tenant_session(sessionmaker, org.id) as db:
        author = await make_user(db, role=models.Role.INSTRUCTOR)
        reader = await make_user(db)
        await make_profile(db, user=author)
        basics = await make_content(db, author=author)
        advanced = await make_content(db, author=author)
        await add_prerequisite(db, advanced, basics)
        await make_attachment(db, content=basics)
        question = await make_comment(db, content=basics, author=reader)
        await make_comment(db, content=basics, author=author, parent_id=question.id)
        await make_rating(db, content=basics, user=reader)
        tag = await make_tag(db)
        await tag_content(db, basics, tag)
        db.add(
            models.OutboxEvent(
                kind=models.EventKind.CONTENT_PUBLISHED, subject_id=basics.id, content_id=basics.id
            )
        )
        advanced.deleted_at = datetime.now(UTC)  # deleted and restored: its deletion is kept
        await db.flush()
        advanced.deleted_at = None
    return Tenant(org=org, user=author, content=basics, tag=tag)


@pytest.fixture(scope="module")
async def rows_per_tenant(sessionmaker: Sessionmaker) -> dict[str, int]:
    """What each table holds per tenant. A writing transaction also announces the tables it
    wrote (one more `events` row), except on Citus, where the response cache is off and nothing
    is announced (`gql_server.tenancy.begin_tenant`)."""
    async with sessionmaker() as session:
        citus = await session.scalar(
            text("select exists (select from pg_extension where extname = 'citus')")
        )
    return {**ROWS_PER_TENANT, "events": ROWS_PER_TENANT["events"] + (0 if citus else 1)}


@pytest.fixture(scope="module")
async def tenants(sessionmaker: Sessionmaker) -> tuple[Tenant, Tenant]:
    """Two populated tenants, A and B. Read-only for the tests that share them."""
    return await populate(sessionmaker), await populate(sessionmaker)


def test_every_tenant_table_is_covered() -> None:
    assert sorted(model.__tablename__ for model in TENANT_MODELS) == sorted(models.TENANT_TABLES)
    assert sorted(ROWS_PER_TENANT) == sorted(models.TENANT_TABLES)


@pytest.mark.parametrize("model", TENANT_MODELS, ids=lambda model: model.__tablename__)
async def test_orm_queries_see_only_the_sessions_tenant(
    sessionmaker: Sessionmaker,
    tenants: tuple[Tenant, Tenant],
    model: type[models.Base],
    rows_per_tenant: dict[str, int],
) -> None:
    a, b = tenants
    for tenant in (a, b):  # both ways round, so a cached statement cannot keep the first tenant
        async with tenant_session(sessionmaker, tenant.org.id, read_only=True) as db:
            rows = (await db.scalars(select(model))).all()
        assert {row.organization_id for row in rows} == {tenant.org.id}  # type: ignore[attr-defined]
        assert len(rows) == rows_per_tenant[model.__tablename__]


@pytest.mark.parametrize("model", TENANT_MODELS, ids=lambda model: model.__tablename__)
async def test_the_orm_lock_alone_scopes_queries(
    sessionmaker: Sessionmaker,
    tenants: tuple[Tenant, Tenant],
    model: type[models.Base],
    rows_per_tenant: dict[str, int],
) -> None:
    # A superuser session with only the ORM criteria: row-level security is not in play here.
    a, b = tenants
    async with sessionmaker() as session:
        unscoped = await session.scalars(
            select(model.organization_id).where(  # type: ignore[attr-defined]
                model.organization_id.in_([a.org.id, b.org.id])  # type: ignore[attr-defined]
            )
        )
        assert set(unscoped) == {a.org.id, b.org.id}
        rescope(session, SessionScope(b.org.id))
        rows = (await session.scalars(select(model))).all()
    assert {row.organization_id for row in rows} == {b.org.id}  # type: ignore[attr-defined]
    assert len(rows) == rows_per_tenant[model.__tablename__]


@pytest.mark.parametrize("table", models.TENANT_TABLES)
async def test_raw_sql_sees_only_the_sessions_tenant(
    sessionmaker: Sessionmaker,
    tenants: tuple[Tenant, Tenant],
    table: str,
    rows_per_tenant: dict[str, int],
) -> None:
    a, b = tenants
    async with sessionmaker() as session:
        everything = await session.scalars(
            text(f"select organization_id from {table} where organization_id in (:a, :b)"),
            {"a": a.org.id, "b": b.org.id},
        )
        assert set(everything) == {a.org.id, b.org.id}
    async with tenant_session(sessionmaker, a.org.id, read_only=True) as db:
        seen = (await db.scalars(text(f"select organization_id from {table}"))).all()
    assert set(seen) == {a.org.id}
    assert len(seen) == rows_per_tenant[table]


async def test_the_session_runs_as_the_app_role_though_the_login_is_a_superuser(
    sessionmaker: Sessionmaker,
) -> None:
    org = await make_org(sessionmaker)
    async with sessionmaker() as session:
        login, superuser = (
            await session.execute(
                text("select current_user, rolsuper from pg_roles where rolname = current_user")
            )
        ).one()
    assert superuser is True
    assert login != models.APP_ROLE
    async with tenant_session(sessionmaker, org.id) as db:
        role, bypass = (
            await db.execute(
                text("select current_user, rolbypassrls from pg_roles where rolname = current_user")
            )
        ).one()
        tenant = await db.scalar(text("select current_setting('app.tenant_id')"))
    assert (role, bypass, tenant) == (models.APP_ROLE, False, str(org.id))
    async with sessionmaker() as session:  # the role switch ends with the transaction
        assert await session.scalar(text("select current_user")) == login


async def test_organizations_show_only_the_sessions_own(
    sessionmaker: Sessionmaker, tenants: tuple[Tenant, Tenant]
) -> None:
    a, _ = tenants
    async with tenant_session(sessionmaker, a.org.id, read_only=True) as db:
        raw = (await db.scalars(text("select id from organizations"))).all()
        orm = (await db.scalars(select(models.Organization))).all()
    assert raw == [a.org.id]
    assert [org.id for org in orm] == [a.org.id]


async def test_raw_updates_and_deletes_touch_only_the_sessions_tenant(
    sessionmaker: Sessionmaker,
) -> None:
    a, b = await populate(sessionmaker), await populate(sessionmaker)
    async with tenant_session(sessionmaker, a.org.id) as db:
        updated = await db.execute(text("update tags set name = 'renamed'"))
        deleted = await db.execute(text("delete from ratings"))
    assert (updated.rowcount, deleted.rowcount) == (1, 1)  # type: ignore[attr-defined]
    async with sessionmaker() as session:
        names = await session.scalars(
            select(models.Tag.name).where(models.Tag.organization_id == b.org.id)
        )
        assert list(names) == [b.tag.name]
    assert await count_rows(sessionmaker, "ratings", b.org.id) == 1
    assert await count_rows(sessionmaker, "ratings", a.org.id) == 0


CrossWrite = Callable[[AsyncSession, Tenant, Tenant], Awaitable[object]]


async def _content_by_foreign_author(db: AsyncSession, a: Tenant, b: Tenant) -> object:
    return await make_content(db, author=b.user)


async def _tag_from_other_tenant(db: AsyncSession, a: Tenant, b: Tenant) -> object:
    return await tag_content(db, a.content, b.tag)


async def _comment_on_foreign_content(db: AsyncSession, a: Tenant, b: Tenant) -> object:
    return await make_comment(db, content=b.content, author=a.user)


async def _comment_by_foreign_author(db: AsyncSession, a: Tenant, b: Tenant) -> object:
    return await make_comment(db, content=a.content, author=b.user)


async def _rating_on_foreign_content(db: AsyncSession, a: Tenant, b: Tenant) -> object:
    return await make_rating(db, content=b.content, user=a.user)


async def _attachment_on_foreign_content(db: AsyncSession, a: Tenant, b: Tenant) -> object:
    return await make_attachment(db, content=b.content)


async def _profile_of_foreign_user(db: AsyncSession, a: Tenant, b: Tenant) -> object:
    return await make_profile(db, user=b.user)


async def _foreign_prerequisite(db: AsyncSession, a: Tenant, b: Tenant) -> object:
    return await add_prerequisite(db, a.content, b.content)


@pytest.mark.parametrize(
    ("write", "table"),
    [
        (_content_by_foreign_author, "contents"),
        (_tag_from_other_tenant, "content_tags"),
        (_comment_on_foreign_content, "comments"),
        (_comment_by_foreign_author, "comments"),
        (_rating_on_foreign_content, "ratings"),
        (_attachment_on_foreign_content, "attachments"),
        (_profile_of_foreign_user, "user_profiles"),
        (_foreign_prerequisite, "content_prerequisites"),
    ],
    ids=lambda value: value.__name__.strip("_") if callable(value) else value,
)
async def test_rows_pointing_into_another_tenant_are_refused(
    sessionmaker: Sessionmaker,
    tenants: tuple[Tenant, Tenant],
    write: CrossWrite,
    table: str,
    rows_per_tenant: dict[str, int],
) -> None:
    a, b = tenants
    with pytest.raises(IntegrityError, match="foreign key"):
        async with tenant_session(sessionmaker, a.org.id) as db:
            await write(db, a, b)
    for tenant in (a, b):
        assert await count_rows(sessionmaker, table, tenant.org.id) == rows_per_tenant[table]


async def test_new_rows_get_the_sessions_tenant(sessionmaker: Sessionmaker) -> None:
    org = await make_org(sessionmaker)
    async with tenant_session(sessionmaker, org.id) as db:
        user = models.User(
            email="stamp@example.com", username="stamp", full_name="S", role=models.Role.ADMIN
        )
        assert user.organization_id is None
        db.add(user)
        await db.flush()
        assert user.organization_id == org.id
    async with sessionmaker() as session:
        stored = await session.scalar(
            text("select organization_id from users where id = :id"), {"id": user.id}
        )
    assert stored == org.id


async def test_a_row_of_another_tenant_is_refused_before_the_database(
    sessionmaker: Sessionmaker,
) -> None:
    a, b = await make_org(sessionmaker), await make_org(sessionmaker)

    async def stamped_then_foreign() -> None:
        async with tenant_session(sessionmaker, a.id) as db:
            await make_tag(db)
            await make_tag(db, organization_id=b.id)

    with pytest.raises(CrossTenantWrite, match=str(b.id)):
        await stamped_then_foreign()
    assert await count_rows(sessionmaker, "tags", a.id) == 0  # the whole transaction rolled back
    assert await count_rows(sessionmaker, "tags", b.id) == 0


def test_one_rule_stamps_a_new_row_for_flushed_objects_and_direct_inserts() -> None:
    tenant, other, actor, creator = (UUID(int=n) for n in range(1, 5))
    assert models.stamped(models.Comment, {"body": "b"}, tenant, actor) == {
        "body": "b",
        "organization_id": tenant,
        "created_by": actor,
        "updated_by": actor,
    }
    # A creator given is kept; the writer is always the actor; without one nothing is audited.
    assert models.stamped(models.Content, {"created_by": creator}, tenant, actor) == {
        "created_by": creator,
        "updated_by": actor,
        "organization_id": tenant,
    }
    assert models.stamped(models.Comment, {}, tenant, None) == {"organization_id": tenant}
    # Not audited: the tenant only. Not a tenant table: nothing.
    assert models.stamped(models.Rating, {"score": 3}, tenant, actor) == {
        "score": 3,
        "organization_id": tenant,
    }
    assert models.stamped(models.TrustedDocument, {"hash": "x"}, tenant, actor) == {"hash": "x"}
    with pytest.raises(CrossTenantWrite, match=str(other)):
        models.stamped(models.Tag, {"organization_id": other}, tenant, actor)


async def test_row_level_security_refuses_a_raw_insert_for_another_tenant(
    sessionmaker: Sessionmaker,
) -> None:
    a, b = await make_org(sessionmaker), await make_org(sessionmaker)
    with pytest.raises(DBAPIError, match="row-level security"):
        async with tenant_session(sessionmaker, a.id) as db:
            await db.execute(insert(models.Tag).values(organization_id=b.id, name="smuggled"))
    assert await count_rows(sessionmaker, "tags", b.id) == 0


async def test_moving_a_row_to_another_tenant_is_refused(sessionmaker: Sessionmaker) -> None:
    a, b = await make_org(sessionmaker), await make_org(sessionmaker)
    async with tenant_session(sessionmaker, a.id) as db:
        await make_tag(db)

    async def move() -> None:
        async with tenant_session(sessionmaker, a.id) as db:
            tag = await db.scalar(select(models.Tag))
            assert tag is not None
            tag.organization_id = b.id
            await db.flush()

    # On Citus (make test-scale), the distribution column itself may not change.
    with pytest.raises(DBAPIError, match=r"row-level security|partition value of rows"):
        await move()
    assert await count_rows(sessionmaker, "tags", a.id) == 1
    assert await count_rows(sessionmaker, "tags", b.id) == 0


async def test_a_read_only_session_refuses_writes(sessionmaker: Sessionmaker) -> None:
    org = await make_org(sessionmaker)
    with pytest.raises(DBAPIError, match="read-only"):
        async with tenant_session(sessionmaker, org.id, read_only=True) as db:
            await make_tag(db)
    assert await count_rows(sessionmaker, "tags", org.id) == 0


@dataclass(frozen=True)
class SoftDeletedRows:
    org: models.Organization
    live: dict[type[models.Base], UUID]
    deleted: dict[type[models.Base], UUID]


@pytest.fixture
async def soft_deleted(sessionmaker: Sessionmaker) -> SoftDeletedRows:
    org = await make_org(sessionmaker)
    gone = {"deleted_at": datetime.now(UTC)}
    async with tenant_session(sessionmaker, org.id) as db:
        author = await make_user(db)
        former = await make_user(db, **gone)
        content = await make_content(db, author=author)
        withdrawn = await make_content(db, author=author, **gone)
        comment = await make_comment(db, content=content, author=author)
        retracted = await make_comment(db, content=content, author=author, **gone)
    return SoftDeletedRows(
        org=org,
        live={models.User: author.id, models.Content: content.id, models.Comment: comment.id},
        deleted={
            models.User: former.id,
            models.Content: withdrawn.id,
            models.Comment: retracted.id,
        },
    )


@pytest.mark.parametrize(
    "model", [models.User, models.Content, models.Comment], ids=lambda model: model.__tablename__
)
async def test_soft_deleted_rows_are_hidden_unless_asked_for(
    sessionmaker: Sessionmaker, soft_deleted: SoftDeletedRows, model: type[models.Base]
) -> None:
    live, deleted = soft_deleted.live[model], soft_deleted.deleted[model]
    async with tenant_session(sessionmaker, soft_deleted.org.id, read_only=True) as db:
        default = (await db.scalars(select(model))).all()
        everything = (
            await db.scalars(select(model), execution_options={INCLUDE_DELETED: True})
        ).all()
        raw = (await db.scalars(text(f"select id from {model.__tablename__}"))).all()
    assert [row.id for row in default] == [live]  # type: ignore[attr-defined]
    assert {row.id for row in everything} == {live, deleted}  # type: ignore[attr-defined]
    assert set(raw) == {live, deleted}  # soft delete is the ORM's rule, not the database's


async def test_without_a_tenant_setting_the_app_role_sees_no_rows(
    database_url: str, tenants: tuple[Tenant, Tenant]
) -> None:
    # A new connection: `app.tenant_id` has never been set on it.
    engine = create_async_engine(database_url, poolclass=NullPool)
    try:
        async with engine.connect() as connection:
            for table in (*models.TENANT_TABLES, "organizations"):
                assert await connection.scalar(text(f"select count(*) from {table}")) > 0
            await connection.execute(text(f"set role {models.APP_ROLE}"))
            for table in (*models.TENANT_TABLES, "organizations"):
                assert await connection.scalar(text(f"select count(*) from {table}")) == 0, table
            await connection.rollback()
    finally:
        await engine.dispose()


async def test_without_a_tenant_setting_a_reused_connection_sees_no_rows(
    database_url: str, tenants: tuple[Tenant, Tenant]
) -> None:
    a, _ = tenants
    engine = create_async_engine(database_url, pool_size=1, max_overflow=0)
    try:
        async with tenant_session(async_sessionmaker(engine), a.org.id) as db:
            await db.execute(text("select 1"))
        async with engine.connect() as connection:  # the same pooled connection again
            await connection.execute(text(f"set role {models.APP_ROLE}"))
            assert await connection.scalar(text("select count(*) from users")) == 0
            await connection.rollback()
    finally:
        await engine.dispose()
