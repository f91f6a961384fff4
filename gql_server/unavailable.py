"""A database that cannot be reached: recognised, answered HTTP 503, and a stale connection retried.

A database that is down, restarting or out of connections is no bug of the request: the endpoint
answers it with HTTP 503, `SERVICE_UNAVAILABLE` and `Retry-After`, whether the failure came while
the request's transaction opened or from a statement of a resolver.

The engine pings no connection before handing it out (that is a round trip per request), so after
a restart the pool still holds connections to the old server. The first statement on one fails,
and SQLAlchemy then invalidates every connection of the pool. A request's first statement is its
transaction's setup (`tenancy.tenant_session`), sent before any of the operation runs, so
repeating it once on a fresh connection is safe for queries and mutations alike: the first
requests after a restart succeed instead of failing. A failure later in an operation is not
retried: a mutation may have written by then, and a database that fails mid-request is most likely
gone, so a second attempt would only fail again.
"""

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from enum import StrEnum
from typing import TypeVar

import asyncpg
import orjson
from graphql import GraphQLError
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.responses import Response

log = logging.getLogger(__name__)
T = TypeVar("T")

MESSAGE = "the database is unavailable; try again shortly"
# Seconds: the server serves again as soon as the database does (the pool renews itself).
RETRY_AFTER_SECONDS = 1
# SQLSTATEs besides class 08 (connection exception) and 53 (insufficient resources: too many
# connections, out of memory, disk full): administrator shutdown, crash shutdown, "the database
# system is starting up / shutting down".
_UNAVAILABLE_SQLSTATES = frozenset({"57P01", "57P02", "57P03"})
# Class 08 but no outage: the server could not follow the client (a transaction-mode pooler
# handing a statement's messages to two server connections, say). Retrying would not help.
PROTOCOL_VIOLATION = "08P01"
QUERY_CANCELED = "57014"  # by statement_timeout, among others
_CLOSED = "connection is closed"  # asyncpg's InterfaceError on a lost connection
_BODY = orjson.dumps(
    {"errors": [{"message": MESSAGE, "extensions": {"code": "SERVICE_UNAVAILABLE"}}]}
)


# What asyncpg, the pool and SQLAlchemy raise for a database's error.
DATABASE_ERRORS = (SQLAlchemyError, asyncpg.PostgresError, asyncpg.InterfaceError)


class DatabaseUnavailable(Exception):
    """The database cannot be reached right now; the request is answered 503."""


class DatabaseFailure(StrEnum):
    """What a database error is, named by the error code the answer carries."""

    UNAVAILABLE = "SERVICE_UNAVAILABLE"  # answered 503 as a whole (see the module's note)
    TIMEOUT = "TIMEOUT"  # a statement cancelled by statement_timeout
    CONFLICT = "TRANSACTION_CONFLICT"  # serialization failure, deadlock: the client may retry
    # Anything else the database refused: a bug of the server's, or of its set-up (a statement
    # a transaction-mode pooler broke: see GQL_TRANSACTION_POOLER). Logged, masked in production.
    STATEMENT = "INTERNAL_SERVER_ERROR"


def classify(error: BaseException | None) -> DatabaseFailure | None:
    """What the database error `error` is, as asyncpg, the pool or SQLAlchemy's wrapping raised
    it; None when it is no database error."""
    database = False
    for _ in range(8):  # DBAPIError -> the adapter's error -> asyncpg's, at most
        if error is None:
            break
        if isinstance(error, OSError | PoolTimeout):  # OSError: refused, reset, connect timeout
            return DatabaseFailure.UNAVAILABLE
        if isinstance(error, DBAPIError) and error.connection_invalidated:
            return DatabaseFailure.UNAVAILABLE
        if isinstance(error, asyncpg.InterfaceError) and _CLOSED in str(error):
            # A statement sent directly on a connection that was lost (as SQLAlchemy tells one).
            return DatabaseFailure.UNAVAILABLE
        if isinstance(error, DATABASE_ERRORS):
            database = True
        sqlstate = getattr(error, "sqlstate", None)
        if isinstance(sqlstate, str) and sqlstate:
            return _by_sqlstate(sqlstate)
        error = getattr(error, "orig", None) or error.__cause__
    return DatabaseFailure.STATEMENT if database else None


def _by_sqlstate(sqlstate: str) -> DatabaseFailure:
    if sqlstate == PROTOCOL_VIOLATION:
        return DatabaseFailure.STATEMENT
    if sqlstate[:2] in ("08", "53") or sqlstate in _UNAVAILABLE_SQLSTATES:
        return DatabaseFailure.UNAVAILABLE
    if sqlstate == QUERY_CANCELED:
        return DatabaseFailure.TIMEOUT
    if sqlstate[:2] == "40":  # transaction rollback: serialization failure, deadlock detected
        return DatabaseFailure.CONFLICT
    return DatabaseFailure.STATEMENT


def is_unavailable(error: BaseException | None) -> bool:
    """A failure to reach the database: a refused or lost connection, a server shutting down or
    starting up, out of connections, a pool timeout."""
    return classify(error) is DatabaseFailure.UNAVAILABLE


def raise_if_unavailable(errors: Iterable[GraphQLError] | None) -> None:
    """Raise DatabaseUnavailable when a resolver's error was the database's unavailability."""
    for error in errors or ():
        if is_unavailable(error.original_error):
            raise DatabaseUnavailable(str(error.original_error)) from error.original_error


def response() -> Response:
    return Response(
        _BODY,
        status_code=503,
        media_type="application/json",
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


async def once_more_if_stale(work: Callable[[], Awaitable[T]]) -> T:
    """`work()`, again once when it failed on a pooled connection that died (see the module's
    note): by then SQLAlchemy has invalidated the pool, so the second attempt connects anew."""
    try:
        return await work()
    except DBAPIError as error:
        if not error.connection_invalidated:
            raise
        log.info("a pooled connection did not survive the database; retrying (%s)", error.orig)
    return await work()


@asynccontextmanager
async def reaching_database(
    open_: Callable[[], AbstractAsyncContextManager[T]],
) -> AsyncIterator[T]:
    """`open_()`'s context, entered once more if its first statement met a dead pooled
    connection; the database's unavailability, met anywhere inside, as DatabaseUnavailable."""
    try:
        async with AsyncExitStack() as stack:
            yield await once_more_if_stale(lambda: stack.enter_async_context(open_()))
    except (SQLAlchemyError, OSError) as error:
        if is_unavailable(error):
            raise DatabaseUnavailable(str(error)) from error
        raise
