"""Read replicas: where each operation's transaction runs (`GQL_REPLICA_URLS`).

Mutations run on the primary. A query runs on a usable replica (in turn), except:
- read-your-writes: for `GQL_READ_YOUR_WRITES_SECONDS` after a viewer's mutation, that
  viewer's queries run on the primary, so a read right after a write (in the same batch, or the
  next request) sees it. Chosen over waiting for a replica to replay the write's LSN: no wait,
  no extra round trip, and it holds however far a replica lags. It is kept per process: behind
  a load balancer that spreads one client's requests over processes, a replica may still serve
  that client's next read, within the lag bound below;
- when no replica is usable, queries run on the primary.

A replica is usable when its last health check (every `GQL_REPLICA_CHECK_SECONDS`, on a
connection of its pool) answered and its replay lag was at most `GQL_REPLICA_MAX_LAG_SECONDS`.
A query whose replica fails as unavailable (stopped, unreachable) marks it unusable until a check
answers again, and runs once more on the primary: a query has written nothing, so running it
again is safe, and no request is lost to a replica going away.

Metrics: `gql_replica_lag_seconds` and `gql_replica_usable` per replica, and
`gql_reads_routed_total` per target (`primary`, or the replica's host:port).
"""

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from itertools import count
from uuid import UUID

from prometheus_client import Counter, Gauge
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from gql_server import unavailable
from gql_server.database import create_engine, create_sessionmaker, same_database
from gql_server.settings import Settings

log = logging.getLogger(__name__)

PRIMARY = "primary"
# Viewers remembered as recent writers per process; the oldest are forgotten first (their
# window has most likely passed).
RECENT_WRITERS = 100_000
# Seconds since the last replayed transaction, 0 when everything received is replayed (an idle
# primary sends nothing, and its replica is not behind).
_LAG = text(
    "select pg_is_in_recovery() as replica, case"
    " when not pg_is_in_recovery() or pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn()"
    " then 0 else extract(epoch from now() - pg_last_xact_replay_timestamp()) end as lag"
)

REPLICA_LAG = Gauge(
    "gql_replica_lag_seconds",
    "Replay lag of each read replica at its last health check.",
    ["replica"],
    multiprocess_mode="max",
)
REPLICA_USABLE = Gauge(
    "gql_replica_usable",
    "1 when a read replica answered its last health check within the lag bound, else 0.",
    ["replica"],
    multiprocess_mode="min",
)
READS_ROUTED = Counter(
    "gql_reads_routed_total",
    "Read-only operations by where they ran: primary, or a replica's host:port.",
    ["target"],
)


@dataclass(eq=False)
class Replica:
    name: str  # host:port, for metrics and logs
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    usable: bool = False
    lag_seconds: float | None = None


@dataclass(frozen=True, slots=True)
class Target:
    """Where one operation runs."""

    sessionmaker: async_sessionmaker[AsyncSession]
    replica: Replica | None = None

    @property
    def name(self) -> str:
        return PRIMARY if self.replica is None else self.replica.name


@dataclass(eq=False)
class ReadRouting:
    primary: async_sessionmaker[AsyncSession]
    replicas: Sequence[Replica]
    settings: Settings
    _writers: OrderedDict[UUID, float] = field(default_factory=OrderedDict)
    _turn: "count[int]" = field(default_factory=count)
    _checking: asyncio.Task[None] | None = None

    @classmethod
    def of(
        cls, primary: async_sessionmaker[AsyncSession], primary_url: str, settings: Settings
    ) -> "ReadRouting":
        replicas = []
        for given in settings.replica_urls:
            url = same_database(given, primary_url)
            engine = create_engine(url, settings)
            parsed = make_url(url)
            name = f"{parsed.host or 'localhost'}:{parsed.port or 5432}"
            replicas.append(Replica(name, engine, create_sessionmaker(engine)))
        return cls(primary, replicas, settings)

    @property
    def to_primary(self) -> Target:
        return Target(self.primary)

    def for_read(self, viewer_id: UUID | None) -> Target:
        """Where a read-only operation of `viewer_id` runs (see the module's note)."""
        target = self._choose(viewer_id)
        READS_ROUTED.labels(target.name).inc()
        return target

    def _choose(self, viewer_id: UUID | None) -> Target:
        if viewer_id is not None and self._wrote_lately(viewer_id):
            return self.to_primary
        usable = [replica for replica in self.replicas if replica.usable]
        if not usable:
            return self.to_primary
        replica = usable[next(self._turn) % len(usable)]
        return Target(replica.sessionmaker, replica)

    def wrote(self, viewer_id: UUID) -> None:
        """`viewer_id` ran a mutation: its reads go to the primary for a while."""
        self._writers[viewer_id] = time.monotonic()
        self._writers.move_to_end(viewer_id)
        if len(self._writers) > RECENT_WRITERS:
            self._writers.popitem(last=False)

    def _wrote_lately(self, viewer_id: UUID) -> bool:
        wrote_at = self._writers.get(viewer_id)
        return (
            wrote_at is not None
            and time.monotonic() - wrote_at < self.settings.read_your_writes_seconds
        )

    def failed(self, target: Target, error: BaseException) -> None:
        """`target`'s replica could not serve a read: unusable until a check answers again."""
        if target.replica is not None:
            log.warning("replica %s unavailable (%s); reading from the primary", target.name, error)
            self._mark(target.replica, usable=False, lag=None)

    async def start(self) -> None:
        if not self.replicas:
            return
        await self.check()  # usable from the first request on
        self._checking = asyncio.create_task(self._check_forever(), name="gql-replica-checks")

    async def stop(self) -> None:
        if self._checking is not None:
            self._checking.cancel()
            with suppress(asyncio.CancelledError):
                await self._checking
            self._checking = None
        for replica in self.replicas:
            await replica.engine.dispose()

    async def check(self) -> None:
        await asyncio.gather(*(self._check(replica) for replica in self.replicas))

    async def _check(self, replica: Replica) -> None:
        try:
            async with asyncio.timeout(self.settings.replica_check_seconds * 2):
                async with replica.engine.connect() as connection:
                    row = (await connection.execute(_LAG)).one()
        except (TimeoutError, *unavailable.DATABASE_ERRORS, OSError) as error:
            if replica.usable:
                log.warning("replica %s failed its health check (%s)", replica.name, error)
            self._mark(replica, usable=False, lag=None)
            return
        lag = float(row.lag or 0)
        usable = lag <= self.settings.replica_max_lag_seconds
        if replica.usable and not usable:
            log.warning("replica %s lags %.1f s: reading from the others", replica.name, lag)
        self._mark(replica, usable=usable, lag=lag)

    def _mark(self, replica: Replica, *, usable: bool, lag: float | None) -> None:
        replica.usable = usable
        replica.lag_seconds = lag
        REPLICA_USABLE.labels(replica.name).set(1 if usable else 0)
        if lag is not None:
            REPLICA_LAG.labels(replica.name).set(lag)

    async def _check_forever(self) -> None:
        while True:
            await asyncio.sleep(self.settings.replica_check_seconds)
            await self.check()
