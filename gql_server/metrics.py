"""Prometheus metrics of this process, and the `/metrics` route that exposes them.

With several worker processes (`PROMETHEUS_MULTIPROC_DIR` set before any of them starts, as
`gql-server serve --workers N` does), every process writes its samples to files in that folder and
a scrape of any one worker adds up all of them.
"""

import os
from pathlib import Path

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    multiprocess,
)
from prometheus_client.exposition import choose_encoder
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import QueuePool
from starlette.requests import Request
from starlette.responses import Response

SUBSCRIPTIONS_OPEN = Gauge(
    "gql_subscriptions_open",
    "Subscriptions currently registered for events.",
    multiprocess_mode="livesum",  # with several workers: the sum over the live ones
)
EVENTS_DELIVERED = Counter(
    "gql_subscription_events_delivered", "Subscription events sent to clients."
)
EVENTS_DROPPED = Counter(
    "gql_subscription_events_dropped",
    "Events a subscriber never got because it fell too far behind and was disconnected.",
)
EVENT_LISTENER_RECONNECTS = Counter(
    "gql_event_listener_reconnects", "Times the LISTEN connection to PostgreSQL was re-established."
)
OUTBOX_LAG = Histogram(
    "gql_outbox_lag_seconds",
    "Time from an event's write to its listener handing it to the subscriptions (its transaction,"
    " the wait for older transactions, a listener's reconnect included).",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
EVENTS_REPLAYED = Counter(
    "gql_subscription_events_replayed",
    "Events read again for subscriptions that resumed from a cursor (before going live).",
)
EVENTS_PRUNED = Counter(
    "gql_outbox_events_pruned", "Events deleted from the outbox past GQL_EVENT_RETENTION_SECONDS."
)

RESPONSE_CACHE_HITS = Counter(
    "gql_response_cache_hits", "Cacheable queries answered from the response cache."
)
RESPONSE_CACHE_MISSES = Counter(
    "gql_response_cache_misses", "Cacheable queries the response cache had no good answer for."
)
RESPONSE_CACHE_STORES = Counter("gql_response_cache_stores", "Answers put in the response cache.")
RESPONSE_CACHE_EVICTIONS = Counter(
    "gql_response_cache_evictions",
    "Answers the in-process response cache let go to stay within GQL_RESPONSE_CACHE_MAX_BYTES.",
)
RESPONSE_CACHE_INVALIDATIONS = Counter(
    "gql_response_cache_invalidations",
    "Tables of a tenant whose cached answers were dropped, by where the news came from: the"
    " process's own commit, or the outbox (every process's writes, its own included).",
    ["source"],
)

# GraphQL over HTTP. Operation names come from clients: the label takes at most
# MAX_OPERATION_LABELS distinct names per process, the rest count as "(other)".
MAX_OPERATION_LABELS = 500
OUTCOMES = ("success", "errors", "rejected", "unauthenticated")
REQUESTS = Counter(
    "gql_requests_total",
    "GraphQL requests by operation name and outcome (success, errors, rejected, unauthenticated).",
    ["operation", "outcome"],
)
REQUEST_DURATION = Histogram(
    "gql_request_duration_seconds",
    "Time from a GraphQL request's arrival to its last response byte, by operation name.",
    ["operation"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
SQL_STATEMENTS = Histogram(
    "gql_request_sql_statements",
    "SQL statements one GraphQL request sent, by operation name.",
    ["operation"],
    buckets=(1, 2, 3, 5, 8, 13, 21, 34, 55, 89),
)
REJECTED = Counter(
    "gql_rejected_operations_total",
    "GraphQL requests refused before execution, by reason.",
    ["reason"],
)
POOL_CONNECTIONS = Gauge(
    "gql_db_pool_connections",
    "Database connections of the pool: in_use (checked out) or idle (checked in).",
    ["state"],
    multiprocess_mode="livesum",
)

_operation_labels: set[str] = set()
_engines: list[AsyncEngine] = []


def operation_label(name: str) -> str:
    if name in _operation_labels:
        return name
    if len(_operation_labels) >= MAX_OPERATION_LABELS or len(name) > 100:
        return "(other)"
    _operation_labels.add(name)
    return name


def observe_request(operation: str, outcome: str, seconds: float, statements: int | None) -> None:
    label = operation_label(operation)
    REQUESTS.labels(label, outcome).inc()
    REQUEST_DURATION.labels(label).observe(seconds)
    if statements is not None:
        SQL_STATEMENTS.labels(label).observe(statements)


def track_pool(engine: AsyncEngine) -> None:
    _engines.append(engine)


def untrack_pool(engine: AsyncEngine) -> None:
    _engines.remove(engine)


def refresh_pool_gauges() -> None:
    """Reads the pools now: at every scrape, and (for the other workers) after each request."""
    pools = [engine.pool for engine in _engines]
    queues = [pool for pool in pools if isinstance(pool, QueuePool)]
    POOL_CONNECTIONS.labels("in_use").set(sum(pool.checkedout() for pool in queues))
    POOL_CONNECTIONS.labels("idle").set(sum(pool.checkedin() for pool in queues))


def process_exited(multiproc_dir: Path | None) -> None:
    """A worker going away takes its live gauges (the pool) out of the sums."""
    if multiproc_dir is not None:
        # prometheus_client's multiprocess module has no annotations.
        multiprocess.mark_process_dead(os.getpid(), str(multiproc_dir))  # type: ignore[no-untyped-call]


async def scrape(request: Request) -> Response:
    refresh_pool_gauges()
    registry = REGISTRY
    multiproc_dir: Path | None = request.app.state.settings.prometheus_multiproc_dir
    if multiproc_dir is not None:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, str(multiproc_dir))  # type: ignore[no-untyped-call]
    encoder, content_type = choose_encoder(request.headers.get("accept", ""))
    return Response(encoder(registry), media_type=content_type)
