"""Test fixtures: one real PostgreSQL per run (embedded, or TEST_DATABASE_URL), migrated once.

Tests stay isolated by creating their own organizations (a fresh tenant per test); the few that
need a whole database of their own (migrations, seed) get one from `create_database`.
"""

import os
import tempfile
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import NullPool

from gql_server import embedded, migrate
from gql_server.database import to_asyncpg

if TYPE_CHECKING:
    import httpx
    from starlette.applications import Starlette

    from gql_server.settings import Settings
    from tests.differential import Differential

CreateDatabase = Callable[[], Awaitable[str]]


@pytest.fixture(scope="session")
def server_url() -> Iterator[str]:
    """An asyncpg URL to a maintenance database of a server where tests may create databases."""
    if url := os.environ.get("TEST_DATABASE_URL"):
        yield to_asyncpg(url)
        return
    with tempfile.TemporaryDirectory(prefix="gql-test-pg-") as data_dir:
        server = embedded.start(Path(data_dir) / "pgdata")
        try:
            yield embedded.asyncpg_url(server)
        finally:
            server.cleanup()


@pytest.fixture(scope="session")
async def create_database(server_url: str) -> AsyncIterator[CreateDatabase]:
    """Factory: a new, empty database on the test server; all are dropped at the end."""
    admin = create_async_engine(server_url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    created: list[str] = []

    async def create() -> str:
        name = f"gql_test_{uuid.uuid4().hex[:12]}"
        async with admin.connect() as connection:
            await connection.execute(text(f'CREATE DATABASE "{name}"'))
        created.append(name)
        return make_url(server_url).set(database=name).render_as_string(hide_password=False)

    yield create
    async with admin.connect() as connection:
        for name in created:
            await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    await admin.dispose()


@pytest.fixture(scope="session")
async def database_url(create_database: CreateDatabase) -> str:
    """The suite's migrated database."""
    url = await create_database()
    engine = create_async_engine(url, poolclass=NullPool)
    await migrate.upgrade(engine)
    await engine.dispose()
    return url


@pytest.fixture(scope="session")
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(database_url, pool_size=5, max_overflow=10)
    yield engine
    await engine.dispose()


@pytest.fixture(scope="session")
def sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


@pytest.fixture(scope="session")
def differential() -> Iterator["Differential"]:
    """Every planned query of the suite also runs the standard way (tests.differential)."""
    from schema import schema
    from tests.differential import Differential

    checking = Differential(schema.execute_operation)
    schema.execute_operation = checking  # type: ignore[method-assign]
    yield checking
    del schema.execute_operation


@pytest.fixture(autouse=True)
def same_answer_both_ways(differential: "Differential") -> Iterator[None]:
    """Fails a test whose requests the compiled and the standard path answered differently."""
    before = len(differential.mismatches)
    yield
    found = differential.mismatches[before:]
    assert not found, "compiled and standard execution differ:\n" + "\n".join(found)


@pytest.fixture(scope="session")
def settings() -> "Settings":
    from gql_server.settings import Settings

    return Settings(database_url=None, statement_timeout_ms=10_000)


@pytest.fixture(scope="session")
async def app(settings: "Settings", database_url: str) -> AsyncIterator["Starlette"]:
    """The real ASGI app (middleware, lifespan, endpoint) on the suite's database."""
    from gql_server.app import create_app

    application = create_app(settings, database_url=database_url)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture(scope="session")
async def client(app: "Starlette") -> AsyncIterator["httpx.AsyncClient"]:
    import httpx

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http
