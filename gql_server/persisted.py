"""Persisted operations: a hash or id in the request stands for the query text.

Two sources of documents, both optional for a client:
- Automatic persisted queries (APQ), the protocol of Apollo Client and urql: the client sends
  `extensions.persistedQuery.sha256Hash`; when the server does not know the hash it answers
  `PersistedQueryNotFound` (HTTP 200), the client sends the hash with the query once, and the
  hash alone after that. Queries live in a bounded LRU per process and, with `GQL_REDIS_URL`, in
  Redis, so every worker and replica finds what one of them was sent.
- Trusted documents: our own clients' operations, stored with `gql-server trust` (`trusted.py`).
  A client names one by hash (`persistedQuery.sha256Hash`) or id (`documentId`, Relay's `doc_id`).
  With `GQL_TRUSTED_DOCUMENTS_ONLY` they are the only documents the server runs.

A hash identifies a document, not a tenant, and documents are no secret: the stores are global.
"""

import logging
from collections import OrderedDict
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy.ext.asyncio import AsyncEngine

from gql_server.settings import Settings
from gql_server.trusted import TrustedDocuments, document_key, sha256_hex

if TYPE_CHECKING:
    from redis.asyncio import Redis

log = logging.getLogger(__name__)

NOT_FOUND = "PERSISTED_QUERY_NOT_FOUND"
HASH_MISMATCH = "PERSISTED_QUERY_HASH_MISMATCH"
NOT_ALLOWED = "PERSISTED_QUERY_NOT_ALLOWED"
BAD_REQUEST = "BAD_REQUEST"

REDIS_PREFIX = "gql:apq:"
REDIS_TIMEOUT_SECONDS = 1.0


class Refused(Exception):
    """The request names a document the server cannot or will not run; answer with `status`."""

    def __init__(self, status: int, message: str, code: str) -> None:
        super().__init__(message)
        self.status, self.message, self.code = status, message, code


