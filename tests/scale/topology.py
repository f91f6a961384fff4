"""What `pytest --scale=KIND` (`make test-scale`) runs the suites on, started for the run.

- `pooler`: PgBouncer in transaction mode in front of a PostgreSQL 15; the server and the
  tests' own engines connect through it (`GQL_TRANSACTION_POOLER`), LISTEN straight to the
  database (`GQL_DIRECT_DATABASE_URL`).
- `replica`: a primary and its streaming replica (`pg_basebackup -R`); the server reads from the
  replica (`GQL_REPLICA_URLS`). The replica is synchronous with `remote_apply`, so the suites'
  own writes (factories) are visible to the reads that follow them, as they are on one server;
  tests/scale/test_replica.py pauses its replay where a test needs a replica behind.
- `citus`: a Citus coordinator and two workers (Citus built by `.ci/build-citus`); the suite's
  database is distributed by `gql-server distribute`'s own code once migrated (`prepare`), and
  the server connects to the coordinator.

The suites then run unchanged: `tests/conftest.py` takes the maintenance URL (`admin_url`) for
the databases it creates, `served` for the URL everything else uses, and `environment` for the
settings every server (in this process or not) reads.
"""

import asyncio
import tempfile
from collections.abc import Awaitable, Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy import event
from sqlalchemy.dialects.postgresql.asyncpg import PGDialect_asyncpg
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from gql_server.citus import distribute
from tests.scale import servers

KINDS = ("pooler", "replica", "citus")


@dataclass
class Topology:
    kind: str
    admin_url: str  # the maintenance database, directly: where tests create their databases
    served: Callable[[str], str]  # a database's direct URL -> the URL the suites use
    environment: Callable[[str], dict[str, str]]  # the suite database's direct URL -> GQL_*
    servers: dict[str, Any] = field(default_factory=dict)
    # After the suite's database is migrated (its direct URL): what the kind needs of it.
    prepare: Callable[[str], Awaitable[None]] | None = None


def with_database(url: str, like: str) -> str:
    """`like`, naming the database of `url`."""
    name = make_url(url).database
    return make_url(like).set(database=name).render_as_string(hide_password=False)


def _pooler_safe(_dialect: Any, _record: Any, _cargs: Any, cparams: dict[str, Any]) -> None:
    """Every engine of the tests, like the server's own under GQL_TRANSACTION_POOLER: unnamed
    statements only (see `gql_server.database.connect_args`)."""
    cparams.setdefault("statement_cache_size", 0)
    cparams.setdefault("prepared_statement_cache_size", 0)


@contextmanager
def pooler(root: Path) -> Iterator[Topology]:
    primary = servers.initdb(root / "primary")
    primary.start()
    bouncer = servers.PgBouncer(root / "pgbouncer", primary, servers.free_port())
    event.listen(PGDialect_asyncpg, "do_connect", _pooler_safe)
    try:
        bouncer.start()
        asyncio.run(servers.until_accepting(bouncer.url().replace("+asyncpg", "")))
        yield Topology(
            "pooler",
            admin_url=primary.url(),
            served=lambda url: with_database(url, bouncer.url()),
            environment=lambda url: {
                "GQL_TRANSACTION_POOLER": "true",
                "GQL_DIRECT_DATABASE_URL": url,
            },
            servers={"primary": primary, "pgbouncer": bouncer},
        )
    finally:
        event.remove(PGDialect_asyncpg, "do_connect", _pooler_safe)
        bouncer.stop()
        primary.stop("immediate")


REPLICATION = {
    "wal_level": "replica",
    "max_wal_senders": "10",
    "synchronous_standby_names": "'*'",
    "synchronous_commit": "remote_apply",
}


@contextmanager
def replica(root: Path) -> Iterator[Topology]:
    primary = servers.initdb(root / "primary", REPLICATION)
    primary.start()
    try:
        standby = servers.replica_of(primary, root / "replica")
        standby.start()
        try:
            asyncio.run(servers.until_accepting(standby.url().replace("+asyncpg", "")))
            yield Topology(
                "replica",
                admin_url=primary.url(),
                served=lambda url: url,
                # No database in the URL: each server reads its own database's replica.
                environment=lambda _url: {
                    "GQL_REPLICA_URLS": f"postgresql://postgres@127.0.0.1:{standby.port}",
                    "GQL_REPLICA_CHECK_SECONDS": "0.2",
                },
                servers={"primary": primary, "replica": standby},
            )
        finally:
            standby.stop("immediate")
    finally:
        primary.stop("immediate")


CITUS = {
    "shared_preload_libraries": "'citus'",
    "max_prepared_transactions": "100",  # two-phase commits of writes over several nodes
    "citus.log_remote_commands": "off",
}


@contextmanager
def citus(root: Path) -> Iterator[Topology]:
    libraries = Path(servers.run([servers.PG_BIN / "pg_config", "--pkglibdir"]).strip())
    if not (libraries / "citus.so").exists():
        raise servers.Missing("Citus is not installed: run .ci/build-citus")
    nodes = [servers.initdb(root / name, CITUS) for name in ("coordinator", "worker1", "worker2")]
    started: list[servers.Postgres] = []
    try:
        for node in nodes:
            node.start()
            started.append(node)
        coordinator, *workers = nodes

        async def prepare(url: str) -> None:
            """The database of `url` on every node, the workers added, its tables distributed."""
            name = make_url(url).database
            for worker in workers:
                connection = await asyncpg.connect(worker.libpq())
                try:
                    await connection.execute(f'create database "{name}"')
                finally:
                    await connection.close()
            for node in nodes:
                connection = await asyncpg.connect(node.libpq(str(name)))
                try:
                    await connection.execute("create extension if not exists citus")
                finally:
                    await connection.close()
            connection = await asyncpg.connect(coordinator.libpq(str(name)))
            try:
                await connection.execute(
                    f"select citus_set_coordinator_host('127.0.0.1', {coordinator.port})"
                )
                for worker in workers:
                    await connection.execute(f"select citus_add_node('127.0.0.1', {worker.port})")
            finally:
                await connection.close()
            engine = create_async_engine(url, poolclass=NullPool)
            try:
                async with engine.begin() as connection_:
                    await distribute(connection_)
            finally:
                await engine.dispose()

        yield Topology(
            "citus",
            admin_url=coordinator.url(),
            served=lambda url: url,
            # A write to a tenant table and the outbox (on the coordinator) commits in two
            # phases: bursts of same-tenant mutations queue longer for a pooled connection.
            environment=lambda _url: {"GQL_POOL_TIMEOUT_SECONDS": "30"},
            servers={"coordinator": coordinator, "workers": workers},
            prepare=prepare,
        )
    finally:
        for node in started:
            node.stop("immediate")


@contextmanager
def start(kind: str) -> Iterator[Topology]:
    with ExitStack() as stack:
        root = servers.shared_root(
            Path(stack.enter_context(tempfile.TemporaryDirectory(prefix=f"gql-scale-{kind}-")))
        )
        topologies = {"pooler": pooler, "replica": replica, "citus": citus}
        yield stack.enter_context(topologies[kind](root))
