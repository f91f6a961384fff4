"""A PostgreSQL of a test's own (embedded, in a temporary folder), to stop and start at will.

pgserver runs the server as the `pgserver` system user when we are root; `pg_ctl` is run as
that user too. Used here and by tests/test_subscriptions_restart.py.
"""

import asyncio
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import asyncpg
from pgserver._commands import pg_ctl

from gql_server import embedded


@contextmanager
def own_postgres() -> Iterator[Any]:
    with tempfile.TemporaryDirectory(prefix="gql-test-outage-") as data_dir:
        server = embedded.start(Path(data_dir) / "pgdata")
        try:
            yield server
        finally:
            server.cleanup()


# pg_ctl's own wait, and ours for pg_ctl: a loaded machine may take its time.
PG_CTL_SECONDS = 120


def stop(server: Any) -> None:
    """`pg_ctl stop -m fast`, as pgserver runs it (as user `pgserver` when we are root)."""
    pg_ctl(
        ["-w", "-t", str(PG_CTL_SECONDS), "-m", "fast", "stop"],
        pgdata=server.pgdata,
        user=server.system_user,
        timeout=PG_CTL_SECONDS + 10,
    )


def restart(server: Any) -> None:
    """`pg_ctl restart -m fast`: the clients' connections end, the server is back at once."""
    pg_ctl(
        ["-w", "-t", str(PG_CTL_SECONDS), "-m", "fast", "-l", str(server.log), "restart"],
        pgdata=server.pgdata,
        user=server.system_user,
        timeout=PG_CTL_SECONDS + 10,
    )


async def start_and_time(server: Any) -> float:
    """Start the stopped server; the moment it first accepted a connection (monotonic clock),
    found by trying every 5 ms while `pg_ctl start` runs (it only looks every 100 ms)."""
    uri = server.get_uri()
    starting = asyncio.create_task(asyncio.to_thread(server.ensure_postgres_running))
    accepted: float | None = None
    while accepted is None:
        try:
            connection = await asyncpg.connect(uri, timeout=2)
        except (OSError, asyncpg.PostgresError):
            if starting.done():
                starting.result()  # pg_ctl's failure, if it failed
            await asyncio.sleep(0.005)
            continue
        accepted = time.monotonic()
        await connection.close()
    await starting
    return accepted
