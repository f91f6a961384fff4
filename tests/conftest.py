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
    from tests.scale.topology import Topology

CreateDatabase = Callable[[], Awaitable[str]]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--scale",
        choices=("pooler", "replica", "citus"),
        default=None,
        help="run on PgBouncer in transaction mode, a primary with a streaming replica, or a"
        " Citus cluster, started for the run (make test-scale; tests/scale/topology.py)",
    )


@pytest.fixture(scope="session")
def topology(request: pytest.FixtureRequest) -> Iterator["Topology | None"]:
    """The servers a `--scale` run puts under the suites; None otherwise."""
    kind = request.config.getoption("--scale")
    if kind is None:
        yield None
        return
    from tests.scale.topology import start

    with start(kind) as started:
        yield started


@pytest.fixture(scope="session", autouse=True)
def scale_environment(
    request: pytest.FixtureRequest, topology: "Topology | None"
) -> Iterator[None]:
    """Under `--scale`, the settings every server of the run reads (this process's, and the
    `gql-server serve` processes it starts)."""
    if topology is None:
        yield
        return
    served = request.getfixturevalue("database_url")
    direct = request.getfixturevalue("direct_database_url")
    assert served
    with pytest.MonkeyPatch.context() as patch:
        for name, value in topology.environment(direct).items():
            patch.setenv(name, value)
        yield


@pytest.fixture(scope="session")
def server_url(topology: "Topology | None") -> Iterator[str]:
    """An asyncpg URL to a maintenance database of a server where tests may create databases."""
    if topology is not None:
        yield topology.admin_url
        return
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
async def direct_database_url(create_database: CreateDatabase, topology: "Topology | None") -> str:
    """The suite's migrated database, reached directly (never through a pooler)."""
    url = await create_database()
    engine = create_async_engine(url, poolclass=NullPool)
    await migrate.upgrade(engine)
    await engine.dispose()
    if topology is not None and topology.prepare is not None:
        await topology.prepare(url)
    return url


@pytest.fixture(scope="session")
def database_url(direct_database_url: str, topology: "Topology | None") -> str:
    """The suite's migrated database, as the server and the tests reach it."""
    return direct_database_url if topology is None else topology.served(direct_database_url)


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
    from schema.execution import EventExecutor
    from tests.differential import Differential

    checking = Differential(schema.execute_operation)
    schema.execute_operation = checking  # type: ignore[method-assign]
    planned = EventExecutor.execute_planned
    EventExecutor.execute_planned = checking.events(planned)  # type: ignore[method-assign]
    undo_replay = checking.replay.install()
    yield checking
    undo_replay()
    del schema.execute_operation
    EventExecutor.execute_planned = planned  # type: ignore[method-assign]


@pytest.fixture(autouse=True)
def same_answer_both_ways(
    differential: "Differential", request: pytest.FixtureRequest
) -> Iterator[None]:
    """Fails a test whose requests the compiled and the standard path answered differently."""
    before = len(differential.mismatches)
    differential.mutations = request.node.get_closest_marker("racing") is None
    yield
    differential.mutations = True
    found = differential.mismatches[before:]
    assert not found, "compiled and standard execution differ:\n" + "\n".join(found)


@pytest.fixture(scope="session")
def settings(scale_environment: None) -> "Settings":
    from gql_server.settings import Settings

    # Many tests write the database directly, then read through the app: its response cache
    # would hear of those writes only through the outbox, a moment later. The cache's own tests
    # (tests/test_response_cache.py) run apps with it on.
    return Settings(database_url=None, statement_timeout_ms=10_000, response_cache=False)


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
