"""PostgreSQL stops under load and starts again; the same `gql-server serve` process rides it out.

While the database is down every request is refused at once with HTTP 503 and
`SERVICE_UNAVAILABLE` (no waiting for a pool timeout) and `/health/ready` says 503; once it is
back, every request sent from then on succeeds, without restarting the server, and every write
answered as done before or after is in the database. Each phase lasts until enough requests were
answered in it, not for a time: a loaded machine answers slower. The server runs on a PostgreSQL
of its own (a separate data folder), so stopping it disturbs no other test.
"""

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.pool import NullPool

from gql_server import embedded, migrate
from gql_server.settings import Settings
from schema.node import to_global_id
from tests.live import LiveServer, processes
from tests.reliability.load import (
    NODE,
    Client,
    Run,
    lost_and_unexpected_writes,
    stored,
)
from tests.reliability.postgres import own_postgres, restart, start_and_time, stop
from tests.reliability.world import World, make_world
from tests.waiting import Deadline, until

CLIENTS = 20
# Answers to wait for before the database stops, while it is down, and after it is back: a
# round of every client's requests, however slow the machine.
ANSWERS_PER_PHASE = 2 * CLIENTS
# The server under test waits this long for a pooled connection: a refusal that waited for the
# pool (instead of coming at once) would take longer than any load makes a request take.
POOL_TIMEOUT_SECONDS = 60
NOT_WAITING_SECONDS = POOL_TIMEOUT_SECONDS / 2


@pytest.fixture(scope="module")
def postgres() -> Iterator[Any]:
    with own_postgres() as server:
        yield server


@dataclass
class Setup:
    server: LiveServer
    world: World
    engine: AsyncEngine


@pytest.fixture(scope="module")
async def setup(postgres: Any) -> AsyncIterator[Setup]:
    url = embedded.asyncpg_url(postgres)
    engine = create_async_engine(url, poolclass=NullPool)
    await migrate.upgrade(engine)
    world = await make_world(
        async_sessionmaker(engine, expire_on_commit=False),
        admins=3,
        instructors=7,
        students=10,
        published=10,
    )
    # Without the response cache: a query it kept is answered while the database is down (no
    # write can commit meanwhile, so it is still right), and this test is about the others.
    async with processes(
        url, 1, GQL_POOL_TIMEOUT_SECONDS=str(POOL_TIMEOUT_SECONDS), GQL_RESPONSE_CACHE="false"
    ) as (server,):
        yield Setup(server, world, engine)
    await engine.dispose()


