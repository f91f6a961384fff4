"""A Citus coordinator with two workers (`make test-scale`, --scale=citus).

The suite's database was distributed by `gql-server distribute`'s code (tests/scale/topology.py):
every tenant table by `organization_id`, co-located, `organizations` a reference table. Each
statement a request sends is a single-shard router query (asserted from `EXPLAIN`), loaders keep
one statement per edge (tests/test_statement_counts.py runs on the cluster too), and the
cross-tenant commands (seed, token) work on the cluster.
"""

import os
import re
import subprocess
from typing import Any

import asyncpg
import orjson
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from bench.capture import capture
from gql_server import citus, migrate
from gql_server.settings import Settings
from models import APP_ROLE
from tests.conftest import CreateDatabase
from tests.live import GQL_SERVER, make_tenant
from tests.scale.topology import Topology

NESTED = (
    "{ contents(first: 10) { edges { node { title author { username profile { bio } }"
    " tags { name } ratingSummary { count average }"
    " comments(first: 3) { edges { node { body author { username } } } } } } } }"
)
DEEP = (
    "{ users(first: 5) { edges { node { username contents(first: 5) { edges { node { title"
    " comments(first: 3) { edges { node { body replies(first: 2) { edges { node { body } } } } } }"
    " } } } } } } }"
)


async def test_every_tenant_table_is_distributed_by_tenant_and_colocated(
    database_url: str,
) -> None:
    engine = create_async_engine(database_url, poolclass=NullPool)
    try:
        async with engine.begin() as connection:
            rows = await connection.execute(
                text(
                    "select table_name::text, citus_table_type, distribution_column, colocation_id"
                    " from citus_tables"
                )
            )
            tables = {row[0]: row[1:] for row in rows}
            again = await citus.distribute(connection)  # idempotent: nothing left to do
    finally:
        await engine.dispose()
    assert again == []
    assert tables["organizations"][0] == "reference"
    distributed = {name: row for name, row in tables.items() if row[0] == "distributed"}
    assert set(distributed) == set(citus.tenant_tables())
    assert {row[1] for row in distributed.values()} == {"organization_id"}
    assert len({row[2] for row in distributed.values()}) == 1  # one co-location group


async def test_each_statement_of_a_request_is_routed_to_one_worker(
    database_url: str, settings: Settings, sessionmaker: Any
) -> None:
    tenant = await make_tenant(sessionmaker)
    headers = {
        "authorization": f"Bearer {tenant.token(settings, tenant.admin)}",
        "content-type": "application/json",
    }
    requests = {
        name: (orjson.dumps({"query": query}), headers)
        for name, query in {"nested": NESTED, "deep": DEEP}.items()
    }
    captured = await capture(database_url, requests)
    url = make_url(database_url).set(drivername="postgresql").render_as_string(False)
    connection = await asyncpg.connect(url)
    routed = 0
    try:
        for name, request in captured.items():
            # (The suite's differential check runs each query the standard way too: its
            # statements are here as well. tests/test_statement_counts.py counts them.)
            selects = [s for s in request.statements if s.sql.lower().startswith("select")]
            for statement in selects:
                async with connection.transaction():
                    await connection.execute(f"set local app.tenant_id = '{tenant.org.id}'")
                    await connection.execute(f"set local role {APP_ROLE}")
                    plan = "\n".join(
                        row[0]
                        for row in await connection.fetch(
                            f"explain {statement.sql}", *statement.parameters
                        )
                    )
                if "Custom Scan (Citus" not in plan:
                    continue  # the set-up function's call, run on the coordinator
                # Every part of the plan on one shard (a subplan over all would say 32).
                tasks = re.findall(r"Task Count: (\d+)", plan)
                assert set(tasks) == {"1"}, f"{name}: {statement.sql}\n{plan}"
                routed += 1
    finally:
        await connection.close()
    assert routed >= 10  # nested's and deep's edges: each one statement on one worker


async def test_seed_and_token_work_across_tenants_on_the_cluster(
    create_database: CreateDatabase, topology: Topology
) -> None:
    url = await create_database()
    engine = create_async_engine(url, poolclass=NullPool)
    await migrate.upgrade(engine)
    await engine.dispose()
    assert topology.prepare is not None
    await topology.prepare(url)
    env = {**os.environ, "DATABASE_URL": url, "GQL_LOG_LEVEL": "warning"}

    def command(*args: str) -> str:
        done = subprocess.run(
            [str(GQL_SERVER), *args], env=env, capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    assert command("distribute").strip() == "already distributed"
    assert "seeded 3 organizations" in command("seed")
    assert command("token", "--org", "acme", "--user", "admin").count(".") == 2
