"""What each HTTP request did: a request id, one access log line, and the request metrics.

`RequestObservability` is the outermost of our middleware. It takes the client's `X-Request-ID`
when it looks sane (else makes one), echoes it on the response and keeps it in
`scope["state"]["request_id"]`. It opens a `RequestRecord` that the code serving the request fills
in through `current_request()` (the tenant, the GraphQL operation, its SQL statements, its
outcome); when the response has gone out, it writes one line to the `gql_server.access` logger and,
for GraphQL requests, counts the request in `/metrics`.
"""

import logging
import re
import time
import uuid
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING
from uuid import UUID

from graphql import OperationDefinitionNode
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.datastructures import MutableHeaders
from starlette.middleware import Middleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gql_server import metrics
from gql_server.settings import Settings

if TYPE_CHECKING:
    from gql_server.tracing import Tracing

REQUEST_ID_HEADER = "X-Request-ID"
# Accepted from clients and proxies as is: bounded, and nothing a log line could be forged with.
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:+/=-]{1,128}")
# Probes and scrapers arrive every few seconds; their lines are DEBUG.
QUIET_PATHS = ("/health/", "/metrics", "/static/")

access_log = logging.getLogger("gql_server.access")


@dataclass(slots=True)
class RequestRecord:
    """One request, as its log line and metrics describe it; filled in while it is served."""

    request_id: str
    method: str = ""
    path: str = ""
    graphql: bool = False  # a GraphQL request (not the GraphiQL page, a probe or a scrape)
    tenant: UUID | None = None
    operations: int = 0  # GraphQL operations in the request; more than one is a batch
    operation_name: str | None = None
    operation_type: str | None = None
    statements: int | None = None
    outcome: str | None = None  # "success" or "errors", once the operation ran
    rejection: str | None = None  # why it was refused before running, if it was

    def start_operation(self, operation: OperationDefinitionNode) -> None:
        self.operations += 1
        if self.operations == 1:
            self.operation_name = operation.name.value if operation.name else None
            self.operation_type = operation.operation.value

    def executed(self, *, errors: bool, statements: int | None) -> None:
        """One operation ran; a batch's add up (errors in any of them make it "errors")."""
        self.outcome = "errors" if errors or self.outcome == "errors" else "success"
        if statements is not None:
            self.statements = (self.statements or 0) + statements

    def final_outcome(self, status: int) -> str:
        if self.rejection is not None:
            return "rejected"
        if status == 401:
            return "unauthenticated"
        if status >= 500:
            return "errors"
        if self.outcome is not None:
            return self.outcome
        return "rejected" if status >= 400 else "success"

    @property
    def operation(self) -> str:
        """The operation's name; in parentheses (no GraphQL name has them) when it has none."""
        if self.operations > 1:
            return "(batch)"
        if self.operation_name:
            return self.operation_name
        return "(anonymous)" if self.operation_type else "(unknown)"


_current: ContextVar[RequestRecord | None] = ContextVar("gql_server_request", default=None)


def current_request() -> RequestRecord:
    """The record of the request being served (a detached one outside any request)."""
    return _current.get() or RequestRecord(request_id=new_request_id())


def current_request_id() -> str | None:
    record = _current.get()
    return None if record is None else record.request_id


def count_rejection(reason: str) -> None:
    """Counts a GraphQL request refused before execution under `reason` (a short constant such as
    "depth", "cost" or "persisted_query_not_found"), and marks the current request as rejected:
    its log line says why, and `gql_requests_total` counts it with outcome "rejected"."""
    metrics.REJECTED.labels(reason).inc()
    record = _current.get()
    if record is not None:
        record.rejection = reason


def new_request_id() -> str:
    return str(uuid.uuid4())


def _request_id(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            candidate: str = value.decode("latin-1")
            if _SANE_REQUEST_ID.fullmatch(candidate):
                return candidate
            break
    return new_request_id()


class RequestObservability:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        record = RequestRecord(_request_id(scope), method=scope["method"], path=scope["path"])
        scope.setdefault("state", {})["request_id"] = record.request_id
        status = 500  # unless a response starts: an exception escaped

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                MutableHeaders(scope=message).append(REQUEST_ID_HEADER, record.request_id)
            await send(message)

        token = _current.set(record)
        started = time.perf_counter()
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            _finish(record, status, time.perf_counter() - started)
            _current.reset(token)


def _finish(record: RequestRecord, status: int, seconds: float) -> None:
    outcome = None
    if record.graphql:
        outcome = record.final_outcome(status)
        if outcome == "rejected" and record.rejection is None:
            record.rejection = "bad_request"  # malformed: no JSON, no query, unparsable, ...
            metrics.REJECTED.labels(record.rejection).inc()
        metrics.observe_request(record.operation, outcome, seconds, record.statements)
        metrics.refresh_pool_gauges()
    quiet = not record.graphql and record.path.startswith(QUIET_PATHS)
    level = logging.DEBUG if quiet else logging.INFO
    if not access_log.isEnabledFor(level):
        return
    access_log.log(
        level,
        "%s %s %s",
        record.method,
        record.path,
        status,
        extra={
            "request_id": record.request_id,
            "method": record.method,
            "path": record.path,
            "status": status,
            "duration_ms": round(seconds * 1000, 2),
            "tenant": None if record.tenant is None else str(record.tenant),
            "operation": record.operation if record.graphql else None,
            "operation_type": record.operation_type,
            "sql_statements": record.statements,
            "outcome": outcome,
            "rejection": record.rejection,
        },
    )


def middleware(tracing: "Tracing | None") -> list[Middleware]:
    """The app's middleware, outermost first: ours, then OpenTelemetry's when tracing is on."""
    stack = [Middleware(RequestObservability)]
    if tracing is not None:
        stack.append(tracing.middleware())
    return stack


def start(engine: AsyncEngine, settings: Settings, tracing: "Tracing | None") -> Callable[[], None]:
    """Observes the engine (pool gauges, SQL spans) for the app's lifespan; returns the stop."""
    metrics.track_pool(engine)
    if tracing is not None:
        tracing.start(engine)

    def stop() -> None:
        if tracing is not None:
            tracing.stop()
        metrics.untrack_pool(engine)
        metrics.process_exited(settings.prometheus_multiproc_dir)

    return stop
