"""Load: 50 clients x 40 requests of queries and mutations against a `gql-server serve` process.

No answer may be a server error, no write answered as done may be missing (and no row appear that
nobody wrote), and no request may wait for a connection until the pool gives up (a 503).
"""

import asyncio
import time

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gql_server.settings import Settings
from tests.live import LiveServer
from tests.reliability.load import Client, Run, lost_and_unexpected_writes, sample_pool, stored
from tests.reliability.world import make_world
from tests.waiting import WAIT_SECONDS

CLIENTS = 50
REQUESTS = 40


async def test_fifty_clients_lose_nothing(
    served: LiveServer, sessionmaker: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    world = await make_world(
        sessionmaker, admins=5, instructors=15, students=30, published=20, drafts=5
    )
    users = world.users[:CLIENTS]
    before = await stored(sessionmaker, world.org.id)
    run = Run()
    limits = httpx.Limits(max_connections=CLIENTS + 1, max_keepalive_connections=CLIENTS + 1)
    async with httpx.AsyncClient(
        base_url=served.http_url, limits=limits, timeout=WAIT_SECONDS
    ) as http:
        clients = [
            Client(number, http, token, user, world, run)
            for number, (user, token) in enumerate(
                zip(users, world.tokens(settings, users), strict=True)
            )
        ]
        done = asyncio.Event()
        sampler = asyncio.create_task(sample_pool(http, run, done))
        cpu, started = served.cpu_seconds(), time.monotonic()
        await asyncio.gather(*(client.requests(REQUESTS) for client in clients))
        run.seconds = time.monotonic() - started
        cpu = served.cpu_seconds() - cpu
        done.set()
        await sampler
    per_request = cpu / len(run.answers) * 1000
    print(f"\nload: {run.summary()}; server CPU {cpu:.1f} s ({per_request:.1f} ms per request)")

    assert run.server_errors == [], run.summary()
    assert run.count("failure") == run.count("unavailable") == 0, run.summary()
    assert len(run.answers) >= CLIENTS * REQUESTS, run.summary()
    problems = lost_and_unexpected_writes(
        before, await stored(sessionmaker, world.org.id), run.ledger
    )
    assert problems == [], f"{problems[:10]}; {run.summary()}"
    ledger = run.ledger
    wrote = [ledger.comments, ledger.ratings, ledger.created, ledger.updates]
    assert all(wrote), run.summary()
