"""Behind PgBouncer in transaction mode (`make test-scale`, --scale=pooler).

Two `gql-server serve` processes, started with `GQL_TRANSACTION_POOLER` as an operator would
(nothing of the tests' own set-up reaches them), answer many clients at once, reads and writes
of several tenants mixed: every answer is JSON, without errors, with its own tenant's rows.
"""

import asyncio
from typing import Any

import httpx
from sqlalchemy import func, select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import models
from gql_server.settings import Settings
from gql_server.tenancy import tenant_session
from tests.api import gql
from tests.live import Tenant, make_tenant, processes
from tests.scale.topology import Topology

CLIENTS = 40
ROUNDS = 4
TENANTS = 4
READ = """{ contents(first: 10) { edges { node { title author { username }
  comments(first: 3) { edges { node { body } } } tags { name } } } } }"""
CREATE_TAG = """mutation ($name: String!) {
  createTag(input: {name: $name}) { tag { name } userErrors { code } } }"""


async def test_many_clients_at_once_through_the_pooler(
    database_url: str,
    topology: Topology,
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    assert make_url(database_url).port == topology.servers["pgbouncer"].port
    tenants = [await make_tenant(sessionmaker) for _ in range(TENANTS)]
    answers: list[Any] = []

    async def client(index: int, base_url: str) -> None:
        tenant: Tenant = tenants[index % TENANTS]
        token = tenant.token(settings, tenant.admin)
        async with httpx.AsyncClient(base_url=base_url, timeout=60) as http:
            for round_ in range(ROUNDS):
                read = await gql(http, READ, token=token)
                titles = {edge["node"]["title"] for edge in read.data["contents"]["edges"]}
                assert titles == {tenant.published.title, tenant.draft.title}
                name = f"tag-{index}-{round_}"
                wrote = await gql(http, CREATE_TAG, {"name": name}, token=token)
                assert wrote.data["createTag"] == {"tag": {"name": name}, "userErrors": []}
                answers.extend((read.status, wrote.status))

    async with processes(database_url, 2) as served:
        await asyncio.gather(
            *(client(index, served[index % 2].http_url) for index in range(CLIENTS))
        )
    assert answers == [200] * (2 * CLIENTS * ROUNDS)
    for tenant in tenants:
        async with tenant_session(sessionmaker, tenant.org.id) as db:
            tags = await db.scalar(select(func.count()).select_from(models.Tag))
        assert tags == CLIENTS // TENANTS * ROUNDS
