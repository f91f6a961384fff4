"""Operating the server: `/metrics`, request ids, the access log, traces and graceful shutdown."""

import asyncio
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from io import StringIO
from typing import Any

import httpx
import psutil
import pytest
from graphql import GraphQLError, OperationDefinitionNode, parse
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

import models
from gql_server.errors import ErrorFormatter
from gql_server.observability import (
    RequestObservability,
    RequestRecord,
    count_rejection,
    current_request,
)
from gql_server.request_log import JsonFormatter, RequestIdFilter, TextFormatter
from gql_server.settings import Settings
from gql_server.tenancy import tenant_session
from schema import schema
from tests.api import gql, token_for
from tests.factories import make_content, make_org, make_user
from tests.waiting import WAIT_SECONDS, Deadline

Sessionmaker = async_sessionmaker[AsyncSession]
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]

FAMILIES = {
    "gql_requests": "counter",
    "gql_request_duration_seconds": "histogram",
    "gql_request_sql_statements": "histogram",
    "gql_loader_batch_size": "histogram",
    "gql_db_pool_connections": "gauge",
    "gql_rejected_operations": "counter",
}
OBSERVED = "query Observed { contents(first: 5) { edges { node { title author { username } } } } }"


async def author(sessionmaker: Sessionmaker) -> models.User:
    """A user of a fresh tenant, with three contents to list."""
    org = await make_org(sessionmaker)
    async with tenant_session(sessionmaker, org.id) as db:
        user = await make_user(db, role=models.Role.ADMIN)
        for _ in range(3):
            await make_content(db, author=user)
    return user


