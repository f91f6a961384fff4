"""The N+1 baseline: the bench scenarios' fields, each resolved by its own query per parent.

A small Strawberry schema whose resolvers issue one asyncpg query for each object they resolve
(every content's author, every content's tags, every comment's author ...): what a GraphQL server
without loaders does. Everything else is kept like the server: the same JWT verification, one
pooled connection and one transaction per request, `SET LOCAL ROLE` to the row-level-security
role and `app.tenant_id` set locally, the same read policy (admins see every content, others
the published ones and their own), the same page-size limit, the same global ids and answers.
Parsing and validation are cached (Strawberry's ParserCache and ValidationCache), as the
server caches them, so the difference measured is the data access.

Run with `python -m bench.naive.app --port P --workers N`; it reads BENCH_DATABASE_URL and the
server's own settings (GQL_JWT_SECRET ...).
"""

import argparse
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import lru_cache
from typing import Any

import asyncpg
import orjson
import uvicorn
from graphql import OperationType, get_operation_ast, parse
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from bench.naive.schema import Context, RequestDB, schema
from bench.naive.sql import SETUP, VIEWER
from gql_server import auth
from gql_server.settings import get_settings

POOL_MIN, POOL_MAX = 10, 15  # like the server's pool (10 + 5 overflow)


@lru_cache(maxsize=100)
def is_mutation(query: str) -> bool:
    operation = get_operation_ast(parse(query))
    return operation is not None and operation.operation is OperationType.MUTATION


def create_app() -> Starlette:
    settings = get_settings()
    database_url = os.environ["BENCH_DATABASE_URL"]

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with asyncpg.create_pool(database_url, min_size=POOL_MIN, max_size=POOL_MAX) as pool:
            app.state.pool = pool
            yield

    def unauthenticated(message: str) -> Response:
        body = {"errors": [{"message": message, "extensions": {"code": "UNAUTHENTICATED"}}]}
        return Response(orjson.dumps(body), status_code=401, media_type="application/json")

    async def graphql(request: Request) -> Response:
        params = orjson.loads(await request.body())
        query: str = params["query"]
        try:
            token = auth.bearer_token(request.headers.get("authorization"))
            if token is None:
                return unauthenticated("sign in")
            claims = auth.verify(token, settings)
        except auth.Unauthenticated as error:
            return unauthenticated(str(error))
        read_only = "off" if is_mutation(query) else "on"
        async with request.app.state.pool.acquire() as connection, connection.transaction():
            db = RequestDB(connection)
            tenant = claims.organization_id
            await db.fetch(SETUP, str(tenant), str(settings.statement_timeout_ms), read_only)
            viewer = await db.fetchrow(VIEWER, tenant, claims.user_id)
            if viewer is None or viewer["status"] != "ACTIVE":
                return unauthenticated("the user is not active in this organization")
            context = Context(db, tenant, claims.user_id, viewer["role"] == "ADMIN")
            result = await schema.execute(
                query, variable_values=params.get("variables"), context_value=context
            )
        body: dict[str, Any] = {}
        if result.errors:
            body["errors"] = [error.formatted for error in result.errors]
        body["data"] = result.data
        body["extensions"] = {"sqlStatements": db.statements}
        return Response(orjson.dumps(body), media_type="application/json")

    async def live(_request: Request) -> Response:
        return PlainTextResponse("ok")

    routes = [Route("/graphql", graphql, methods=["POST"]), Route("/health/live", live)]
    return Starlette(routes=routes, lifespan=lifespan)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    uvicorn.run(
        "bench.naive.app:create_app",
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
