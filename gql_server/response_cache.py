"""The response cache: answers of queries, kept per tenant and visibility class, dropped exactly
when a committed transaction writes a table they read.

**Key.** The schema (a deploy with another schema shares nothing), the tenant, the viewer's
visibility class (`schema.policy.visibility_class`: admins share an answer that reads nothing
viewer-dependent; everyone else has their own), the document's sha256, the operation's name and
the variables. Who the viewer is (active? which role?) is itself a cached fact, keyed by tenant
and user and read from `users`, so a hit sends no SQL at all.

**Invalidation.** Per tenant and table. Each (tenant, table) has a generation; an entry keeps the
generations of the tables its answer read (`loaders.tables`), and is good only while they are
all unchanged. Every transaction that writes announces its tables in the outbox
(`gql_server.tenancy`); each process's listener bumps their generations (`written`), and the
process that committed bumps them at once as well, so its client reads its own write. A write of
tenant A bumps A's generations only.

**The race.** The generations an entry is stored with are those read *before* its answer's
transaction began. A write that commits after that snapshot bumps them, whether its bump comes
before the entry is stored or after: either way the entry is never good.

**Stores.** In-process (the default): a bounded LRU of `GQL_RESPONSE_CACHE_MAX_BYTES`, entries
expiring after the answer's max-age. Redis (`GQL_RESPONSE_CACHE_REDIS_URL`): one cache for every
process, the generations kept there too (a bump is seen by all at once); when Redis fails the
server goes on without a cache.
"""

import hashlib
import itertools
import logging
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol
from uuid import UUID

import orjson

from gql_server import __version__
from gql_server.metrics import (
    RESPONSE_CACHE_EVICTIONS,
    RESPONSE_CACHE_HITS,
    RESPONSE_CACHE_INVALIDATIONS,
    RESPONSE_CACHE_MISSES,
    RESPONSE_CACHE_STORES,
)
from gql_server.outbox import Written
from gql_server.settings import Settings
from loaders.tables import DATA_TABLES
from models import Role, User
from schema import schema
from schema.execution import Operation

if TYPE_CHECKING:
    from redis.asyncio import Redis

log = logging.getLogger(__name__)

Generations = dict[str, str]  # table -> its generation in one tenant
_TABLES = tuple(sorted(DATA_TABLES))
_VIEWER_TABLES = frozenset({User.__tablename__})
# Long enough for a token's life; a role change is a write to `users` and drops it anyway.
VIEWER_MAX_AGE_SECONDS = 3600
REDIS_PREFIX = "gql:rc:"
REDIS_TIMEOUT_SECONDS = 1.0


@dataclass(frozen=True, slots=True)
class Entry:
    data: bytes  # the answer's `data`, as JSON
    generations: tuple[tuple[str, str], ...]  # of the tables it read, when it was read

    def good(self, now: Generations) -> bool:
        return all(now.get(table) == generation for table, generation in self.generations)

    def encode(self) -> bytes:
        return orjson.dumps(self.generations) + b"\n" + self.data

    @classmethod
    def decode(cls, raw: bytes) -> "Entry":
        generations, _, data = raw.partition(b"\n")
        pairs = tuple((table, generation) for table, generation in orjson.loads(generations))
        return cls(data, pairs)


class Store(Protocol):
    async def get(self, tenant: UUID, key: str) -> tuple[Entry | None, Generations]:
        """The entry (None when there is none) and the tenant's generations now."""

    async def put(self, key: str, entry: Entry, max_age: int) -> None: ...

    async def bump(self, tenant: UUID, tables: frozenset[str]) -> None: ...

    async def close(self) -> None: ...


