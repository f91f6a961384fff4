"""The GraphQL-over-HTTP specification's public audit (graphql-http's `serverAudits`), run with
Node against the real server: every MUST, SHOULD and MAY passes."""

from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gql_server.settings import Settings
from tests import node_tools
from tests.api import token_for
from tests.live import LiveServer, in_process, make_tenant


@pytest.fixture(scope="module")
async def server(database_url: str) -> AsyncIterator[LiveServer]:
    async with in_process(Settings(database_url=None), database_url) as live:
        yield live


async def test_every_audit_of_the_specification_passes(
    server: LiveServer, sessionmaker: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    tenant = await make_tenant(sessionmaker)
    token = token_for(settings, tenant.admin)
    results = await node_tools.run("audit.mjs", f"{server.http_url}/graphql", token)
    assert len(results) > 50  # the audit ran, all of it
    failed = [f"{r['name']}: {r['reason']}" for r in results if r["status"] != "ok"]
    assert failed == []
