"""Real servers for tests that need sockets (the app under uvicorn in this process, or
`gql-server serve` processes), and a tenant to use them with."""

import asyncio
import os
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from subprocess import DEVNULL

import asyncpg
import httpx
import uvicorn
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.applications import Starlette

import models
from gql_server.app import create_app
from gql_server.settings import Settings
from gql_server.tenancy import tenant_session
from tests.api import token_for
from tests.command import START_TIMEOUT_SECONDS
from tests.factories import make_content, make_org, make_user

ROOT = Path(__file__).resolve().parent.parent
GQL_SERVER = ROOT / ".venv" / "bin" / "gql-server"


class Gate:
    """Wraps an `EventListener`'s connect: while closed, (re)connecting waits at it, so a test
    knows the listener is away for as long as it needs."""

    def __init__(self, connect: Callable[[], Awaitable[asyncpg.Connection]]) -> None:
        self._connect = connect
        self.open = asyncio.Event()
        self.open.set()
        self.connections: list[asyncpg.Connection] = []

    async def __call__(self) -> asyncpg.Connection:
        await self.open.wait()
        connection = await self._connect()
        self.connections.append(connection)
        return connection


@dataclass
class LiveServer:
    port: int
    app: Starlette | None = None
    pid: int | None = None

    def cpu_seconds(self) -> float:
        """CPU time the server process has used so far (Linux)."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/graphql"


def free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@asynccontextmanager
async def in_process(settings: Settings, database_url: str) -> AsyncIterator[LiveServer]:
    """The real app (lifespan, routes, event listener) under uvicorn, in this event loop."""
    app = create_app(settings, database_url=database_url)
    sock = free_socket()
    config = uvicorn.Config(app, lifespan="on", log_level="warning", ws="websockets-sansio")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.01)
        yield LiveServer(sock.getsockname()[1], app)
    finally:
        server.should_exit = True
        await task
        sock.close()


@asynccontextmanager
async def processes(
    database_url: str, count: int, **environment: str
) -> AsyncIterator[list[LiveServer]]:
    """`count` separate `gql-server serve` processes on the same database."""
    started: list[tuple[LiveServer, asyncio.subprocess.Process]] = []
    env = {**os.environ, "DATABASE_URL": database_url, "GQL_LOG_LEVEL": "warning", **environment}
    try:
        for _ in range(count):
            with free_socket() as sock:
                port = sock.getsockname()[1]
            process = await asyncio.create_subprocess_exec(
                str(GQL_SERVER), "serve", "--port", str(port), env=env, stdout=DEVNULL
            )
            started.append((LiveServer(port, pid=process.pid), process))
        for server, process in started:
            await _wait_until_live(server, process)
        yield [server for server, _ in started]
    finally:
        for _, process in started:
            if process.returncode is None:
                process.terminate()
        for _, process in started:
            try:
                await asyncio.wait_for(process.wait(), 10)
            except TimeoutError:
                process.kill()
                await process.wait()


async def _wait_until_live(server: LiveServer, process: asyncio.subprocess.Process) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    async with httpx.AsyncClient(base_url=server.http_url) as client:
        while time.monotonic() < deadline:
            if process.returncode is not None:
                raise RuntimeError(
                    f"gql-server on port {server.port} exited ({process.returncode})"
                )
            try:
                if (await client.get("/health/ready")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.05)
    raise TimeoutError(f"gql-server on port {server.port} did not start")


@dataclass
class Tenant:
    """An organization with one user per role, a published and a draft content (instructor's)."""

    org: models.Organization
    admin: models.User
    instructor: models.User
    student: models.User
    published: models.Content
    draft: models.Content

    def token(self, settings: Settings, user: models.User) -> str:
        return token_for(settings, user)


async def make_tenant(sessionmaker: async_sessionmaker[AsyncSession]) -> Tenant:
    org = await make_org(sessionmaker)
    async with tenant_session(sessionmaker, org.id) as db:
        admin = await make_user(db, role=models.Role.ADMIN)
        instructor = await make_user(db, role=models.Role.INSTRUCTOR)
        student = await make_user(db, role=models.Role.STUDENT)
        published = await make_content(db, author=instructor)
        draft = await make_content(db, author=instructor, status=models.ContentStatus.DRAFT)
    return Tenant(org, admin, instructor, student, published, draft)
