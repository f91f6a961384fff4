"""The engine: one connection pool per process, created in the app's lifespan."""

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from gql_server import embedded
from gql_server.settings import Settings
from gql_server.tenancy import count_statements

_embedded_servers: list[object] = []
# Opening a connection to a database that does not answer (a host gone from the network) gives
# up after this long: the request is answered 503 rather than left waiting.
CONNECT_TIMEOUT_SECONDS = 5.0


def resolve_database_url(settings: Settings) -> str:
    """`DATABASE_URL` when set (any PostgreSQL URL, made asyncpg), else the embedded server's."""
    if settings.database_url:
        return to_asyncpg(settings.database_url)
    server = embedded.start(settings.data_dir)
    _embedded_servers.append(server)  # keep a handle: the server stops when the last one goes
    return embedded.asyncpg_url(server)


def to_asyncpg(url: str) -> str:
    parsed = make_url(url)
    if parsed.drivername in {"postgres", "postgresql", "postgresql+psycopg2", "postgresql+psycopg"}:
        parsed = parsed.set(drivername="postgresql+asyncpg")
    return parsed.render_as_string(hide_password=False)


def create_engine(url: str, settings: Settings) -> AsyncEngine:
    engine = create_async_engine(
        url,
        pool_size=settings.pool_size,
        max_overflow=settings.pool_max_overflow,
        pool_timeout=settings.pool_timeout_seconds,
        # No ping before each checkout (a round trip per request): a connection found dead by
        # a statement invalidates the pool, and connections are renewed every half hour.
        pool_recycle=1800,
        connect_args={
            "server_settings": {"application_name": "gql_server"},
            # asyncpg waits 60 s by default; a refused connection fails at once in any case.
            "timeout": CONNECT_TIMEOUT_SECONDS,
        },
    )
    event.listen(engine.sync_engine, "before_cursor_execute", count_statements)
    return engine


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)