async def test_requests_fail_fast_while_the_database_is_down_and_recover_after(
    postgres: Any, setup: Setup, settings: Settings
) -> None:
    server, world = setup.server, setup.world
    sessionmaker = async_sessionmaker(setup.engine, expire_on_commit=False)
    before = await stored(sessionmaker, world.org.id)
    run = Run()
    users = world.users[:CLIENTS]
    limits = httpx.Limits(max_connections=CLIENTS + 2, max_keepalive_connections=CLIENTS + 2)
    async with httpx.AsyncClient(base_url=server.http_url, limits=limits, timeout=30) as http:
        clients = [
            Client(number, http, token, user, world, run)
            for number, (user, token) in enumerate(
                zip(users, world.tokens(settings, users), strict=True)
            )
        ]
        stop_load = asyncio.Event()
        load = asyncio.gather(*(client.until(stop_load) for client in clients))
        started = time.monotonic()
        await answered(run, "success", started)

        await asyncio.to_thread(stop, postgres)
        down = time.monotonic()
        await answered(run, "unavailable", down, ANSWERS_PER_PHASE // 2)
        probe = time.monotonic()
        ready = await http.get("/health/ready")
        ready_seconds = time.monotonic() - probe
        live = await http.get("/health/live")
        await answered(run, "unavailable", probe)

        starting = time.monotonic()
        accepted = await start_and_time(postgres)
        recovered = await first_success_after(run, accepted)
        await answered(run, "success", accepted)
        stop_load.set()
        await load
        run.seconds = time.monotonic() - started
        ready_after = await http.get("/health/ready")

    unavailable = [answer for answer in run.answers if answer.verdict == "unavailable"]
    during = [a for a in run.answers if a.started >= down and a.started + a.seconds <= starting]
    late = [a for a in unavailable if a.started >= accepted]
    slowest = max((answer.seconds for answer in unavailable), default=0.0)
    recovery = recovered - accepted
    report = (
        f"{run.summary()}; slowest 503 {slowest * 1000:.1f} ms; /health/ready while down"
        f" {ready.status_code} in {ready_seconds * 1000:.1f} ms; recovery: first success"
        f" {recovery * 1000:.1f} ms after PostgreSQL accepted connections, 503s to requests"
        f" sent after that: {len(late)}"
    )
    print(f"\noutage: {report}")

    assert run.count("failure") == 0, report
    assert {answer.status for answer in run.answers} == {200, 503}, report
    assert during, report
    assert all(answer.verdict == "unavailable" for answer in during), report
    assert slowest < NOT_WAITING_SECONDS, report
    assert (ready.status_code, live.status_code, ready_after.status_code) == (503, 200, 200)
    assert ready.json()["status"] == "unavailable"
    # Once PostgreSQL accepts connections, every request sent from then on succeeds: no
    # pause, no backoff, no server restart.
    assert late == [], report
    assert server.pid is not None
    assert alive(server.pid), "the server must not have restarted"
    after = await stored(sessionmaker, world.org.id)
    problems = lost_and_unexpected_writes(before, after, run.ledger)
    assert problems == [], f"{problems[:10]}; {report}"


async def test_the_first_requests_after_a_restart_succeed(
    postgres: Any, setup: Setup, settings: Settings
) -> None:
    """The pool still holds connections from before the restart: the one retry of a request's
    first statement keeps them from failing anything."""
    server, world = setup.server, setup.world
    tokens = world.tokens(settings, world.users)
    content = {"id": to_global_id("Content", world.published[0].id)}

    async def burst(http: httpx.AsyncClient) -> list[int]:
        responses = await asyncio.gather(
            *(
                http.post(
                    "/graphql",
                    json={"query": NODE, "variables": content},
                    headers={"Authorization": f"Bearer {token}"},
                )
                for token in tokens
            )
        )
        return [response.status_code for response in responses]

    limits = httpx.Limits(max_connections=len(tokens) + 1)
    async with httpx.AsyncClient(base_url=server.http_url, limits=limits, timeout=30) as http:
        assert set(await burst(http)) == {200}  # fills the pool with connections
        await asyncio.to_thread(restart, postgres)
        statuses = await burst(http)
        ready = await http.get("/health/ready")
    print(
        f"\nrestart: {statuses.count(200)} of {len(statuses)} requests right after it answered 200"
    )
    assert statuses == [200] * len(tokens)
    assert ready.status_code == 200


async def answered(run: Run, verdict: str, since: float, count: int = ANSWERS_PER_PHASE) -> None:
    """Until `count` requests sent after `since` were answered with `verdict`."""
    await until(
        lambda: sum(a.verdict == verdict and a.started >= since for a in run.answers) >= count,
        f"{count} answers {verdict}",
    )


async def first_success_after(run: Run, moment: float) -> float:
    """When the first request answered with a success after `moment` was answered."""
    deadline = Deadline("a request succeeded after the database's return")
    while deadline.running():
        finished = [
            answer.started + answer.seconds
            for answer in run.answers
            if answer.verdict == "success" and answer.started + answer.seconds >= moment
        ]
        if finished:
            return min(finished)
        await asyncio.sleep(0.001)
    raise deadline.missed()


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rpartition(")")[2].split()[0] != "Z"
    except FileNotFoundError:
        return False
