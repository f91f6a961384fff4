"""The raw-SQL floor: per scenario, the server's own statements replayed with asyncpg, no GraphQL.

`POST /floor/<scenario>` runs, in one transaction on one pooled connection, exactly the
statements the server sent for that request (captured by `bench.capture`: same SQL text, same
parameters, the tenant setup included), and answers with every statement's rows serialized by
orjson. What is left between this and the server is GraphQL execution, the ORM, the loaders and
the shaping of the response: the floor is what the database and the HTTP stack alone cost.

Run with `python -m bench.floor.app --port P --workers N`; it reads BENCH_DATABASE_URL and
BENCH_CAPTURE (a pickle of `{scenario: [capture.Statement, ...]}` written by the harness).
"""

import argparse
import os
import pickle
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from bench.capture import Statement

# Like the server's pool (GQL_POOL_SIZE 10 + GQL_POOL_MAX_OVERFLOW 5).
POOL_MIN, POOL_MAX = 10, 15


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, UUID):  # asyncpg's own UUID type, which orjson does not know
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


async def _no_reset(_connection: asyncpg.Connection) -> None:
    # Every setting of a request is transaction-local (set_config(..., true)), as in the server:
    # nothing to reset, so no extra round trip when a connection goes back to the pool.
    return None


async def replay(connection: asyncpg.Connection, statements: list[Statement]) -> list[Any]:
    fresh: dict[Any, UUID] = {}  # a key the server generated -> this request's own
    results: list[Any] = []
    async with connection.transaction():
        for statement in statements:
            if statement.command:
                await connection.execute(statement.sql)
                results.append([])
                continue
            for position in statement.fresh:
                fresh[statement.parameters[position]] = uuid4()
            parameters = (
                [
                    fresh.get(value, value) if isinstance(value, UUID) else value
                    for value in statement.parameters
                ]
                if fresh
                else statement.parameters
            )
            rows = await connection.fetch(statement.sql, *parameters)
            results.append([dict(row) for row in rows])
    return results


def create_app() -> Starlette:
    database_url = os.environ["BENCH_DATABASE_URL"]
    with Path(os.environ["BENCH_CAPTURE"]).open("rb") as file:
        captured: dict[str, list[Statement]] = pickle.load(file)  # the harness wrote it

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with asyncpg.create_pool(
            database_url, min_size=POOL_MIN, max_size=POOL_MAX, reset=_no_reset
        ) as pool:
            app.state.pool = pool
            yield

    async def floor(request: Request) -> Response:
        statements = captured.get(request.path_params["scenario"])
        if statements is None:
            return PlainTextResponse("no such scenario", status_code=404)
        await request.body()  # read like the server reads its request
        async with request.app.state.pool.acquire() as connection:
            results = await replay(connection, statements)
        return Response(
            orjson.dumps(results, default=_default),
            media_type="application/json",
            headers={"x-sql-statements": str(len(statements))},
        )

    async def live(_request: Request) -> Response:
        return PlainTextResponse("ok")

    routes = [
        Route("/floor/{scenario}", floor, methods=["POST"]),
        Route("/health/live", live),
    ]
    return Starlette(routes=routes, lifespan=lifespan)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    uvicorn.run(
        "bench.floor.app:create_app",
        factory=True,
        host="127.0.0.1",
        port=args.port,
        workers=args.workers,
        log_level="warning",
        loop="uvloop",
        http="httptools",
        lifespan="on",
    )


if __name__ == "__main__":
    main()
