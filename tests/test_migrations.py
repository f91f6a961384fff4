"""Migrations on fresh databases: upgrade, downgrade, row-level security, the CLI drift check."""

import asyncio
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

import models
from gql_server import migrate

CreateDatabase = Callable[[], Awaitable[str]]
CLI = Path(sys.executable).with_name("gql-server")


@pytest.fixture(scope="module")
async def migrated_url(create_database: CreateDatabase) -> str:
    """A database of this module's own, upgraded to head."""
    url = await create_database()
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        await migrate.upgrade(engine)
    finally:
        await engine.dispose()
    return url


@pytest.fixture
async def migrated(migrated_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(migrated_url, poolclass=NullPool)
    yield engine
    await engine.dispose()


async def public_tables(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as connection:
        names = await connection.scalars(
            text(
                "select table_name from information_schema.tables"
                " where table_schema = 'public' and table_name <> 'alembic_version'"
            )
        )
        return set(names)


async def test_upgrade_reaches_head_without_drift(migrated: AsyncEngine) -> None:
    head = migrate.head_revision()
    assert head is not None
    assert await migrate.current_revision(migrated) == head
    assert await migrate.drift(migrated) == []
    global_tables = {"organizations", "trusted_documents"}
    assert await public_tables(migrated) == {*models.TENANT_TABLES, *global_tables}


async def test_downgrade_to_base_removes_everything_and_upgrade_works_again(
    create_database: CreateDatabase,
) -> None:
    engine = create_async_engine(await create_database(), poolclass=NullPool)
    try:
        await migrate.upgrade(engine)
        assert await public_tables(engine) == set(models.Base.metadata.tables)

        await migrate.downgrade(engine, "base")
        assert await migrate.current_revision(engine) is None
        assert await public_tables(engine) == set()

        await migrate.upgrade(engine)
        assert await migrate.current_revision(engine) == migrate.head_revision()
        assert await public_tables(engine) == set(models.Base.metadata.tables)
        assert await migrate.drift(engine) == []
    finally:
        await engine.dispose()


async def test_row_level_security_is_enabled_and_forced_on_every_tenant_table(
    migrated: AsyncEngine,
) -> None:
    async with migrated.connect() as connection:
        rows = await connection.execute(
            text(
                "select c.relname, c.relrowsecurity, c.relforcerowsecurity,"
                " p.qual, p.with_check"
                " from pg_class c join pg_namespace n on n.oid = c.relnamespace"
                " left join pg_policies p on p.schemaname = n.nspname and p.tablename = c.relname"
                " and p.policyname = 'tenant_isolation'"
                " where n.nspname = 'public' and c.relkind = 'r'"
            )
        )
        by_table = {row.relname: row for row in rows}
    for table in models.TENANT_TABLES:
        row = by_table[table]
        assert (row.relrowsecurity, row.relforcerowsecurity) == (True, True), table
        assert "app.tenant_id" in row.qual, table
        assert "app.tenant_id" in row.with_check, table
    organizations = by_table["organizations"]
    assert (organizations.relrowsecurity, organizations.relforcerowsecurity) == (True, True)
    assert "app.tenant_id" in organizations.qual


async def test_the_app_role_cannot_bypass_row_level_security(migrated: AsyncEngine) -> None:
    async with migrated.connect() as connection:
        role = (
            await connection.execute(
                text(
                    "select rolbypassrls, rolsuper, rolcanlogin from pg_roles where rolname = :role"
                ),
                {"role": models.APP_ROLE},
            )
        ).one()
    assert (role.rolbypassrls, role.rolsuper, role.rolcanlogin) == (False, False, False)


async def run_check(database_url: str) -> tuple[int, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("GQL_")}
    env["DATABASE_URL"] = database_url
    process = await asyncio.create_subprocess_exec(
        str(CLI),
        "migrate",
        "--check",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return process.returncode, output.decode()


async def test_cli_check_passes_on_a_migrated_database(migrated_url: str) -> None:
    code, output = await run_check(migrated_url)
    assert code == 0, output
    assert "agree" in output


async def test_cli_check_fails_on_an_unmigrated_database(create_database: CreateDatabase) -> None:
    url = await create_database()
    code, output = await run_check(url)
    assert code != 0, output
    assert f"migrations head is {migrate.head_revision()}" in output
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        assert await public_tables(engine) == set()  # the check changed nothing
    finally:
        await engine.dispose()
