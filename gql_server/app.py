"""The ASGI application: explicit routes, the engine in the lifespan, GraphQL at `/graphql`.

GraphiQL's scripts and styles are served from the package itself (`/static`), not a CDN.
Middleware, outermost first: request id and access log, traces (when on), security headers,
CORS (so a preflight's answer carries the security headers too).
"""

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles

from gql_server import cors, health, metrics, migrate, observability, tenant_limits
from gql_server.admission import Admission
from gql_server.authenticator import Authenticator
from gql_server.database import (
    create_engine,
    create_sessionmaker,
    release_embedded,
    resolve_database_url,
)
from gql_server.endpoint import GraphQLEndpoint
from gql_server.events import EventHub
from gql_server.home import home
from gql_server.persisted import PersistedDocuments
from gql_server.replicas import ReadRouting
from gql_server.response_cache import ResponseCache
from gql_server.security_headers import SecurityHeaders
from gql_server.settings import Settings, get_settings
from gql_server.subscriptions import GraphQLWebSocket
from gql_server.tracing import Tracing

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider


def settle_garbage_collector() -> None:
    """Keep the collector off the long-lived heap, and let it run less often.

    Everything alive once started (schema, mappers, compiled statements) lives as long as the
    process; frozen, the collector stops rescanning it. A response builds thousands of
    short-lived objects, so collecting every 700 allocations mostly rescans survivors.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_THRESHOLD, 20, 20)


GC_THRESHOLD = 20_000


def create_app(
    settings: Settings | None = None,
    *,
    database_url: str | None = None,
    tracer_provider: "TracerProvider | None" = None,
) -> Starlette:
    settings = settings or get_settings()
    tracing = Tracing.configure(settings, tracer_provider)  # None unless GQL_OTEL

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        url = database_url or resolve_database_url(settings)
        engine = create_engine(url, settings)
        app.state.settings = settings
        app.state.engine = engine
        app.state.sessionmaker = create_sessionmaker(engine)
        app.state.reads = ReadRouting.of(app.state.sessionmaker, url, settings)
        await app.state.reads.start()
        app.state.authenticator = Authenticator(settings, app.state.sessionmaker)
        app.state.head_revision = migrate.head_revision()
        app.state.tenant_limits = await tenant_limits.tenant_limits(engine, settings)
        app.state.persisted_documents = await PersistedDocuments.open(settings, engine)
        app.state.admission = Admission(settings, app.state.persisted_documents)
        cache = app.state.response_cache = ResponseCache.of(settings)
        # Subscriptions (LISTEN, fan-out, reads), and the cache's invalidation.
        app.state.events = EventHub(engine, settings, cache.written if cache else None)
        await app.state.events.start()
        stop_observing = observability.start(engine, settings, tracing)
        settle_garbage_collector()
        try:
            yield
        finally:
            await app.state.events.stop()
            if cache is not None:
                await cache.close()
            await app.state.reads.stop()
            await app.state.persisted_documents.close()
            await engine.dispose()
            stop_observing()
            release_embedded()

    origins = cors.AllowedOrigins(settings.allowed_origins)  # for fetch and WebSocket alike
    graphql = GraphQLEndpoint(settings)
    routes = [
        Route("/", home),
        Route("/health/live", health.live),
        Route("/health/ready", health.ready),
        Route("/metrics", metrics.scrape),
        Route("/graphql", graphql, methods=["GET", "POST"]),
        WebSocketRoute("/graphql", GraphQLWebSocket(settings, origins)),
    ]
    if settings.graphiql_enabled:
        # GraphiQL's bundle is 3.5 MB as shipped; compressed it is a fraction of that.
        static = GZipMiddleware(StaticFiles(packages=[("gql_server", "static")]))
        routes.append(Mount("/static", static, name="static"))
    middleware = [
        *observability.middleware(tracing),
        Middleware(SecurityHeaders),
        Middleware(
            cors.CORS,
            origins=origins,
            allow_credentials=settings.cors_allow_credentials,
            max_age=settings.cors_max_age_seconds,
            allow_headers=settings.cors_allow_headers,
        ),
    ]
    return Starlette(routes=routes, lifespan=lifespan, middleware=middleware)
