"""Citus: the tenants spread over worker nodes (`gql-server distribute`, README "Scaling out").

`distribute` makes `organizations` a reference table (a copy on every node) and every tenant
table but the outbox a table distributed by `organization_id`, all co-located with `users`: a
tenant's rows of every table live on one worker, and each statement of a request, filtered by
its tenant, runs there whole (a single-shard router query). The outbox stays on the coordinator
(a Citus local table), where the listeners read it in order. Citus cannot distribute a table
that a table not distributed yet references, so the foreign keys among these tables are dropped
and made again around the distribution, in one transaction; tables distributed already are left
as they are, so running it again (after a migration adds a table) is safe.

Two things of a request must reach the workers, which Citus connects to for it:
- the role: Citus opens a request's worker connections as the role the transaction switched to,
  so the application role may log in (on the workers, with the authentication they require);
- the tenant: only a `SET LOCAL` command reaches them, and only with
  `citus.propagate_set_commands = 'local'` (set here for the database); a `set_config()` inside
  a statement does not. Sessions on a Citus database send it (`tenancy.begin_tenant`): every
  connection is checked for the extension once, when it is opened (`CITUS`).
"""

from typing import Any

from sqlalchemy import Engine, event, text
from sqlalchemy.ext.asyncio import AsyncConnection

import models

# connection.info key: the connection's database has the Citus extension.
CITUS = "citus"
ANCHOR = "users"  # the table the others are co-located with
REFERENCE = "organizations"
LOCAL = frozenset({models.OutboxEvent.__tablename__})
_HAS_CITUS = "select exists (select from pg_extension where extname = 'citus')"


class NotCitus(Exception):
    """The database has no Citus extension."""


@event.listens_for(Engine, "connect")
def _note_citus(dbapi_connection: Any, record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(_HAS_CITUS)
        record.info[CITUS] = bool(cursor.fetchone()[0])
    finally:
        cursor.close()
        dbapi_connection.rollback()  # the probe's own transaction, not the first request's


def tenant_tables() -> list[str]:
    """The tables distributed by tenant, `ANCHOR` first."""
    names = {
        str(mapper.persist_selectable.name)  # type: ignore[attr-defined]
        for mapper in models.Base.registry.mappers
        if issubclass(mapper.class_, models.TenantScoped)
    }
    return [ANCHOR, *sorted(names - LOCAL - {ANCHOR})]


async def distribute(connection: AsyncConnection) -> list[str]:
    """Distribute what is not distributed yet, in the connection's transaction; the tables
    that were."""
    if not (await connection.execute(text(_HAS_CITUS))).scalar():
        raise NotCitus(
            "the database has no Citus extension: CREATE EXTENSION citus, and add the worker"
            " nodes (citus_add_node), first"
        )
    listed = await connection.execute(
        text("select table_name::text, citus_table_type from citus_tables")
    )
    kinds: dict[str, str] = {name: kind for name, kind in listed.all()}
    tables = tenant_tables()
    todo = [name for name in tables if kinds.get(name) != "distributed"]
    done: list[str] = []
    if todo or kinds.get(REFERENCE) != "reference":
        # `contents` has a trigger (content_deletions): Citus runs it on the shards, where its
        # rows and the ones it writes are co-located.
        await connection.execute(text("set local citus.enable_unsafe_triggers = on"))
        keys = await _foreign_keys(connection, tables)
        for table, name, _ in keys:
            await connection.execute(text(f'alter table "{table}" drop constraint "{name}"'))
        if kinds.get(REFERENCE) != "reference":
            await connection.execute(text(f"select create_reference_table('{REFERENCE}')"))
            done.append(REFERENCE)
        for name in todo:
            colocate = "default" if name == ANCHOR else ANCHOR
            await connection.execute(
                text(
                    f"select create_distributed_table('{name}', 'organization_id',"
                    f" colocate_with => '{colocate}')"
                )
            )
            done.append(name)
        for table, name, definition in keys:
            await connection.execute(
                text(f'alter table "{table}" add constraint "{name}" {definition}')
            )
    await connection.execute(text(f"alter role {models.APP_ROLE} login"))
    database = (await connection.execute(text("select current_database()"))).scalar()
    await connection.execute(
        text(f'alter database "{database}" set citus.propagate_set_commands = local')
    )
    return done


async def _foreign_keys(
    connection: AsyncConnection, tables: list[str]
) -> list[tuple[str, str, str]]:
    rows = await connection.execute(
        text(
            "select conrelid::regclass::text, conname, pg_get_constraintdef(oid)"
            " from pg_constraint where contype = 'f' and conrelid::regclass::text = any(:tables)"
            " order by 1, 2"
        ),
        {"tables": tables},
    )
    return [(table, name, definition) for table, name, definition in rows.all()]
