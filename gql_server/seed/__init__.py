"""Seed data: the deterministic demo (`gql-server seed`) and the benchmark set (`--scale N`).

Both are deterministic: ids are `uuid5` of fixed keys, randomness comes from seeded generators and
timestamps from a fixed epoch, so two fresh databases seeded alike hold identical rows. Both load
with one bulk INSERT per table and organization (see `bulk`), and both only fill an empty database:
seeding again raises `AlreadySeeded` (the CLI's `--if-empty` skips instead).
"""

import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from gql_server.organizations import every_organization
from gql_server.seed import demo
from gql_server.seed.bulk import AlreadySeeded, load
from gql_server.seed.scale import ScalePlan

__all__ = ["AlreadySeeded", "ScalePlan", "SeedSummary", "is_empty", "seed_demo", "seed_scale"]


@dataclass(frozen=True)
class SeedSummary:
    counts: Mapping[str, int] = field(hash=False)  # rows inserted per table, parents first
    seconds: float

    def __str__(self) -> str:
        tables = ", ".join(f"{count:,} {table}" for table, count in self.counts.items())
        return f"seeded {tables} in {self.seconds:.1f} s"


async def is_empty(engine: AsyncEngine) -> bool:
    """No organization exists (whatever the login role may see through row-level security)."""
    async with every_organization(engine) as connection:
        found = await connection.scalar(text("select exists (select from organizations)"))
    return not found


async def seed_demo(engine: AsyncEngine) -> SeedSummary:
    started = time.perf_counter()
    await _refuse_unless_empty(engine)
    counts = await load(engine, demo.organizations(), demo.tenants())
    return SeedSummary(dict(counts), time.perf_counter() - started)


async def seed_scale(engine: AsyncEngine, scale: float) -> SeedSummary:
    """The benchmark set; `ScalePlan` documents how its counts follow `scale`."""
    started = time.perf_counter()
    plan = ScalePlan.for_scale(scale)
    await _refuse_unless_empty(engine)
    counts = await load(engine, plan.organization_rows(), plan.tenants())
    return SeedSummary(dict(counts), time.perf_counter() - started)


async def _refuse_unless_empty(engine: AsyncEngine) -> None:
    if not await is_empty(engine):
        raise AlreadySeeded(
            "database already seeded (it has organizations): seed fills an empty database only;"
            " `seed --if-empty` skips quietly, `gql-server reset` starts the embedded one over"
        )
