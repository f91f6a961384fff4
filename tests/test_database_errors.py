"""Every database error is classified as what it is (gql_server.unavailable.classify): an
outage is 503, and nothing else the database refuses is mistaken for one or escapes as a
plain-text 500."""

import asyncpg
import httpx
import pytest
from pydantic import ValidationError
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.pool import NullPool

from gql_server import migrate
from gql_server.app import create_app
from gql_server.settings import Settings
from gql_server.unavailable import DatabaseFailure, classify
from tests.api import token_for
from tests.conftest import CreateDatabase
from tests.live import make_tenant

_ERRORS = asyncpg.exceptions


def _caused(error: BaseException, cause: BaseException) -> BaseException:
    error.__cause__ = cause
    return error


@pytest.mark.parametrize(
    ("error", "failure"),
    [
        # What a transaction-mode pooler does to named prepared statements: no outage.
        (_ERRORS.ProtocolViolationError("bind message supplies 0 parameters"), "STATEMENT"),
        (
            _ERRORS.InvalidSQLStatementNameError('prepared statement "s" does not exist'),
            "STATEMENT",
        ),
        (_ERRORS.DuplicatePreparedStatementError('prepared statement "s" exists'), "STATEMENT"),
        (_ERRORS.UndefinedFunctionError("function f() does not exist"), "STATEMENT"),
        (_ERRORS.SerializationError("could not serialize access"), "CONFLICT"),
        (_ERRORS.DeadlockDetectedError("deadlock detected"), "CONFLICT"),
        (_ERRORS.QueryCanceledError("canceling statement due to statement timeout"), "TIMEOUT"),
        (_ERRORS.ConnectionDoesNotExistError("connection was closed"), "UNAVAILABLE"),
        (_ERRORS.TooManyConnectionsError("too many clients"), "UNAVAILABLE"),
        (_ERRORS.AdminShutdownError("terminating connection"), "UNAVAILABLE"),
        (_ERRORS.CannotConnectNowError("the database system is starting up"), "UNAVAILABLE"),
        (ConnectionRefusedError(), "UNAVAILABLE"),
        (asyncpg.InterfaceError("cannot perform operation"), "STATEMENT"),
        # A statement sent directly on a connection asyncpg saw lost, and a savepoint's
        # rollback that failed after it (the failure the rollback was caused by is kept).
        (asyncpg.InterfaceError("connection is closed"), "UNAVAILABLE"),
        (
            _caused(
                asyncpg.InterfaceError("cannot perform operation"),
                _ERRORS.AdminShutdownError("terminating connection"),
            ),
            "UNAVAILABLE",
        ),
    ],
)
def test_each_database_error_is_classified(error: BaseException, failure: str) -> None:
    assert classify(error) is DatabaseFailure[failure]


def test_an_error_of_no_database_is_not_classified() -> None:
    assert classify(ValueError("no database here")) is None


def test_a_transaction_pooler_needs_a_direct_url_for_listen() -> None:
    with pytest.raises(ValidationError, match="GQL_DIRECT_DATABASE_URL"):
        Settings(transaction_pooler=True, direct_database_url=None)
    assert Settings(transaction_pooler=True, direct_database_url="postgresql://h/db")


async def _engine(url: str) -> AsyncEngine:
    engine = create_async_engine(url, poolclass=NullPool)
    await migrate.upgrade(engine)
    return engine


async def test_a_transaction_the_database_refuses_is_answered_as_json(
    create_database: CreateDatabase, settings: Settings
) -> None:
    """A request's transaction fails before any field runs (its set-up statement is refused):
    JSON with a code and the request id, status 500, never a plain-text page."""
    url = await create_database()
    engine = await _engine(url)
    try:
        tenant = await make_tenant(async_sessionmaker(engine, expire_on_commit=False))
        async with engine.begin() as connection:
            await connection.execute(text("alter function begin_request rename to begin_gone"))
        app = create_app(settings, database_url=url)
        transport = httpx.ASGITransport(app=app)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=transport, base_url="http://test") as http,
        ):
            response = await http.post(
                "/graphql",
                json={"query": "{ viewer { id } }"},
                headers={"Authorization": f"Bearer {token_for(settings, tenant.admin)}"},
            )
    finally:
        await engine.dispose()
    assert response.status_code == 500
    assert response.headers["content-type"].startswith("application/")
    (error,) = response.json()["errors"]
    assert error["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
    assert error["extensions"]["requestId"]
