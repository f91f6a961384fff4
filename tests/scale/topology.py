"""What `pytest --scale=KIND` (`make test-scale`) runs the suites on, started for the run.

- `pooler`: PgBouncer in transaction mode in front of a PostgreSQL 15; the server and the
  tests' own engines connect through it (`GQL_TRANSACTION_POOLER`), LISTEN straight to the
  database (`GQL_DIRECT_DATABASE_URL`).
- `replica`: a primary and its streaming replica (`pg_basebackup -R`); the server reads from the
  replica (`GQL_REPLICA_URLS`). The replica is synchronous with `remote_apply`, so the suites'
  own writes (factories) are visible to the reads that follow them, as they are on one server;
  tests/scale/test_replica.py pauses its replay where a test needs a replica behind.

The suites then run unchanged: `tests/conftest.py` takes the maintenance URL (`admin_url`) for
the databases it creates, `served` for the URL everything else uses, and `environment` for the
settings every server (in this process or not) reads.
"""

import asyncio
import tempfile
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.dialects.postgresql.asyncpg import PGDialect_asyncpg
from sqlalchemy.engine import make_url

from tests.scale import servers

KINDS = ("pooler", "replica")


@dataclass
class Topology:
    kind: str
    admin_url: str  # the maintenance database, directly: where tests create their databases
    served: Callable[[str], str]  # a database's direct URL -> the URL the suites use
    environment: Callable[[str], dict[str, str]]  # the suite database's direct URL -> GQL_*
    servers: dict[str, Any] = field(default_factory=dict)


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


@contextmanager
def start(kind: str) -> Iterator[Topology]:
    with ExitStack() as stack:
        root = servers.shared_root(
            Path(stack.enter_context(tempfile.TemporaryDirectory(prefix=f"gql-scale-{kind}-")))
        )
        topologies = {"pooler": pooler, "replica": replica}
        yield stack.enter_context(topologies[kind](root))
