"""A primary and its streaming replica (`make test-scale`, --scale=replica).

Queries are read from the replica (its replay paused, it visibly lacks a new write), a viewer's
read right after its own write comes from the primary, and stopping the replica under load loses
no request.
"""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import httpx
from prometheus_client import REGISTRY
from sqlalchemy import text
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine
from sqlalchemy.pool import NullPool

from gql_server import migrate
from gql_server.app import create_app
from gql_server.settings import Settings
from tests.api import gql
from tests.conftest import CreateDatabase
from tests.live import Tenant, make_tenant
from tests.scale.servers import Postgres
from tests.scale.topology import Topology

TAGS = "{ tags(first: 50) { edges { node { name } } } }"
CREATE_TAG = """mutation ($name: String!) {
  createTag(input: {name: $name}) { tag { name } userErrors { code } } }"""
READERS = 16


def routed(target: str) -> float:
    return REGISTRY.get_sample_value("gql_reads_routed_total", {"target": target}) or 0.0


def replica_name(replica: Postgres) -> str:
    return f"127.0.0.1:{replica.port}"


@asynccontextmanager
async def client(settings: Settings, url: str) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, database_url=url)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http,
    ):
        yield http


def tag_names(body: Any) -> set[str]:
    return {edge["node"]["name"] for edge in body["tags"]["edges"]}


async def test_reads_go_to_the_replica_and_a_writer_reads_its_write(
    create_database: CreateDatabase, topology: Topology, settings: Settings
) -> None:
    replica: Postgres = topology.servers["replica"]
    url = await create_database()
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        # This database's commits do not wait for the replica, whose replay is paused below.
        async with engine.connect() as connection:
            await connection.execute(text("commit"))
            name = url.rsplit("/", 1)[1]
            await connection.execute(
                text(f'alter database "{name}" set synchronous_commit = local')
            )
        await engine.dispose()
        await migrate.upgrade(engine)
        tenant: Tenant = await make_tenant(async_sessionmaker(engine, expire_on_commit=False))
        standby = await asyncpg.connect(replica.libpq())
        # A lag bound no paused replay reaches in this test: the replica stays in use.
        lenient = Settings(**{**settings.model_dump(), "replica_max_lag_seconds": 3600})
        try:
            async with client(lenient, url) as http:
                writer = tenant.token(settings, tenant.admin)
                reader = tenant.token(settings, tenant.student)
                before = routed(replica_name(replica))
                assert (await gql(http, TAGS, token=reader)).data == {"tags": {"edges": []}}
                assert routed(replica_name(replica)) == before + 1

                await standby.execute("select pg_wal_replay_pause()")
                wrote = await gql(http, CREATE_TAG, {"name": "fresh"}, token=writer)
                assert wrote.data["createTag"]["userErrors"] == []
                # The writer reads its write (the primary) ...
                assert tag_names((await gql(http, TAGS, token=writer)).data) == {"fresh"}
                # ... while the replica, where the others read, has not replayed it yet.
                assert tag_names((await gql(http, TAGS, token=reader)).data) == set()

                await standby.execute("select pg_wal_replay_resume()")
                for _ in range(400):  # the replica replays it: the reader sees it
                    if tag_names((await gql(http, TAGS, token=reader)).data) == {"fresh"}:
                        break
                    await asyncio.sleep(0.025)
                else:
                    raise AssertionError("the replica never showed the write")
        finally:
            await standby.execute("select pg_wal_replay_resume()")
            await standby.close()
    finally:
        await engine.dispose()


async def test_stopping_the_replica_under_load_loses_no_request(
    database_url: str,
    topology: Topology,
    settings: Settings,
    sessionmaker: async_sessionmaker[Any],
) -> None:
    replica: Postgres = topology.servers["replica"]
    tenant = await make_tenant(sessionmaker)
    token = tenant.token(settings, tenant.student)
    statuses: list[int] = []
    loaded = asyncio.Event()  # the replica under load, before it stops
    stopped = asyncio.Event()
    after_stop = 0

    async with client(settings, database_url) as http:

        async def reader() -> None:
            nonlocal after_stop
            while after_stop < 5 * READERS:
                response = await gql(http, TAGS, token=token)
                assert "errors" not in response.body, response.body
                statuses.append(response.status)
                if len(statuses) >= 3 * READERS:
                    loaded.set()
                if stopped.is_set():
                    after_stop += 1

        readers = [asyncio.create_task(reader()) for _ in range(READERS)]
        try:
            await loaded.wait()
            on_primary = routed("primary")
            await asyncio.to_thread(replica.stop, "immediate")
            stopped.set()
            await asyncio.gather(*readers)
        finally:
            for task in readers:
                task.cancel()
            if stopped.is_set():
                await asyncio.to_thread(replica.start)
        assert statuses == [200] * len(statuses)
        assert routed("primary") > on_primary  # the reads went on, on the primary

        reads: Any = http._transport.app.state.reads  # type: ignore[attr-defined]
        for _ in range(400):  # the replica back: in use again
            if reads.replicas[0].usable:
                break
            await asyncio.sleep(0.025)
        assert reads.replicas[0].usable
