"""The bench database: the `--scale N` dataset, migrated and seeded once, then reused.

Without `DATABASE_URL` an embedded PostgreSQL runs in `.data/bench-postgres`, one database per
scale (`bench_scale_0_2`, ...), so switching scales never reseeds. With `DATABASE_URL` that
database is used as it is: seeded when empty, refused when it holds anything but this dataset.
"""

import asyncio
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID, uuid5

import asyncpg

from gql_server import embedded
from gql_server.database import to_libpq
from gql_server.seed.rows import NAMESPACE
from gql_server.seed.scale import ScalePlan

ROOT = Path(__file__).resolve().parent.parent
CLI = Path(sys.executable).with_name("gql-server")


class DatabaseError(Exception):
    """The bench database cannot be prepared; the message says why and what to do."""


@dataclass(frozen=True, slots=True)
class BenchDatabase:
    url: str  # libpq-style URL; every process of the bench gets it as DATABASE_URL
    server_version: str
    seeded_now: bool
    handle: Any = None  # the embedded server: it stops when the last process holding it exits


def database_name(scale: float) -> str:
    return "bench_scale_" + re.sub(r"[^0-9a-z]", "_", f"{scale:g}".lower())


def gql_server(*args: str, url: str, timeout: float = 3600) -> str:
    """Run the product's CLI against `url`; its output, or DatabaseError with its complaint."""
    env = {**os.environ, "DATABASE_URL": url, "GQL_LOG_LEVEL": "warning"}
    done = subprocess.run(
        [str(CLI), *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )
    if done.returncode != 0:
        raise DatabaseError(f"gql-server {' '.join(args)} failed:\n{done.stderr.strip()}")
    return done.stdout.strip()


def prepare(scale: float, data_dir: Path, external_url: str | None) -> BenchDatabase:
    plan = ScalePlan.for_scale(scale)
    handle = None
    if external_url:
        # Any form README accepts (postgresql+asyncpg://... too): asyncpg takes libpq's only.
        url = to_libpq(external_url)
    else:
        handle = embedded.start(data_dir)
        url = asyncio.run(_ensure_database(handle, database_name(scale), plan))
    gql_server("migrate", url=url)
    seeded_now = False
    state = asyncio.run(_dataset_state(url, plan))
    if state != "ready":
        if state == "other" and external_url:
            raise DatabaseError(
                "DATABASE_URL's database holds data other than the --scale"
                f" {scale:g} dataset; point it at an empty database or one seeded with"
                f" `gql-server seed --scale {scale:g}`"
            )
        if state == "other":  # an interrupted seed: start this scale's database afresh
            url = asyncio.run(_ensure_database(handle, database_name(scale), plan, fresh=True))
            gql_server("migrate", url=url)
        print(f"seeding --scale {scale:g} (once; later runs reuse it) ...", flush=True)
        print(gql_server("seed", "--scale", f"{scale:g}", url=url), flush=True)
        seeded_now = True
    version = asyncio.run(_server_version(url))
    return BenchDatabase(url, version, seeded_now, handle)


async def _ensure_database(handle: Any, name: str, plan: ScalePlan, *, fresh: bool = False) -> str:
    connection = await asyncpg.connect(handle.get_uri("postgres"))
    try:
        exists = await connection.fetchval("select 1 from pg_database where datname = $1", name)
        if exists and fresh:
            await connection.execute(f'drop database "{name}" with (force)')
            exists = None
        if not exists:
            await connection.execute(f'create database "{name}"')
    finally:
        await connection.close()
    return str(handle.get_uri(name))


def organization_id(slug: str) -> UUID:
    return uuid5(NAMESPACE, f"organizations/{slug}")


async def _dataset_state(url: str, plan: ScalePlan) -> str:
    """ "ready" (exactly this scale's organizations and contents), "empty", or "other"."""
    slugs = [f"scale-{number:03d}" for number in range(1, plan.organizations + 2)]
    connection = await asyncpg.connect(url)
    try:
        found: list[int | None] = []
        for slug in slugs:
            # Read as each tenant: row-level security is forced even for the tables' owner.
            async with connection.transaction():
                tenant = str(organization_id(slug))
                await connection.execute("select set_config('app.tenant_id', $1, true)", tenant)
                exists = await connection.fetchval(
                    "select 1 from organizations where id = $1::uuid", tenant
                )
                contents = await connection.fetchval(
                    "select count(*) from contents where organization_id = $1::uuid", tenant
                )
            found.append(contents if exists else None)
        any_org = await _any_organization(connection)
    finally:
        await connection.close()
    expected = [plan.contents_per_organization] * plan.organizations + [None]
    if found == expected:
        return "ready"
    return "other" if any_org else "empty"


async def _any_organization(connection: asyncpg.Connection) -> bool:
    superuser = await connection.fetchval(
        "select rolsuper or rolbypassrls from pg_roles where rolname = current_user"
    )
    if not superuser:
        # Forced row-level security hides organizations from their owner too; ask the way
        # `gql-server seed --if-empty` does, in a transaction that is rolled back.
        transaction = connection.transaction()
        await transaction.start()
        try:
            await connection.execute("alter table organizations no force row level security")
            return bool(await connection.fetchval("select exists (select from organizations)"))
        finally:
            await transaction.rollback()
    return bool(await connection.fetchval("select exists (select from organizations)"))


async def _server_version(url: str) -> str:
    connection = await asyncpg.connect(url)
    try:
        return str(await connection.fetchval("show server_version"))
    finally:
        await connection.close()


async def execute_as_tenant(url: str, slug: str, statement: str, *args: Any) -> list[Any]:
    """One statement in a transaction of `slug`'s tenant (bench bookkeeping, not measured)."""
    connection = await asyncpg.connect(url)
    try:
        async with connection.transaction():
            tenant = str(organization_id(slug))
            await connection.execute("select set_config('app.tenant_id', $1, true)", tenant)
            return list(await connection.fetch(statement, *args))
    finally:
        await connection.close()
