"""The outbox as a server process reads it: every tenant's events in delivery order, and pruning.

**Order.** An event's id comes from a sequence when it is written, not when its transaction
commits: a slow transaction can commit id 7 after a quick one committed id 8, so a reader that
delivered 8 and then asks for `id > 8` never sees 7. Events are therefore ordered by their
transaction's id first (`txid`, `pg_current_xact_id()`), then by id, and read only below the
oldest transaction still in flight (`pg_snapshot_xmin` of the reading statement's snapshot).
Every transaction that may still commit has a txid at or above that mark, so nothing can later
appear before what was read: a reader that remembers the last position it delivered, and asks
for what follows, gets every committed event exactly once, and every reader (each process, each
resuming subscriber) the same sequence. A transaction's events stay together, in the order it
wrote them; one transaction's events come before another's when it started writing first, which
for two changes of one row is the order they committed in. The price: an event committed while
an older writing transaction is still open waits for that one to finish (at most the statement
timeout, for the server's own transactions); `gql_outbox_lag_seconds` shows it.

**Across tenants.** The listener reads every tenant's events, and the events table is under
row-level security like every tenant table. It reads through `outbox_after()` and prunes through
`prune_events()` (migration 0004): SECURITY DEFINER functions owned by the `gql_outbox` role,
the one role a policy lets see every tenant's events. That role cannot log in and is nobody's
member; the functions return ids and kinds only, and only the migrating role may call them, so
a request (which runs as `gql_app`) still sees its own tenant and nothing else.
"""

from dataclasses import dataclass
from uuid import UUID

import asyncpg

from schema.events import Event, EventKind, Position


@dataclass(frozen=True, slots=True)
class Written:
    """A committed transaction wrote these tables of one tenant (for the response caches)."""

    org: UUID
    tables: frozenset[str]


@dataclass(frozen=True, slots=True)
class Read:
    events: list[Event]  # subscriptions' events, in delivery order, ready to deliver
    ages: list[float]  # seconds since each was written
    writes: list[Written]  # the `tables_written` rows among them
    last: Position | None  # of the last row ready, whatever its kind
    waiting: bool  # a later event waits for an older transaction still in flight
    full: bool  # `max_rows` rows came back: there may be more


async def start(connection: asyncpg.Connection) -> Position:
    """The position before every event not committed yet: where a new listener starts."""
    txid = await connection.fetchval("select pg_snapshot_xmin(pg_current_snapshot())::text::bigint")
    return Position(txid, 0)


async def read_after(connection: asyncpg.Connection, after: Position, max_rows: int) -> Read:
    rows = await connection.fetch(
        "select * from outbox_after($1, $2, $3)", after.txid, after.id, max_rows
    )
    ready = [row for row in rows if row["ready"]]
    writes = [row for row in ready if row["kind"] == EventKind.TABLES_WRITTEN]
    events = [row for row in ready if row["kind"] != EventKind.TABLES_WRITTEN]
    return Read(
        [
            Event.stored(
                row["organization_id"],
                row["kind"],
                row["subject_id"],
                row["content_id"],
                row["change"],
                Position(row["txid"], row["id"]),
            )
            for row in events
        ],
        [row["age_seconds"] for row in events],
        [Written(row["organization_id"], frozenset(row["tables"])) for row in writes],
        Position(ready[-1]["txid"], ready[-1]["id"]) if ready else None,
        waiting=len(ready) < len(rows),
        full=len(rows) == max_rows,
    )


async def prune(connection: asyncpg.Connection, retention_seconds: float, batch: int) -> int:
    """Delete events older than the retention, `batch` rows per transaction; how many went.

    Small transactions that delete the oldest rows only: writers (which only insert) never wait
    for them, and another process pruning at the same moment simply skips its turn.
    """
    pruned = 0
    while True:
        count: int = await connection.fetchval(
            "select prune_events(clock_timestamp() - make_interval(secs => $1), $2)",
            float(retention_seconds),
            batch,
        )
        pruned += count
        if count < batch:
            return pruned
