"""The engine: one connection pool per process, created in the app's lifespan."""

import socket
from typing import TYPE_CHECKING, Any

from sqlalchemy import URL
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from gql_server import embedded
from gql_server.settings import Settings

if TYPE_CHECKING:
    from gql_server.embedded_server import EmbeddedServer

_embedded_servers: list["EmbeddedServer"] = []
# Opening a connection to a database that does not answer (a host gone from the network) gives
# up after this long: the request is answered 503 rather than left waiting.
CONNECT_TIMEOUT_SECONDS = 5.0
# What named prepared statements meet behind a transaction-mode pooler: duplicate prepared
# statement, invalid statement name, protocol violation.
_POOLER_SQLSTATES = frozenset({"42P05", "26000", "08P01"})


def resolve_database_url(settings: Settings) -> str:
    """`DATABASE_URL` when set (any PostgreSQL URL, made asyncpg), else the embedded server's."""
    if settings.database_url:
        return to_asyncpg(settings.database_url)
    server = embedded.start(settings.data_dir)
    _embedded_servers.append(server)  # keep a handle: the server stops when the last one goes
    return embedded.asyncpg_url(server)


def release_embedded() -> None:
    """This process is done with the embedded database; the last process done stops it.

    The server is also released at exit, but a uvicorn worker ends by re-raising the SIGTERM it
    shut down for, which skips exit handlers: the app's lifespan says so itself.
    """
    while _embedded_servers:
        embedded.release(_embedded_servers.pop())


def to_asyncpg(url: str) -> str:
    """Any PostgreSQL URL (`postgresql://`, `postgres://`, `postgresql+psycopg://`, ...) as
    SQLAlchemy's asyncpg URL."""
    parsed = make_url(url)
    if parsed.get_backend_name() in ("postgres", "postgresql"):
        parsed = parsed.set(drivername="postgresql+asyncpg")
    return parsed.render_as_string(hide_password=False)


def to_libpq(url: str) -> str:
    """Any PostgreSQL URL as libpq writes it (`postgresql://...`), as asyncpg and psql take it."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


class Unreachable(Exception):
    """The database cannot be reached or refuses the login; the message says what to do."""


async def ensure_reachable(engine: AsyncEngine) -> None:
    """Open one connection, or raise `Unreachable` with one line saying why."""
    where = _where(engine.url)
    try:
        async with engine.connect():
            return
    except DBAPIError as error:
        cause = str(error.orig).strip()
        code = getattr(error.orig, "sqlstate", None) or getattr(error.orig, "pgcode", None)
        if code == "3D000":  # invalid_catalog_name
            name = engine.url.database
            raise Unreachable(
                f"{cause} on {where}: create it (createdb {name}) or correct DATABASE_URL"
            ) from None
        if code in _POOLER_SQLSTATES:
            raise Unreachable(
                f"{cause} on {where}: behind a transaction-mode pooler (PgBouncer), set"
                " GQL_TRANSACTION_POOLER=true and GQL_DIRECT_DATABASE_URL"
            ) from None
        if code in ("28000", "28P01"):  # invalid_authorization_specification, invalid_password
            raise Unreachable(
                f"PostgreSQL at {where} refused the login ({cause}): correct the user or"
                " password in DATABASE_URL"
            ) from None
        raise Unreachable(f"PostgreSQL at {where} refused the connection: {cause}") from None
    except OSError as error:  # refused, no such host, timed out, unreachable network, TLS
        raise Unreachable(
            f"cannot reach PostgreSQL at {where} ({_reason(error)}): start it, or correct the"
            " host and port in DATABASE_URL"
        ) from None


def _where(url: URL) -> str:
    host = url.host or url.query.get("host") or "localhost"
    return f"{host}:{url.port or 5432}" if url.host else str(host)


def _reason(error: OSError) -> str:
    if isinstance(error, ConnectionRefusedError):
        return "connection refused"
    if isinstance(error, socket.gaierror):
        return "no such host"
    if isinstance(error, TimeoutError):
        return f"no answer within {CONNECT_TIMEOUT_SECONDS:g} s"
    return error.strerror or str(error)


def connect_args(settings: Settings, application_name: str = "gql_server") -> dict[str, Any]:
    """What every pooled connection of the server is opened with.

    Behind a transaction-mode pooler (`GQL_TRANSACTION_POOLER`), consecutive transactions of one
    client connection run on different server connections, so a named prepared statement made
    in one is missing (or another client's) in the next. With both statement caches off,
    asyncpg prepares every statement unnamed and parses it again in the same message batch that
    binds and runs it: nothing outlives the statement, and nothing depends on the pooler keeping
    the server connection between two messages, inside a transaction or not.
    """
    args: dict[str, Any] = {
        "server_settings": {"application_name": application_name},
        # asyncpg waits 60 s by default; a refused connection fails at once in any case.
        "timeout": CONNECT_TIMEOUT_SECONDS,
    }
    if settings.transaction_pooler:
        args["statement_cache_size"] = 0  # asyncpg's: unnamed statements
        args["prepared_statement_cache_size"] = 0  # SQLAlchemy's asyncpg dialect's
    return args


def direct_url(settings: Settings, url: str) -> str:
    """The database at `url` without a pooler in between (`GQL_DIRECT_DATABASE_URL`), for a
    session of its own (LISTEN)."""
    if not settings.direct_database_url:
        return url
    return same_database(settings.direct_database_url, url)


def same_database(url: str, like: str) -> str:
    """`url` (another way to the database of `like`: a replica, past a pooler) as an asyncpg
    URL; what it leaves out of database, user and password, `like`'s."""
    parsed, model = make_url(to_asyncpg(url)), make_url(like)
    parsed = parsed.set(
        database=parsed.database or model.database,
        username=parsed.username or model.username,
        password=parsed.password if parsed.username else model.password,
    )
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
        connect_args=connect_args(settings),
    )
    return engine


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)
