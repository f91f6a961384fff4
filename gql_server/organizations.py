"""Organizations read across tenants, for operators' commands (`seed`, `token`).

Row-level security is forced on `organizations` too: a login role that is neither a superuser nor
`BYPASSRLS` sees only the organization named by `app.tenant_id`, even when it owns the table (the
role README recommends for production). A command that must find an organization by slug, or know
whether any exists, reads them here instead.
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine


@asynccontextmanager
async def every_organization(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A connection in a transaction that reads every organization, whatever the login role;
    rolled back at the end, whatever was done in it."""
    async with engine.connect() as connection:
        try:
            sees_all = await connection.scalar(
                text("select rolsuper or rolbypassrls from pg_roles where rolname = current_user")
            )
            if not sees_all:
                # The owner lifts FORCE for this transaction only: rolled back, it changes
                # nothing for anyone else; meanwhile it holds the table's lock (milliseconds).
                await connection.execute(
                    text("alter table organizations no force row level security")
                )
            yield connection
        finally:
            await connection.rollback()
