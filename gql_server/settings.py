"""Configuration, read once from the environment (prefix `GQL_`, plus plain `DATABASE_URL`)."""

import json
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

import jwt
from jwt.algorithms import HMACAlgorithm, NoneAlgorithm, get_default_algorithms
from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from gql_server import cors
from gql_server.providers import IdentityProvider, check_providers

DEVELOPMENT_JWT_SECRET = "development-secret-change-me-in-production-0123456789"
DATABASE_URL_FORM = "expected postgresql://user:password@host:5432/database"


LOCAL_ORIGINS = ("http://localhost:*", "http://127.0.0.1:*", "http://[::1]:*")


class Environment(StrEnum):
    DEVELOPMENT = "development"
    PRODUCTION = "production"


class LogFormat(StrEnum):
    JSON = "json"
    TEXT = "text"


class LimitOverrides(BaseModel):
    """One tenant's own GraphQL limits; those left out are the defaults."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_depth: int | None = Field(default=None, ge=1)
    max_aliases: int | None = Field(default=None, ge=0)
    max_root_fields: int | None = Field(default=None, ge=1)
    max_directives: int | None = Field(default=None, ge=0)
    max_cost: int | None = Field(default=None, ge=1)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GQL_", extra="ignore", frozen=True)

    database_url: str | None = Field(
        default=None, validation_alias=AliasChoices("DATABASE_URL", "GQL_DATABASE_URL")
    )
    data_dir: Path = Path(".data/postgres")
    pool_size: int = Field(default=10, ge=1)
    pool_max_overflow: int = Field(default=5, ge=0)
    pool_timeout_seconds: float = Field(default=5.0, gt=0)
    statement_timeout_ms: int = Field(default=5_000, ge=0)
    # Behind a transaction-mode pooler (PgBouncer `pool_mode = transaction`): no prepared
    # statement outlives its transaction (README "Scaling out").
    transaction_pooler: bool = False
    # The database without a pooler in between, for what needs a session of its own: LISTEN.
    direct_database_url: str | None = None
    # Read replicas (README "Scaling out"): URLs, as a JSON list or separated by commas; a URL
    # without a database, user or password takes DATABASE_URL's.
    replica_urls: Annotated[list[str], NoDecode] = Field(default_factory=list)
    replica_max_lag_seconds: float = Field(default=5.0, gt=0)  # a replica further behind waits
    replica_check_seconds: float = Field(default=1.0, gt=0)  # how often each replica is checked
    read_your_writes_seconds: float = Field(default=5.0, ge=0)  # a writer's reads: the primary

    environment: Environment = Environment.DEVELOPMENT
    jwt_secret: str = DEVELOPMENT_JWT_SECRET
    jwt_public_key: str | None = None
    jwt_algorithm: str = "HS256"
    token_ttl_seconds: int = Field(default=12 * 3600, gt=0)
    # The organizations' own identity providers, a JSON list (gql_server.providers; README
    # "Signing in with your identity provider"). Tokens of other issuers are verified with the
    # key above, as `gql-server token` signs them.
    identity_providers: list[IdentityProvider] = Field(default_factory=list)

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    workers: int = Field(default=1, ge=1)
    log_level: str = "info"
    # Idle HTTP connections are kept this long. Longer than clients' and proxies' own idle
    # timeouts (httpx 5 s, load balancers 60 s), so they close first: a server that closes first
    # races a request already on its way and the client sees the connection drop.
    keepalive_seconds: int = Field(default=75, ge=1)

    # Queries run compiled (schema.execution); false runs every operation the standard way.
    compiled_execution: bool = True
    introspection: bool | None = None
    sql_statements_in_response: bool | None = None
    max_page_size: int = Field(default=100, ge=1)
    default_page_size: int = Field(default=20, ge=1)

    # Subscriptions (WebSocket at /graphql; events through the outbox, woken by LISTEN/NOTIFY).
    subscription_init_timeout_seconds: float = Field(default=10.0, gt=0)
    subscription_queue_size: int = Field(default=100, ge=1)  # events a subscriber may lag behind
    subscription_sessions: int = Field(default=5, ge=1)  # the per-event reads' own pool
    subscriptions_per_connection: int = Field(default=100, ge=1)
    event_listener_keepalive_seconds: float = Field(default=10.0, gt=0)
    # The outbox: how long events are kept for subscribers resuming from a cursor, and how often
    # each process prunes older ones.
    event_retention_seconds: float = Field(default=24 * 3600, gt=0)
    event_prune_interval_seconds: float = Field(default=60.0, gt=0)

    # Persisted operations: automatic persisted queries (APQ) and trusted documents.
    apq_cache_size: int = Field(default=1_000, ge=1)  # queries kept per process (LRU)
    apq_ttl_seconds: int = Field(default=24 * 3600, gt=0)  # lifetime of a query in Redis
    redis_url: str | None = None  # shares APQ queries between processes and replicas
    trusted_documents_only: bool = False  # refuse every document not trusted with `trust`

    # The response cache (README "Caching"): on by default, in-process unless Redis is given.
    response_cache: bool = True
    response_cache_max_bytes: int = Field(default=64 * 1024 * 1024, ge=1024)  # per process
    response_cache_redis_url: str | None = None  # one cache shared by every process

    # Operating: logs, metrics, traces, shutdown (README "Operating").
    log_format: LogFormat | None = None  # json in production, text in development
    shutdown_timeout_seconds: int = Field(default=20, gt=0)  # for in-flight requests
    prometheus_multiproc_dir: Path | None = Field(
        default=None, validation_alias="PROMETHEUS_MULTIPROC_DIR"
    )
    otel: bool = False  # OpenTelemetry traces; needs the `otel` extra
    otel_traces_exporter: Literal["otlp", "console", "none"] | None = Field(
        default=None, validation_alias="OTEL_TRACES_EXPORTER"
    )
    otel_exporter_otlp_endpoint: str | None = Field(
        default=None,
        validation_alias=AliasChoices(
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"
        ),
    )

    # Browsers (README "Calling it from a browser"). Origins: exact, patterns, or `*`, as a JSON
    # list or separated by commas; unset, pages on localhost may call in development only.
    cors_origins: Annotated[list[str] | None, NoDecode] = None
    cors_allow_credentials: bool = False  # cookies and HTTP auth; bearer tokens need no such thing
    cors_allow_headers: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: list(cors.ALLOWED_HEADERS)
    )
    cors_max_age_seconds: int = Field(default=600, ge=0)  # how long browsers keep a preflight
    graphiql: bool | None = None  # the GraphiQL page at GET /graphql; on in development

    # Limits (README "Limits"): each over-limit request is refused before any SQL runs.
    max_body_bytes: int = Field(default=1_048_576, ge=1)  # 413 past this
    max_batch_size: int = Field(default=10, ge=1)  # operations in one JSON-array request
    max_tokens: int = Field(default=5_000, ge=1)  # lexical tokens (and comments) of a document
    max_depth: int = Field(default=10, ge=1)
    max_aliases: int = Field(default=30, ge=0)
    max_root_fields: int = Field(default=20, ge=1)
    max_directives: int = Field(default=50, ge=0)  # in the whole document
    max_cost: int = Field(default=10_000, ge=1)
    cost_in_response: bool | None = None  # extensions.cost; on in development
    # By organization id or slug: '{"acme": {"max_cost": 50000, "max_depth": 15}}'.
    tenant_limits: dict[str, LimitOverrides] = Field(default_factory=dict)

    @field_validator("database_url", "direct_database_url")
    @classmethod
    def _postgresql_url(cls, value: str | None) -> str | None:
        return None if value is None else _postgresql_url(value)

    @field_validator("replica_urls")
    @classmethod
    def _replica_urls(cls, value: list[str]) -> list[str]:
        return [_postgresql_url(url) for url in value]

    @field_validator("cors_origins", "cors_allow_headers", "replica_urls", mode="before")
    @classmethod
    def _list(cls, value: Any) -> Any:
        """A JSON list, or names separated by commas (`https://a.example,https://b.example`)."""
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [item.strip() for item in text.split(",") if item.strip()]
        return value

    @field_validator("cors_origins")
    @classmethod
    def _origins(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else [cors.normalize(origin) for origin in value]

    @model_validator(mode="after")
    def _listen_past_the_pooler(self) -> "Settings":
        if self.transaction_pooler and not self.direct_database_url:
            raise ValueError(
                "GQL_TRANSACTION_POOLER=true needs GQL_DIRECT_DATABASE_URL: LISTEN (events for"
                " subscriptions) cannot go through a transaction-mode pooler"
            )
        return self

    @model_validator(mode="after")
    def _refuse_any_origin_with_credentials(self) -> "Settings":
        if self.cors_allow_credentials and cors.ANY in (self.cors_origins or ()):
            raise ValueError(
                "GQL_CORS_ORIGINS=* with GQL_CORS_ALLOW_CREDENTIALS=true would let every site"
                " act with your users' credentials: list the origins instead of *"
            )
        return self

    @model_validator(mode="after")
    def _providers_apart(self) -> "Settings":
        check_providers(self.identity_providers)
        if self.is_production:
            for provider in self.identity_providers:
                for url in (provider.issuer, provider.jwks_url or provider.issuer):
                    if not url.startswith("https://"):
                        raise ValueError(
                            f"GQL_IDENTITY_PROVIDERS: {provider.issuer} must be reached over"
                            " https in production (its keys decide who signs in)"
                        )
        return self

    @model_validator(mode="after")
    def _jwt_keys_fit(self) -> "Settings":
        """The algorithm must sign, with the key given for it. Production also refuses the
        development secret and keys shorter than the algorithm needs (RFC 7518: an HMAC secret
        as long as its hash)."""
        algorithm = get_default_algorithms().get(self.jwt_algorithm)
        if algorithm is None or isinstance(algorithm, NoneAlgorithm):
            raise ValueError(
                f"GQL_JWT_ALGORITHM={self.jwt_algorithm} is not a signing algorithm: use HS256,"
                " HS384 or HS512 with GQL_JWT_SECRET, or RS256, PS256, ES256, EdDSA (and their"
                " longer forms) with GQL_JWT_PUBLIC_KEY"
            )
        if isinstance(algorithm, HMACAlgorithm):
            if self.jwt_public_key:
                raise ValueError(
                    f"GQL_JWT_PUBLIC_KEY is set but GQL_JWT_ALGORITHM={self.jwt_algorithm} signs"
                    " with GQL_JWT_SECRET: set the algorithm the key is for (RS256, ES256, ...)"
                )
            minimum = algorithm.hash_alg().digest_size
            weak = self.jwt_secret == DEVELOPMENT_JWT_SECRET or len(self.jwt_secret) < minimum
            if self.is_production and weak:
                raise ValueError(
                    f"production needs GQL_JWT_SECRET set to a secret of {minimum}+ characters"
                    " (or GQL_JWT_ALGORITHM=RS256 with GQL_JWT_PUBLIC_KEY)"
                )
            return self
        if not self.jwt_public_key:
            raise ValueError(f"GQL_JWT_ALGORITHM={self.jwt_algorithm} needs GQL_JWT_PUBLIC_KEY")
        try:
            key = algorithm.prepare_key(self.jwt_public_key)
        except (jwt.InvalidKeyError, ValueError, TypeError):
            raise ValueError(
                f"GQL_JWT_PUBLIC_KEY is not a public key GQL_JWT_ALGORITHM={self.jwt_algorithm}"
                " verifies with (PEM, of the algorithm's kind: RSA for RS/PS, EC for ES,"
                " Ed25519 for EdDSA)"
            ) from None
        if self.is_production and (too_short := algorithm.check_key_length(key)):
            raise ValueError(f"GQL_JWT_PUBLIC_KEY is too weak for production: {too_short}")
        return self

    @property
    def jwt_asymmetric(self) -> bool:
        """Tokens are verified with `jwt_public_key` (else with the shared `jwt_secret`)."""
        return not isinstance(get_default_algorithms().get(self.jwt_algorithm), HMACAlgorithm)

    @property
    def jwt_verification_key(self) -> str:
        return (self.jwt_public_key or "") if self.jwt_asymmetric else self.jwt_secret

    @property
    def is_production(self) -> bool:
        return self.environment is Environment.PRODUCTION

    @property
    def introspection_allowed(self) -> bool:
        return not self.is_production if self.introspection is None else self.introspection

    @property
    def allowed_origins(self) -> list[str]:
        """Origins of pages that may call: `GQL_CORS_ORIGINS`, or in development (when unset)
        pages served from this machine, such as a frontend's development server."""
        if self.cors_origins is not None:
            return self.cors_origins
        return [] if self.is_production else list(LOCAL_ORIGINS)

    @property
    def graphiql_enabled(self) -> bool:
        return not self.is_production if self.graphiql is None else self.graphiql

    @property
    def json_logs(self) -> bool:
        if self.log_format is None:
            return self.is_production
        return self.log_format is LogFormat.JSON

    @property
    def introspection_refused(self) -> bool:
        """`GQL_INTROSPECTION=false`: no introspection for anyone, signed in or not."""
        return self.introspection is False

    @property
    def report_cost(self) -> bool:
        return not self.is_production if self.cost_in_response is None else self.cost_in_response

    @property
    def report_sql_statements(self) -> bool:
        if self.sql_statements_in_response is None:
            return not self.is_production
        return self.sql_statements_in_response


