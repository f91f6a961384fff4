"""A non-superuser login role that owns a database: the role README recommends for production.

Row-level security is forced on every table, so it binds this owner too: what the server's
commands do for it must go through the tenant's policies, or lift FORCE for a moment as the owner.
"""

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import URL, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool


@asynccontextmanager
async def database_owner(database_url: str) -> AsyncIterator[URL]:
    """The URL of a new role (LOGIN CREATEROLE, no superuser, no BYPASSRLS) that owns the
    database at `database_url`; everything it owns goes back to the superuser at the end."""
    url = make_url(database_url)
    role, password = f"owner_{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    admin = create_async_engine(url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    async with admin.connect() as connection:
        await connection.execute(text(f"CREATE ROLE {role} LOGIN CREATEROLE PASSWORD '{password}'"))
        await connection.execute(text(f'ALTER DATABASE "{url.database}" OWNER TO {role}'))
        # Since PostgreSQL 16 CREATEROLE alone no longer lets the owner grant an existing role.
        for created in ("gql_app", "gql_outbox"):
            await connection.execute(
                text(
                    "DO $$ BEGIN IF NOT EXISTS"
                    f" (SELECT FROM pg_roles WHERE rolname = '{created}') THEN"
                    f" CREATE ROLE {created} NOLOGIN NOBYPASSRLS; END IF; END $$"
                )
            )
            await connection.execute(text(f"GRANT {created} TO {role} WITH ADMIN OPTION"))
    try:
        yield url.set(username=role, password=password)
    finally:
        async with admin.connect() as connection:
            await connection.execute(text(f"REASSIGN OWNED BY {role} TO current_user"))
            await connection.execute(text(f"DROP OWNED BY {role}"))
            await connection.execute(text(f"DROP ROLE {role}"))
        await admin.dispose()
