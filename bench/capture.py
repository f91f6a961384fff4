"""Capturing the exact statements the server sends for one request, for the raw-SQL floor.

The app is built in this process with the product's own `create_app` (same settings, same code as
the served process) and called through httpx's ASGI transport; each statement is recorded with its
parameters as handed to asyncpg (the SQL text with its `$n` placeholders and casts, and the
parameter values with their Python types): those SQLAlchemy executes by a `before_cursor_execute`
listener on its engine, those the loaders send to asyncpg directly (`loaders.compiled`) by
wrapping asyncpg's `Connection.fetch` meanwhile, and the commands without parameters sent
directly (a mutation's plain SAVEPOINT and its end) by wrapping `Connection.execute` (but not the
transaction's BEGIN and COMMIT, which the floor sends itself). That is
exactly what the floor replays, with no log parsing and no server-side settings, and it works the
same on the embedded database and on any `DATABASE_URL`. (PostgreSQL's `log_statement=all` would
need superuser rights, the server's log file, and parameters re-typed from text.)

Inserts of new rows carry a key the server generated (`id = uuid4()`); those positions are marked
so the floor can put a fresh key there on every replay, and in the later statements that use it.
"""

import re
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import asyncpg
import httpx
import orjson
from sqlalchemy import event

from gql_server.app import create_app
from gql_server.database import to_asyncpg
from gql_server.settings import Settings

_INSERT = re.compile(r"^\s*INSERT INTO (\S+) \(([^)]*)\) VALUES \(([^)]*)\)", re.IGNORECASE)
_PLACEHOLDER = re.compile(r"^\$(\d+)")
# The transaction's own commands (the floor begins and commits its own), not a savepoint's.
_TRANSACTION = re.compile(r"^\s*(BEGIN|START|COMMIT|END|ROLLBACK)(\s*;?\s*$|\s+(?!TO\b))", re.I)


@dataclass(frozen=True, slots=True)
class Statement:
    sql: str
    parameters: tuple[Any, ...]
    fresh: tuple[int, ...] = ()  # positions holding a newly generated primary key
    command: bool = False  # sent as a simple query (`Connection.execute`), without parameters


@dataclass(frozen=True, slots=True)
class Captured:
    statements: tuple[Statement, ...]
    reported: int | None  # the response's extensions.sqlStatements, to cross-check the count


def fresh_positions(sql: str, parameters: tuple[Any, ...]) -> tuple[int, ...]:
    match = _INSERT.match(sql)
    if match is None:
        return ()
    columns = [column.strip().strip('"') for column in match.group(2).split(",")]
    values = [value.strip() for value in match.group(3).split(",")]
    if "id" not in columns or len(columns) != len(values):
        return ()
    placeholder = _PLACEHOLDER.match(values[columns.index("id")])
    if placeholder is None:
        return ()
    position = int(placeholder.group(1)) - 1
    return (position,) if isinstance(parameters[position], UUID) else ()


async def capture(
    database_url: str, requests: dict[str, tuple[bytes, dict[str, str]]]
) -> dict[str, Captured]:
    """Send each named request (body, headers) once; the statements each one cost."""
    # Settings read now, from this process's environment, which the harness set like the server's.
    app = create_app(Settings(), database_url=to_asyncpg(database_url))
    recorded: list[Statement] = []

    def record(
        _conn: Any, _cursor: Any, sql: str, parameters: Any, _context: Any, _many: bool
    ) -> None:
        values = tuple(parameters or ())
        recorded.append(Statement(sql, values, fresh_positions(sql, values)))

    fetch = asyncpg.Connection.fetch
    # Connections the engine's pool has handed out: a request's. Others (the event listener's,
    # which reads the outbox after a mutation's NOTIFY) are not the request's statements.
    requests_connections: set[int] = set()

    async def record_fetch(connection: asyncpg.Connection, sql: str, *args: Any, **kw: Any) -> Any:
        if id(connection) in requests_connections:
            recorded.append(Statement(sql, tuple(args), fresh_positions(sql, tuple(args))))
        return await fetch(connection, sql, *args, **kw)

    execute = asyncpg.Connection.execute

    async def record_execute(
        connection: asyncpg.Connection, sql: str, *args: Any, **kw: Any
    ) -> Any:
        if id(connection) in requests_connections and not args and not _TRANSACTION.match(sql):
            recorded.append(Statement(sql, (), command=True))
        return await execute(connection, sql, *args, **kw)

    results: dict[str, Captured] = {}
    asyncpg.Connection.fetch = record_fetch  # type: ignore[method-assign]
    asyncpg.Connection.execute = record_execute  # type: ignore[method-assign]
    try:
        return await _capture(app, requests, recorded, record, results, requests_connections)
    finally:
        asyncpg.Connection.fetch = fetch  # type: ignore[method-assign]
        asyncpg.Connection.execute = execute  # type: ignore[method-assign]


async def _capture(
    app: Any,
    requests: dict[str, tuple[bytes, dict[str, str]]],
    recorded: list[Statement],
    record: Any,
    results: dict[str, Captured],
    requests_connections: set[int],
) -> dict[str, Captured]:
    def checked_out(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        requests_connections.add(id(dbapi_connection.driver_connection))

    def checked_in(dbapi_connection: Any, _record: Any) -> None:
        requests_connections.discard(id(dbapi_connection.driver_connection))

    async with app.router.lifespan_context(app):
        pool = app.state.engine.sync_engine.pool
        event.listen(pool, "checkout", checked_out)
        event.listen(pool, "checkin", checked_in)
        event.listen(app.state.engine.sync_engine, "before_cursor_execute", record)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
            for name, (body, headers) in requests.items():
                recorded.clear()
                response = await client.post("/graphql", content=body, headers=headers)
                payload = orjson.loads(response.content)
                if response.status_code != 200 or payload.get("errors"):
                    raise RuntimeError(f"capture of {name} failed: {response.text[:500]}")
                reported = (payload.get("extensions") or {}).get("sqlStatements")
                results[name] = Captured(tuple(recorded), reported)
    return results
