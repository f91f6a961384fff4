"""Bulk loading: one `INSERT ... SELECT * FROM unnest(...)` per table and organization.

Row-level security is forced on every tenant table (and on organizations), so a login role that
is not a superuser, even the tables' owner, may only write rows of the tenant named by
`app.tenant_id`. Each organization is therefore written in a transaction that first sets it;
COPY would be faster still, but PostgreSQL refuses COPY FROM into such tables for those roles.
"""

import asyncio
from collections import Counter
from collections.abc import Iterable, Sequence
from functools import cache
from typing import Any
from uuid import UUID

from sqlalchemy import exc, text
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

import models
from gql_server.seed.rows import OrganizationRow, TenantRows

WRITERS = 2
_SET_TENANT = text("select set_config('app.tenant_id', :tenant_id, true)")


class AlreadySeeded(Exception):
    """The database already holds organizations: seeding only fills an empty one."""


async def load(
    engine: AsyncEngine, organizations: Sequence[OrganizationRow], tenants: Iterable[TenantRows]
) -> Counter[str]:
    """Insert the organizations in one transaction, then each tenant's rows in its own one.

    `tenants` may be lazy: writers take the next organization when free, so only a few are in
    memory at a time. Returns the rows inserted per table. A failure part way leaves the
    organizations written so far, and the database counts as seeded: start from a fresh one.
    """
    counts: Counter[str] = Counter()
    async with engine.connect() as connection:
        try:
            async with connection.begin():
                for organization in organizations:
                    await _as_tenant(connection, organization.id)
                    await _insert(connection, "organizations", [organization])
        except exc.IntegrityError as error:
            # Reached only when another process seeded between the emptiness check and here.
            raise AlreadySeeded(f"database already seeded: {error.orig}") from error
    counts["organizations"] = len(organizations)

    pending = iter(tenants)

    async def write() -> None:
        async with engine.connect() as connection:
            for tenant in pending:
                async with connection.begin():
                    await _as_tenant(connection, tenant.id)
                    for table, rows in tenant.tables():
                        await _insert(connection, table, rows)
                        counts[table] += len(rows)

    # Foreign key checks and index updates dominate: two backends share them out.
    async with asyncio.TaskGroup() as writers:
        for _ in range(WRITERS):
            writers.create_task(write())
    await _analyze(engine, sorted(counts))
    return counts


async def _analyze(engine: AsyncEngine, tables: Sequence[str]) -> None:
    """Statistics for the tables just filled, before anything is read from them.

    Without them the planner takes each freshly filled table for a few rows until autovacuum
    next analyzes it (a minute or more later), and picks plans that read whole tenants: the
    nested page's statements ran 5-10 times slower on a dataset seeded a moment before.
    One table per transaction: Citus refuses to analyze the reference table (organizations)
    after a distributed one in the same transaction.
    """
    async with engine.connect() as connection:
        autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
        for table in tables:
            await autocommit.exec_driver_sql(f"analyze {table}")


async def _as_tenant(connection: AsyncConnection, tenant_id: UUID) -> None:
    await connection.execute(_SET_TENANT, {"tenant_id": str(tenant_id)})


async def _insert(connection: AsyncConnection, table: str, rows: Sequence[Any]) -> None:
    if not rows:
        return
    columns: tuple[str, ...] = rows[0]._fields
    arrays = tuple(list(values) for values in zip(*rows, strict=True))
    statement = _insert_statement(connection.dialect, table, columns)
    await connection.exec_driver_sql(statement, arrays)


@cache
def _insert_statement(dialect: Dialect, table: str, columns: tuple[str, ...]) -> str:
    # Array types come from the models, so a value too long for its column fails here too.
    table_columns = models.Base.metadata.tables[table].c
    arrays = ", ".join(
        f"${position}::{table_columns[column].type.compile(dialect=dialect)}[]"
        for position, column in enumerate(columns, start=1)
    )
    return f"insert into {table} ({', '.join(columns)}) select * from unnest({arrays})"
