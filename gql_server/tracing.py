"""OpenTelemetry traces, when `GQL_OTEL=true`: one trace per HTTP request.

Spans: the HTTP request (OpenTelemetry's ASGI middleware, which also continues a caller's
`traceparent`), the GraphQL operation (a span of the compiled path, or, for operations that run
the standard way, Strawberry's `OpenTelemetryExtension` with its resolvers), and every SQL
statement (OpenTelemetry's SQLAlchemy instrumentation).
Spans go where the standard `OTEL_*` variables say: OTLP over HTTP when an endpoint is set (and in
production), else the console. The packages are the `otel` extra, imported only from here and
only when tracing is on, so a server without them starts as long as it is off.
"""

from functools import partial
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.middleware import Middleware

from gql_server.settings import Settings
from schema import schema

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider

SERVICE_NAME = "gql-server"
# Probes, scrapes and GraphiQL's files would only add noise to the traces.
UNTRACED_PATHS = "/health/,/metrics,/static/"


class Tracing:
    def __init__(self, provider: "TracerProvider", *, owned: bool) -> None:
        self.provider = provider
        self.owned = owned  # shut down (and flushed) with the app, unless the caller gave it
        self._extension: object | None = None

    @classmethod
    def configure(
        cls, settings: Settings, provider: "TracerProvider | None" = None
    ) -> "Tracing | None":
        """Tracing for an app, or None when `GQL_OTEL` is off. `provider` overrides the exporter
        that the settings choose (tests pass one with an in-memory exporter)."""
        if not settings.otel:
            return None
        try:
            if provider is not None:
                return cls(provider, owned=False)
            return cls(_provider_from_environment(settings), owned=True)
        except ImportError as error:
            raise RuntimeError(
                "GQL_OTEL=true needs the OpenTelemetry packages: pip install 'gql-server[otel]'"
            ) from error

    def middleware(self) -> Middleware:
        from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware

        return Middleware(
            OpenTelemetryMiddleware,
            excluded_urls=UNTRACED_PATHS,
            exclude_spans=["receive", "send"],  # a span per ASGI message says little
            tracer_provider=self.provider,
        )

    def start(self, engine: AsyncEngine) -> None:
        from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor
        from strawberry.extensions.tracing import OpenTelemetryExtension

        # The instrumentation declares SQLAlchemy < 2.1 but only uses its stable event API.
        SQLAlchemyInstrumentor().instrument(
            engine=engine.sync_engine, tracer_provider=self.provider, skip_dep_check=True
        )
        # The schema is built once, at import; the extension joins it for this app's lifespan.
        extension = partial(OpenTelemetryExtension, tracer_provider=self.provider)
        schema.extensions = (*schema.extensions, extension)
        self._extension = extension
        # Compiled operations (schema.execution) span themselves; standard ones through the above.
        schema.tracer = self.provider.get_tracer("gql_server")

    def stop(self) -> None:
        from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

        schema.extensions = tuple(ext for ext in schema.extensions if ext is not self._extension)
        self._extension = None
        schema.tracer = None
        SQLAlchemyInstrumentor().uninstrument()
        if self.owned:
            self.provider.shutdown()
        else:
            self.provider.force_flush()


def _provider_from_environment(settings: Settings) -> "TracerProvider":
    from opentelemetry import trace
    from opentelemetry.sdk.resources import SERVICE_NAME as SERVICE_NAME_KEY
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter

    # OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES win; our name replaces only the SDK's default.
    resource = Resource.create()
    if str(resource.attributes.get(SERVICE_NAME_KEY, "")).startswith("unknown_service"):
        resource = resource.merge(Resource({SERVICE_NAME_KEY: SERVICE_NAME}))
    # The sampler comes from OTEL_TRACES_SAMPLER / OTEL_TRACES_SAMPLER_ARG.
    provider = TracerProvider(resource=resource)
    exporter_name = settings.otel_traces_exporter or (
        "otlp"
        if settings.otel_exporter_otlp_endpoint is not None or settings.is_production
        else "console"
    )
    exporter: SpanExporter | None = None
    if exporter_name == "otlp":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter()  # endpoint, headers, timeout: OTEL_EXPORTER_OTLP_*
    elif exporter_name == "console":
        exporter = ConsoleSpanExporter()
    if exporter is not None:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    return provider
