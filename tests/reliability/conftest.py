"""The reliability suite's server: one `gql-server serve` process on the suite's database."""

from collections.abc import AsyncIterator

import pytest

from tests.live import LiveServer, processes


@pytest.fixture(scope="package")
async def served(database_url: str) -> AsyncIterator[LiveServer]:
    async with processes(database_url, 1) as (server,):
        yield server