class MemoryStore:
    """This process's cache: LRU by bytes, entries expiring after their max-age."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.size = 0
        self._entries: OrderedDict[str, tuple[Entry, float]] = OrderedDict()
        self._generations: dict[UUID, Generations] = {}
        self._next = itertools.count(1)

    async def get(self, tenant: UUID, key: str) -> tuple[Entry | None, Generations]:
        generations = self._generations.get(tenant)
        if generations is None:
            generations = self._generations[tenant] = dict.fromkeys(_TABLES, "0")
        found = self._entries.get(key)
        if found is None:
            return None, dict(generations)
        entry, expires = found
        if expires <= time.monotonic():
            self._remove(key)
            return None, dict(generations)
        self._entries.move_to_end(key)
        return entry, dict(generations)

    async def put(self, key: str, entry: Entry, max_age: int) -> None:
        cost = len(entry.data) + len(key)
        if cost > self.max_bytes // 16:
            return  # one answer may not push out a sixteenth of the cache
        self._remove(key)
        self._entries[key] = (entry, time.monotonic() + max_age)
        self.size += cost
        while self.size > self.max_bytes:
            oldest = next(iter(self._entries))
            self._remove(oldest)
            RESPONSE_CACHE_EVICTIONS.inc()

    async def bump(self, tenant: UUID, tables: frozenset[str]) -> None:
        generations = self._generations.setdefault(tenant, dict.fromkeys(_TABLES, "0"))
        for table in tables:
            generations[table] = str(next(self._next))

    async def close(self) -> None:
        self._entries.clear()

    def _remove(self, key: str) -> None:
        found = self._entries.pop(key, None)
        if found is not None:
            self.size -= len(found[0].data) + len(key)


class RedisStore:
    """One cache for every process. A generation is a random token, set when first asked for:
    one Redis lost (or evicted) can only differ from what an entry was stored with, never
    bring an older generation back."""

    def __init__(self, client: "Redis") -> None:
        self.client = client

    @classmethod
    def connect(cls, url: str) -> "RedisStore":
        from redis.asyncio import Redis

        return cls(
            Redis.from_url(
                url,
                socket_timeout=REDIS_TIMEOUT_SECONDS,
                socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
            )
        )

    @staticmethod
    def _generation_keys(tenant: UUID) -> list[str]:
        return [f"{REDIS_PREFIX}g:{tenant}:{table}" for table in _TABLES]

    async def get(self, tenant: UUID, key: str) -> tuple[Entry | None, Generations]:
        keys = self._generation_keys(tenant)
        raw, *found = await self.client.mget([REDIS_PREFIX + key, *keys])
        missing = [name for name, value in zip(keys, found, strict=True) if value is None]
        if missing:
            async with self.client.pipeline(transaction=False) as pipeline:
                for name in missing:
                    pipeline.set(name, uuid.uuid4().hex, nx=True)
                pipeline.mget(keys)
                *_, found = await pipeline.execute()
        generations = {
            table: _text(value) for table, value in zip(_TABLES, found, strict=True) if value
        }
        return (None if raw is None else Entry.decode(_bytes(raw))), generations

    async def put(self, key: str, entry: Entry, max_age: int) -> None:
        await self.client.set(REDIS_PREFIX + key, entry.encode(), ex=max_age)

    async def bump(self, tenant: UUID, tables: frozenset[str]) -> None:
        async with self.client.pipeline(transaction=False) as pipeline:
            for table in tables:
                pipeline.set(f"{REDIS_PREFIX}g:{tenant}:{table}", uuid.uuid4().hex)
            await pipeline.execute()

    async def close(self) -> None:
        await self.client.aclose()


@dataclass(frozen=True, slots=True)
class Lookup:
    """A lookup's outcome: the answer's data if it was kept, and the generations to store a new
    answer with (read before its transaction begins)."""

    data: bytes | None
    generations: Generations


class ResponseCache:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._schema_version = hashlib.sha256(
            f"{__version__}\n{schema.as_str()}".encode()
        ).hexdigest()[:16]

    @classmethod
    def of(cls, settings: Settings) -> "ResponseCache | None":
        if not settings.response_cache:
            return None
        if settings.response_cache_redis_url:
            return cls(RedisStore.connect(settings.response_cache_redis_url))
        return cls(MemoryStore(settings.response_cache_max_bytes))

    def response_key(self, tenant: UUID, visibility: str, operation: Operation) -> str:
        return self._key(
            "r",
            tenant,
            visibility,
            hashlib.sha256(operation.text.encode()).hexdigest(),
            operation.name,
            operation.variables or {},
        )

    def viewer_key(self, tenant: UUID, user_id: UUID) -> str:
        return self._key("v", tenant, str(user_id))

    def _key(self, kind: str, tenant: UUID, *parts: Any) -> str:
        raw = orjson.dumps([self._schema_version, *parts], option=orjson.OPT_SORT_KEYS)
        return f"{kind}:{tenant}:{hashlib.sha256(raw).hexdigest()}"

    async def viewer_role(self, tenant: UUID, user_id: UUID) -> tuple[Role | None, Generations]:
        """The viewer's role as last read (an active user), and the tenant's generations now."""
        found = await self._get(tenant, self.viewer_key(tenant, user_id))
        return (None if found.data is None else Role(found.data.decode())), found.generations

    async def remember_viewer(
        self, tenant: UUID, user_id: UUID, role: Role, generations: Generations
    ) -> None:
        entry = _entry(role.value.encode(), _VIEWER_TABLES, generations)
        await self._put(self.viewer_key(tenant, user_id), entry, VIEWER_MAX_AGE_SECONDS)

    async def answer(self, tenant: UUID, key: str) -> Lookup:
        found = await self._get(tenant, key)
        (RESPONSE_CACHE_MISSES if found.data is None else RESPONSE_CACHE_HITS).inc()
        return found

    def missed(self) -> None:
        RESPONSE_CACHE_MISSES.inc()

    async def remember_answer(
        self,
        key: str,
        data: bytes,
        tables: frozenset[str],
        generations: Generations,
        max_age: int,
    ) -> None:
        await self._put(key, _entry(data, tables, generations), max_age)
        RESPONSE_CACHE_STORES.inc()

    async def written(self, written: Written, *, source: str = "outbox") -> None:
        """Tables of a tenant were written (and committed): drop what read them."""
        tables = written.tables & DATA_TABLES
        if not tables:
            return
        try:
            await self.store.bump(written.org, tables)
        except _store_errors() as error:
            log.warning("response cache: invalidation failed (%s)", error)
            return
        RESPONSE_CACHE_INVALIDATIONS.labels(source).inc(len(tables))

    async def close(self) -> None:
        await self.store.close()

    async def _get(self, tenant: UUID, key: str) -> Lookup:
        try:
            entry, generations = await self.store.get(tenant, key)
        except _store_errors() as error:
            log.warning("response cache: unavailable (%s)", error)
            return Lookup(None, {})
        if entry is None or not entry.good(generations):
            return Lookup(None, generations)
        return Lookup(entry.data, generations)

    async def _put(self, key: str, entry: Entry, max_age: int) -> None:
        try:
            await self.store.put(key, entry, max_age)
        except _store_errors() as error:
            log.warning("response cache: unavailable (%s)", error)


def _entry(data: bytes, tables: frozenset[str], generations: Generations) -> Entry:
    """An entry good while `tables` keep the `generations` read before its answer was."""
    return Entry(data, tuple((table, generations.get(table, "")) for table in sorted(tables)))


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _bytes(value: bytes | str) -> bytes:
    return value if isinstance(value, bytes) else value.encode()


def _store_errors() -> tuple[type[BaseException], ...]:
    try:
        from redis.exceptions import RedisError
    except ImportError:  # the redis extra is not installed: only the in-process store runs
        return (OSError,)
    return (RedisError, OSError)
