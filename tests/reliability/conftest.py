"""The reliability suite's server: one `gql-server serve` process on the suite's database."""

from collections.abc import AsyncIterator

import pytest

from tests.live import LiveServer, processes

# A request waits this long for a pooled connection before its 503. Fifty clients share the
# pool's 15 connections, so requests queue for one; on a loaded machine each holds it longer,
# and the default 5 s turned a slow machine into 503s. Throughput is bench's business.
POOL_TIMEOUT_SECONDS = 30


@pytest.fixture(scope="package")
async def served(database_url: str) -> AsyncIterator[LiveServer]:
    pool_timeout = {"GQL_POOL_TIMEOUT_SECONDS": str(POOL_TIMEOUT_SECONDS)}
    async with processes(database_url, 1, **pool_timeout) as (server,):
        yield server