async def scrape(client: httpx.AsyncClient) -> tuple[dict[str, str], Samples]:
    response = await client.get("/metrics")
    assert response.status_code == 200
    types: dict[str, str] = {}
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        types[family.name] = family.type
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return types, samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_metrics_expose_every_family_and_count_requests(
    client: httpx.AsyncClient, settings: Settings, sessionmaker: Sessionmaker
) -> None:
    token = token_for(settings, await author(sessionmaker))
    types, before = await scrape(client)
    assert FAMILIES.items() <= types.items()

    response = await gql(client, OBSERVED, token=token)
    assert len(response.data["contents"]["edges"]) == 3
    unauthenticated = await gql(client, OBSERVED)
    assert unauthenticated.status == 401
    malformed = await client.post(
        "/graphql", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert malformed.status_code == 400
    _, after = await scrape(client)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("gql_requests_total", operation="Observed", outcome="success") == 1
    assert moved("gql_requests_total", operation="Observed", outcome="unauthenticated") == 1
    assert moved("gql_requests_total", operation="(unknown)", outcome="rejected") == 1
    assert moved("gql_rejected_operations_total", reason="bad_request") == 1
    assert moved("gql_request_duration_seconds_count", operation="Observed") == 2
    assert moved("gql_request_sql_statements_count", operation="Observed") == 1
    assert moved("gql_request_sql_statements_sum", operation="Observed") == response.statements
    assert moved("gql_loader_batch_size_count", loader="Related") >= 1
    # The pool is read at scrape time: the requests are over, their connection is back.
    assert value(after, "gql_db_pool_connections", state="idle") >= 1
    assert value(after, "gql_db_pool_connections", state="in_use") == 0


def observed_app(endpoint: Any) -> RequestObservability:
    """A stand-in app behind the real middleware: `endpoint` plays the part of `/graphql`."""
    return RequestObservability(Starlette(routes=[Route("/graphql", endpoint, methods=["POST"])]))


async def test_count_rejection_counts_and_marks_the_request(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    async def refusing(_request: Request) -> Response:
        current_request().graphql = True
        count_rejection("depth")
        return JSONResponse({"errors": [{"message": "too deep"}]}, status_code=400)

    _, before = await scrape(client)
    transport = httpx.ASGITransport(app=observed_app(refusing))
    caplog.set_level(logging.INFO, logger="gql_server.access")
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as other:
        assert (await other.post("/graphql")).status_code == 400
    _, after = await scrape(client)

    assert value(after, "gql_rejected_operations_total", reason="depth") == 1 + value(
        before, "gql_rejected_operations_total", reason="depth"
    )
    assert value(after, "gql_rejected_operations_total", reason="bad_request") == value(
        before, "gql_rejected_operations_total", reason="bad_request"
    )
    (line,) = [r for r in caplog.records if r.name == "gql_server.access"]
    assert (line.__dict__["outcome"], line.__dict__["rejection"]) == ("rejected", "depth")


async def test_refusals_of_the_real_endpoint_are_counted_by_reason(
    client: httpx.AsyncClient, settings: Settings, sessionmaker: Sessionmaker
) -> None:
    token = token_for(settings, await author(sessionmaker))
    hop = "contents(first: 1) { nodes { author { "  # two levels: `nodes` wraps, no level
    too_deep = "{ viewer { " + hop * 5 + "id" + " } } }" * 5 + " } }"  # 12 levels deep
    unknown_hash = {"persistedQuery": {"version": 1, "sha256Hash": "0" * 64}}
    _, before = await scrape(client)

    refused = await gql(client, too_deep, token=token)
    assert refused.error_codes == ["DEPTH_LIMIT_EXCEEDED"]
    not_found = await client.post(
        "/graphql",
        json={"extensions": unknown_hash},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert not_found.json()["errors"][0]["message"] == "PersistedQueryNotFound"
    _, after = await scrape(client)

    def moved(reason: str) -> float:
        name = "gql_rejected_operations_total"
        return value(after, name, reason=reason) - value(before, name, reason=reason)

    assert moved("depth_limit_exceeded") == 1
    assert moved("persisted_query_not_found") == 1


async def test_a_clients_bad_input_is_no_server_error_in_the_log(
    client: httpx.AsyncClient,
    settings: Settings,
    sessionmaker: Sessionmaker,
    caplog: pytest.LogCaptureFixture,
) -> None:
    token = token_for(settings, await author(sessionmaker))
    caplog.set_level(logging.INFO)
    response = await gql(client, "{ contents(first: 1000) { nodes { id } } }", token=token)
    assert response.error_codes == ["BAD_USER_INPUT"]
    assert [
        record.getMessage() for record in caplog.records if record.levelno >= logging.ERROR
    ] == []


async def test_request_id_is_echoed_or_made(client: httpx.AsyncClient) -> None:
    echoed = await client.get("/health/live", headers={"X-Request-ID": "abc-123"})
    assert echoed.headers["X-Request-ID"] == "abc-123"

    made = await client.get("/health/live")
    assert uuid.UUID(made.headers["X-Request-ID"])

    for unsafe in ("two words", "x" * 129, "a\tb"):
        replaced = await client.get("/health/live", headers={"X-Request-ID": unsafe})
        assert uuid.UUID(replaced.headers["X-Request-ID"])


async def test_access_log_line_is_json_with_every_field(
    client: httpx.AsyncClient,
    settings: Settings,
    sessionmaker: Sessionmaker,
    caplog: pytest.LogCaptureFixture,
) -> None:
    user = await author(sessionmaker)
    caplog.set_level(logging.INFO, logger="gql_server.access")
    response = await client.post(
        "/graphql",
        json={"query": OBSERVED},
        headers={"Authorization": f"Bearer {token_for(settings, user)}", "X-Request-ID": "log-1"},
    )
    assert response.status_code == 200

    (record,) = [r for r in caplog.records if r.name == "gql_server.access"]
    line = json.loads(JsonFormatter().format(record))
    assert line == {
        "time": line["time"],
        "level": "INFO",
        "logger": "gql_server.access",
        "message": "POST /graphql 200",
        "request_id": "log-1",
        "method": "POST",
        "path": "/graphql",
        "status": 200,
        "duration_ms": line["duration_ms"],
        "tenant": str(user.organization_id),
        "operation": "Observed",
        "operation_type": "query",
        "sql_statements": response.json()["extensions"]["sqlStatements"],
        "outcome": "success",
        "rejection": None,
    }
    assert line["duration_ms"] > 0
    text_line = TextFormatter().format(record)
    assert text_line.startswith("INFO gql_server.access: POST /graphql 200 request_id=log-1 ")
    assert "outcome=success" in text_line
    assert "rejection" not in text_line  # empty fields stay out of text lines


def test_a_batch_is_one_request_with_its_operations_added_up() -> None:
    record = RequestRecord("batch-1", graphql=True)
    for query, errors, statements in (("query A { viewer { id } }", False, 2), ("{ x }", True, 3)):
        operation = parse(query).definitions[0]
        assert isinstance(operation, OperationDefinitionNode)
        record.start_operation(operation)
        record.executed(errors=errors, statements=statements)
    assert (record.operation, record.statements, record.final_outcome(200)) == (
        "(batch)",
        5,
        "errors",
    )


@contextmanager
def captured(logger_name: str) -> Iterator[StringIO]:
    """What `logger_name` writes through a JSON handler like the server's (request id filter)."""
    stream = StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestIdFilter())
    logger = logging.getLogger(logger_name)
    logger.addHandler(handler)
    try:
        yield stream
    finally:
        logger.removeHandler(handler)


async def test_internal_errors_carry_the_request_id(settings: Settings) -> None:
    errors = ErrorFormatter(production=False, statement_timeout_ms=1000)

    async def failing(_request: Request) -> Response:
        error = GraphQLError("boom", path=["viewer"], original_error=RuntimeError("boom"))
        return JSONResponse(errors.format_one(error, current_request().request_id))

    transport = httpx.ASGITransport(app=observed_app(failing))
    with captured("gql_server.errors") as logged:
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as other:
            response = await other.post("/graphql", headers={"X-Request-ID": "req-500"})

    extensions = response.json()["extensions"]
    assert extensions == {"code": "INTERNAL_SERVER_ERROR", "requestId": "req-500"}
    line = json.loads(logged.getvalue().splitlines()[0])
    assert (line["request_id"], line["level"]) == ("req-500", "ERROR")
    assert "RuntimeError: boom" in line["exception"]


# --- traces ----------------------------------------------------------------------------------


async def test_traces_cover_the_request_the_operation_and_its_sql(
    settings: Settings, database_url: str, sessionmaker: Sessionmaker
) -> None:
    pytest.importorskip("opentelemetry.sdk", reason="the `otel` extra is not installed")
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from gql_server.app import create_app

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    token = token_for(settings, await author(sessionmaker))
    extensions_before = schema.extensions

    app = create_app(
        settings.model_copy(update={"otel": True}),
        database_url=database_url,
        tracer_provider=provider,
    )
    async with app.router.lifespan_context(app), traced_client(app) as client:
        exporter.clear()  # the lifespan's own statements
        response = await gql(client, OBSERVED, token=token)
        assert len(response.data["contents"]["edges"]) == 3
    spans = exporter.get_finished_spans()

    by_name = {span.name: span for span in spans}
    assert "GraphQL Query: Observed" in by_name
    assert "POST /graphql" in by_name
    statements = [str((span.attributes or {}).get("db.statement", "")) for span in spans]
    sql = [statement for statement in statements if statement]
    assert len(sql) >= response.statements
    assert any("FROM contents" in statement for statement in sql)
    # One trace: the HTTP span is the root of the operation's and the SQL spans.
    root = by_name["POST /graphql"]
    assert root.parent is None
    assert {span.get_span_context().trace_id for span in spans} == {
        root.get_span_context().trace_id
    }
    # Tracing ends with the app: the shared schema is as it was.
    assert schema.extensions == extensions_before


@asynccontextmanager
async def traced_client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


# --- graceful shutdown -----------------------------------------------------------------------

SHUTDOWN_TIMEOUT_SECONDS = 2


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_request(port: int, token: str) -> tuple[socket.socket, bytes]:
    """A POST whose headers and half its body are sent: in flight until the rest arrives."""
    body = json.dumps({"query": "{ viewer { username } }"}).encode()
    head = (
        f"POST /graphql HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    connection = socket.create_connection(("127.0.0.1", port), timeout=10)
    half = len(body) // 2
    connection.sendall(head + body[:half])
    return connection, body[half:]


def finish_request(connection: socket.socket, rest: bytes) -> tuple[int, dict[str, Any]]:
    with connection:
        connection.sendall(rest)
        received = b""
        while chunk := connection.recv(65536):
            received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)


def refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except ConnectionRefusedError:
        return True
    return False


def accepted(server: "subprocess.Popen[bytes]", port: int) -> int:
    """The connections to `port` that the server process has accepted."""
    return sum(
        connection.laddr.port == port and connection.status == psutil.CONN_ESTABLISHED
        for connection in psutil.Process(server.pid).net_connections(kind="tcp")
    )


def wait_until(condition: Any, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


@dataclass
class Shutdown:
    answers: list[tuple[int, dict[str, Any]]]  # of the requests in flight at SIGTERM
    seconds: float  # from the last answer to the process's exit
    returncode: int
    stderr: str


def serve_then_terminate(environment: dict[str, str], token: str) -> Shutdown:
    """`gql-server serve`; requests in flight, one of them stalled; SIGTERM; the rest of them."""
    for _ in range(3):  # another process may take the free port before the server binds it
        port = free_port()
        command = [sys.executable, "-m", "gql_server.cli", "serve", "--port", str(port)]
        with subprocess.Popen(
            command, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        ) as server:
            if not wait_until(partial(_up_or_exited, server, port), 90):
                server.kill()
                raise AssertionError("the server did not start in 90 s")
            if server.poll() is None:
                return terminate_while_serving(server, port, token)
            errors = server.communicate()[1].decode()
            if "address already in use" not in errors:
                raise AssertionError(f"the server exited: {errors}")
    raise AssertionError("no free port")


def terminate_while_serving(server: "subprocess.Popen[bytes]", port: int, token: str) -> Shutdown:
    stalled: socket.socket | None = None
    try:
        in_flight = [start_request(port, token) for _ in range(8)]
        stalled, _ = start_request(port, token)  # its body never completes
        # Every request has reached the server (accepted, it waits for the body's rest).
        assert wait_until(lambda: accepted(server, port) == 9, WAIT_SECONDS), "not accepted"

        server.send_signal(signal.SIGTERM)
        assert wait_until(lambda: refused(port), WAIT_SECONDS), "still accepting connections"
        answers = [finish_request(connection, rest) for connection, rest in in_flight]
        answered = time.monotonic()
        _, errors = server.communicate(timeout=SHUTDOWN_TIMEOUT_SECONDS + 10)
        return Shutdown(answers, time.monotonic() - answered, server.returncode, errors.decode())
    finally:
        if stalled is not None:
            stalled.close()
        if server.poll() is None:
            server.kill()


async def server_connections(engine: AsyncEngine, since: datetime) -> int:
    """Connections the server opened (application_name gql_server) that are still there."""
    async with engine.connect() as connection:
        count = await connection.scalar(
            text(
                "select count(*) from pg_stat_activity where application_name = 'gql_server'"
                " and datname = current_database() and backend_start >= :since"
            ),
            {"since": since},
        )
    return int(count or 0)


async def test_sigterm_finishes_in_flight_requests_then_exits(
    settings: Settings, database_url: str, sessionmaker: Sessionmaker, engine: AsyncEngine
) -> None:
    user = await author(sessionmaker)
    async with engine.connect() as connection:
        started_at = await connection.scalar(text("select now()"))
    environment = {
        key: value for key, value in os.environ.items() if key != "PROMETHEUS_MULTIPROC_DIR"
    }
    environment |= {
        "DATABASE_URL": database_url,
        "GQL_JWT_SECRET": settings.jwt_secret,
        "GQL_LOG_LEVEL": "warning",
        "GQL_SHUTDOWN_TIMEOUT_SECONDS": str(SHUTDOWN_TIMEOUT_SECONDS),
    }

    shutdown = await asyncio.to_thread(serve_then_terminate, environment, token_for(settings, user))

    viewer = {"viewer": {"username": user.username}}
    assert [(status, body.get("data")) for status, body in shutdown.answers] == [(200, viewer)] * 8
    # The stalled request held the exit up only until the timeout; then it was cut off.
    assert shutdown.seconds < SHUTDOWN_TIMEOUT_SECONDS + 5
    assert shutdown.returncode == 0, shutdown.stderr
    assert "timeout graceful shutdown exceeded" in shutdown.stderr
    # Every connection of the server (its pool, its LISTEN connection) is closed.
    deadline = Deadline("every connection of the server closed")
    while await server_connections(engine, started_at) != 0:
        if not deadline.running():
            raise deadline.missed()
        await asyncio.sleep(0.1)


def _up_or_exited(server: "subprocess.Popen[bytes]", port: int) -> bool:
    return server.poll() is not None or _live(port)


def _live(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/health/live", timeout=1).status_code == 200
    except httpx.TransportError:
        return False