class RecentQueries:
    """Queries by hash, the least recently used dropped first once there are `size` of them."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._queries: OrderedDict[str, str] = OrderedDict()

    def get(self, key: str) -> str | None:
        query = self._queries.get(key)
        if query is not None:
            self._queries.move_to_end(key)
        return query

    def put(self, key: str, query: str) -> None:
        self._queries[key] = query
        self._queries.move_to_end(key)
        while len(self._queries) > self.size:
            self._queries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._queries)


class RedisQueries:
    """APQ queries shared by every process. Redis is a cache here: when it fails, we go without."""

    def __init__(self, client: "Redis", ttl_seconds: int) -> None:
        self.client, self.ttl_seconds = client, ttl_seconds

    @classmethod
    def connect(cls, url: str, ttl_seconds: int) -> "RedisQueries":
        from redis.asyncio import Redis

        client = Redis.from_url(
            url,
            decode_responses=True,
            socket_timeout=REDIS_TIMEOUT_SECONDS,
            socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
        )
        return cls(client, ttl_seconds)

    async def get(self, key: str) -> str | None:
        from redis.exceptions import RedisError

        try:
            query = await self.client.get(REDIS_PREFIX + key)
        except (RedisError, OSError) as error:
            log.warning("persisted queries: Redis unavailable (%s)", error)
            return None
        return query if isinstance(query, str) else None

    async def put(self, key: str, query: str) -> None:
        from redis.exceptions import RedisError

        try:
            await self.client.set(REDIS_PREFIX + key, query, ex=self.ttl_seconds)
        except (RedisError, OSError) as error:
            log.warning("persisted queries: Redis unavailable (%s)", error)

    async def close(self) -> None:
        await self.client.aclose()


class PersistedDocuments:
    """Turns a request's `query`, `extensions.persistedQuery` and `documentId` into query text."""

    def __init__(
        self,
        trusted: TrustedDocuments,
        recent: RecentQueries,
        shared: RedisQueries | None = None,
        *,
        trusted_only: bool = False,
    ) -> None:
        self.trusted, self.recent, self.shared = trusted, recent, shared
        self.trusted_only = trusted_only

    @classmethod
    async def open(cls, settings: Settings, engine: AsyncEngine) -> "PersistedDocuments":
        trusted = TrustedDocuments(engine)
        await trusted.load()
        shared = None
        if settings.redis_url:
            shared = RedisQueries.connect(settings.redis_url, settings.apq_ttl_seconds)
        return cls(
            trusted,
            RecentQueries(settings.apq_cache_size),
            shared,
            trusted_only=settings.trusted_documents_only,
        )

    async def close(self) -> None:
        if self.shared is not None:
            await self.shared.close()

    async def resolve(self, params: Mapping[str, Any]) -> Any:
        """The query to run: `params["query"]` as it is, or the document the request names.

        Raises `Refused`. A `query` that is missing or not a string is left to the caller to
        refuse, unless a persisted document stands in for it.
        """
        query = params.get("query") or None
        key = _requested_key(params, query)
        if key is None:
            if self.trusted_only and isinstance(query, str):
                await self._require_trusted(query, "this query")
            return params.get("query")
        if query is None:
            found = await self._find(key)
            if found is None:
                if self.trusted_only:
                    raise _not_allowed(f"document {key}")
                # Apollo Client and urql look for exactly this message, and retry with the query.
                raise Refused(200, "PersistedQueryNotFound", NOT_FOUND)
            return found
        if not isinstance(query, str):
            raise Refused(400, "`query` must be a string", BAD_REQUEST)
        if sha256_hex(query) == key:
            if self.trusted_only:
                await self._require_trusted(query, f"document {key}")
            else:
                await self._remember(key, query)
            return query
        # A trusted document under an id of its own (Apollo manifests may have them).
        if await self.trusted.find(key) == query:
            return query
        raise Refused(400, "the sha256 of `query` is not the hash sent with it", HASH_MISMATCH)

    async def _find(self, key: str) -> str | None:
        if self.trusted_only:
            return await self.trusted.find(key)
        found = self.trusted.cached(key) or self.recent.get(key)
        if found is None and self.shared is not None:
            found = await self.shared.get(key)
            if found is not None:
                self.recent.put(key, found)
        # Last, the database: documents trusted after this process started.
        return found or await self.trusted.find(key)

    async def _require_trusted(self, query: str, what: str) -> None:
        if not await self.trusted.allows(query):
            raise _not_allowed(what)

    async def _remember(self, key: str, query: str) -> None:
        self.recent.put(key, query)
        if self.shared is not None:
            await self.shared.put(key, query)


def _requested_key(params: Mapping[str, Any], query: object) -> str | None:
    extensions = params.get("extensions")
    if isinstance(extensions, str | bytes):  # GET carries it as JSON in the query string
        try:
            extensions = orjson.loads(extensions)
        except orjson.JSONDecodeError:
            raise Refused(400, "`extensions` is not valid JSON", BAD_REQUEST) from None
    if extensions is not None and not isinstance(extensions, dict):
        raise Refused(400, "`extensions` must be an object", BAD_REQUEST)
    persisted = (extensions or {}).get("persistedQuery")
    if persisted is not None:
        if not isinstance(persisted, dict) or persisted.get("version") != 1:
            raise Refused(400, "`persistedQuery` must be version 1", BAD_REQUEST)
        sha256 = persisted.get("sha256Hash")
        if not isinstance(sha256, str) or not sha256:
            raise Refused(400, "`persistedQuery.sha256Hash` must be a string", BAD_REQUEST)
        return document_key(sha256)
    document_id = params.get("documentId", params.get("doc_id"))
    if document_id is None:
        return None
    if not isinstance(document_id, str) or not document_id:
        raise Refused(400, "`documentId` must be a non-empty string", BAD_REQUEST)
    if query is not None:
        raise Refused(400, "send `documentId` or `query`, not both", BAD_REQUEST)
    return document_key(document_id)


def _not_allowed(what: str) -> Refused:
    message = f"{what} is not a trusted document, and this server runs trusted documents only"
    return Refused(400, message, NOT_ALLOWED)
