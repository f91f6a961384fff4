"""Health checks for operators: liveness (the process answers) and readiness (the database does)."""

import asyncio

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.requests import Request
from starlette.responses import JSONResponse

from gql_server import migrate, unavailable

READY_TIMEOUT_SECONDS = 2.0


async def live(_request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


async def ready(request: Request) -> JSONResponse:
    engine = request.app.state.engine
    try:
        async with asyncio.timeout(READY_TIMEOUT_SECONDS):
            # Once the database is back, a connection pooled before it went does not fail this.
            await unavailable.once_more_if_stale(lambda: _select_one(engine))
        revision = await asyncio.wait_for(migrate.current_revision(engine), READY_TIMEOUT_SECONDS)
    except Exception as error:
        return JSONResponse(
            {"status": "unavailable", "database": type(error).__name__}, status_code=503
        )
    head = request.app.state.head_revision
    if revision != head:
        return JSONResponse(
            {"status": "unavailable", "migrations": {"current": revision, "head": head}},
            status_code=503,
        )
    return JSONResponse({"status": "ok", "migrations": revision})


async def _select_one(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        await connection.execute(text("select 1"))
