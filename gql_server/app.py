"""The ASGI application: explicit routes, the engine in the lifespan, GraphQL at `/graphql`.

GraphiQL's scripts and styles are served from the package itself (`/static`), not a CDN.
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.middleware.gzip import GZipMiddleware
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from gql_server import health, migrate
from gql_server.database import create_engine, create_sessionmaker, resolve_database_url
from gql_server.endpoint import GraphQLEndpoint
from gql_server.persisted import PersistedDocuments
from gql_server.settings import Settings, get_settings


def create_app(settings: Settings | None = None, *, database_url: str | None = None) -> Starlette:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        engine = create_engine(database_url or resolve_database_url(settings), settings)
        app.state.settings = settings
        app.state.engine = engine
        app.state.sessionmaker = create_sessionmaker(engine)
        app.state.head_revision = migrate.head_revision()
        app.state.persisted_documents = await PersistedDocuments.open(settings, engine)
        try:
            yield
        finally:
            await app.state.persisted_documents.close()
            await engine.dispose()

    graphql = GraphQLEndpoint(settings)
    routes = [
        Route("/health/live", health.live),
        Route("/health/ready", health.ready),
        Route("/graphql", graphql, methods=["GET", "POST"]),
        # GraphiQL's bundle is 3.5 MB as shipped; compressed it is a fraction of that.
        Mount(
            "/static",
            GZipMiddleware(StaticFiles(packages=[("gql_server", "static")])),
            name="static",
        ),
    ]
    return Starlette(routes=routes, lifespan=lifespan)