def _postgresql_url(value: str) -> str:
    # Never quote the value: it may hold a password.
    try:
        backend = make_url(value).get_backend_name()
    except ArgumentError:
        raise ValueError(f"not a URL; {DATABASE_URL_FORM}") from None
    if backend not in ("postgresql", "postgres"):
        raise ValueError(f"a {backend}:// URL, not a PostgreSQL one; {DATABASE_URL_FORM}")
    return value


class InvalidSettings(Exception):
    """The environment's settings are refused; the message names the variables, never a value."""


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as error:
        # pydantic's own message quotes the values it refused: secrets among them.
        raise InvalidSettings(describe(error)) from None


def describe(error: ValidationError) -> str:
    """One line: each refused variable and why, without the values."""
    problems = []
    for problem in error.errors(include_url=False, include_input=False, include_context=False):
        message = problem["msg"].removeprefix("Value error, ")
        if not problem["loc"]:  # the whole model's check: its message names the variables
            problems.append(message)
            continue
        field, *inner = (str(part) for part in problem["loc"])
        where = f" ({'.'.join(inner)})" if inner else ""
        problems.append(f"{_variable(field)}{where}: {message[:1].lower()}{message[1:]}")
    return "; ".join(problems)


def _variable(field: str) -> str:
    """The environment variable a field (or an alias of it) is read from."""
    if field.isupper():  # reported by its alias, e.g. DATABASE_URL
        return field
    alias = (
        Settings.model_fields[field].validation_alias if field in Settings.model_fields else None
    )
    if isinstance(alias, AliasChoices):
        return str(alias.choices[0])
    return alias if isinstance(alias, str) else f"GQL_{field.upper()}"
