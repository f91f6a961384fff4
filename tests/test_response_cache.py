"""The response cache: hits, exact invalidation by committed writes (per tenant, across
processes), visibility classes, HTTP caching of GET, and what is never kept."""

import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any
from uuid import uuid4

import httpx
import pytest
from graphql import OperationDefinitionNode, parse
from prometheus_client import REGISTRY
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from starlette.applications import Starlette

import models
from gql_server.app import create_app
from gql_server.outbox import Written
from gql_server.response_cache import MemoryStore, ResponseCache
from gql_server.settings import Settings
from gql_server.tenancy import tenant_session
from loaders.tables import statement_tables
from schema.cache_control import DEFAULT_MAX_AGE, FIELD_HINTS, TYPE_HINTS, response_hint
from schema.events import Position
from schema.root import schema
from tests.api import Response, gql, token_for
from tests.factories import make_content, make_user
from tests.live import LiveServer, Tenant, free_socket, make_tenant, processes
from tests.waiting import Deadline, until

Sessionmaker = async_sessionmaker[AsyncSession]

CONTENTS = "{ contents(first: 50) { nodes { title status } } }"
TAGS = "{ tags(first: 50) { nodes { name } } }"
CREATE_TAG = "mutation ($name: String!) { createTag(input: {name: $name}) { tag { name } } }"


def counted(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels or None) or 0.0


@pytest.fixture(scope="module")
async def cached_app(database_url: str) -> AsyncIterator[Starlette]:
    """An app of this module's own, with the response cache on (the suite's is off)."""
    app = create_app(Settings(database_url=None), database_url=database_url)
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture(scope="module")
async def client(cached_app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=cached_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


@pytest.fixture
def settle(cached_app: Starlette, engine: AsyncEngine) -> Callable[[], Awaitable[None]]:
    """Wait until the app's listener has heard of every write committed so far: the test's own
    set-up writes (announced too) then drop nothing the test caches afterwards."""

    async def settled() -> None:
        async with engine.connect() as connection:
            last = (
                await connection.execute(
                    text("select txid, id from events order by txid desc, id desc limit 1")
                )
            ).first()
        if last is not None:
            listener = cached_app.state.events.listener
            await until(lambda: listener.position >= Position(last.txid, last.id), "settled")

    return settled


@pytest.fixture
async def tenant(sessionmaker: Sessionmaker, settle: Callable[[], Awaitable[None]]) -> Tenant:
    made = await make_tenant(sessionmaker)
    await settle()
    return made


async def test_a_second_identical_query_is_a_hit_without_sql(
    client: httpx.AsyncClient, settings: Settings, tenant: Tenant
) -> None:
    token = token_for(settings, tenant.admin)
    hits, misses = (
        counted("gql_response_cache_hits_total"),
        counted("gql_response_cache_misses_total"),
    )
    first = await gql(client, CONTENTS, token=token)
    assert first.statements > 0
    second = await gql(client, CONTENTS, token=token)
    assert second.data == first.data
    assert second.statements == 0
    assert counted("gql_response_cache_misses_total") == misses + 1
    assert counted("gql_response_cache_hits_total") == hits + 1
    paged = "query ($n: Int) { contents(first: $n) { nodes { title } } }"
    one = await gql(client, paged, {"n": 1}, token=token)
    two = await gql(client, paged, {"n": 2}, token=token)  # other variables: another entry
    assert (one.statements > 0, two.statements > 0) == (True, True)
    assert len(two.data["contents"]["nodes"]) == 2


async def test_a_mutation_drops_exactly_the_tables_it_wrote_of_its_tenant(
    client: httpx.AsyncClient,
    settings: Settings,
    sessionmaker: Sessionmaker,
    settle: Callable[[], Awaitable[None]],
) -> None:
    mine, other = await make_tenant(sessionmaker), await make_tenant(sessionmaker)
    await settle()
    token, other_token = token_for(settings, mine.admin), token_for(settings, other.admin)
    for query, who in ((TAGS, token), (CONTENTS, token), (TAGS, other_token)):
        await gql(client, query, token=who)
        assert (await gql(client, query, token=who)).statements == 0

    created = await gql(client, CREATE_TAG, {"name": f"t-{uuid4().hex[:8]}"}, token=token)
    name = created.data["createTag"]["tag"]["name"]

    tags = await gql(client, TAGS, token=token)
    assert tags.statements > 0  # dropped at the commit: the writer reads its own write
    assert name in [tag["name"] for tag in tags.data["tags"]["nodes"]]
    assert (await gql(client, CONTENTS, token=token)).statements == 0  # contents: untouched
    assert (await gql(client, TAGS, token=other_token)).statements == 0  # another tenant


async def test_a_student_never_gets_an_admins_or_another_students_answer(
    client: httpx.AsyncClient,
    settings: Settings,
    sessionmaker: Sessionmaker,
    settle: Callable[[], Awaitable[None]],
) -> None:
    tenant = await make_tenant(sessionmaker)
    async with tenant_session(sessionmaker, tenant.org.id) as db:
        student2 = await make_user(db, role=models.Role.STUDENT)
        admin2 = await make_user(db, role=models.Role.ADMIN)
        own_draft = await make_content(db, author=tenant.student, status=models.ContentStatus.DRAFT)
    await settle()
    admin, student = token_for(settings, tenant.admin), token_for(settings, tenant.student)
    other_student, other_admin = token_for(settings, student2), token_for(settings, admin2)

    def titles(response: Response) -> set[str]:
        return {node["title"] for node in response.data["contents"]["nodes"]}

    by_admin = await gql(client, CONTENTS, token=admin)
    assert {tenant.draft.title, own_draft.title} <= titles(by_admin)
    by_student = await gql(client, CONTENTS, token=student)
    assert by_student.statements > 0
    assert tenant.draft.title not in titles(by_student)
    assert own_draft.title in titles(by_student)
    assert (await gql(client, CONTENTS, token=student)).statements == 0  # its own entry
    by_other = await gql(client, CONTENTS, token=other_student)
    assert by_other.statements > 0
    assert own_draft.title not in titles(by_other)
    # Admins share what reads nothing of who asks (once who they are is known).
    assert (await gql(client, TAGS, token=other_admin)).statements > 0
    shared = await gql(client, CONTENTS, token=other_admin)
    assert (shared.statements, shared.data) == (0, by_admin.data)

    emails = "{ users(first: 50) { nodes { username email } } }"
    for user, token in ((tenant.student, student), (student2, other_student)):
        rows = (await gql(client, emails, token=token)).data["users"]["nodes"]
        shown = {row["username"]: row["email"] for row in rows if row["email"] is not None}
        assert shown == {user.username: user.email}
    viewer = "{ viewer { username email } }"
    assert (await gql(client, viewer, token=admin)).data["viewer"]["username"] == (
        tenant.admin.username
    )
    mine = await gql(client, viewer, token=other_admin)
    assert mine.data["viewer"] == {"username": admin2.username, "email": admin2.email}


async def test_answers_with_errors_and_mutations_are_never_kept(
    client: httpx.AsyncClient, settings: Settings, tenant: Tenant
) -> None:
    token = token_for(settings, tenant.admin)
    too_many = "{ contents(first: 5000) { nodes { title } } }"
    stores = counted("gql_response_cache_stores_total")
    for _ in range(2):
        refused = await gql(client, too_many, token=token)
        assert refused.error_codes == ["BAD_USER_INPUT"]
    name = f"m-{uuid4().hex[:8]}"
    first = await gql(client, CREATE_TAG, {"name": name}, token=token)
    again = await gql(client, CREATE_TAG, {"name": name}, token=token)
    assert first.data["createTag"]["tag"] == {"name": name}
    assert again.data["createTag"]["tag"] is None  # ran again: the name is taken now
    assert counted("gql_response_cache_stores_total") == stores


async def get(client: httpx.AsyncClient, token: str, query: str, **headers: str) -> httpx.Response:
    sha = hashlib.sha256(query.encode()).hexdigest()
    extensions = json.dumps({"persistedQuery": {"version": 1, "sha256Hash": sha}})
    return await client.get(
        "/graphql",
        params={"extensions": extensions},
        headers={"Authorization": f"Bearer {token}", **headers},
    )


async def test_get_persisted_queries_answer_with_etag_and_304(
    client: httpx.AsyncClient, settings: Settings, tenant: Tenant
) -> None:
    token = token_for(settings, tenant.admin)
    query = "query Tags { tags(first: 10) { nodes { name } } }  # " + uuid4().hex
    registered = await client.post(
        "/graphql",
        json={
            "query": query,
            "extensions": {
                "persistedQuery": {
                    "version": 1,
                    "sha256Hash": hashlib.sha256(query.encode()).hexdigest(),
                }
            },
        },
        headers={"Authorization": f"Bearer {token}"},
    )
    assert "errors" not in registered.json()
    first = await get(client, token, query)
    assert first.status_code == 200
    assert first.headers["cache-control"] == f"private, max-age={DEFAULT_MAX_AGE}"
    assert "Authorization" in first.headers["vary"]
    etag = first.headers["etag"]
    same = await get(client, token, query, **{"If-None-Match": etag})
    assert (same.status_code, same.content, same.headers["etag"]) == (304, b"", etag)
    other = await get(client, token, query, **{"If-None-Match": 'W/"something-else"'})
    assert (other.status_code, other.json()["data"]) == (200, first.json()["data"])

    await gql(client, CREATE_TAG, {"name": f"e-{uuid4().hex[:8]}"}, token=token)
    changed = await get(client, token, query, **{"If-None-Match": etag})
    assert changed.status_code == 200
    assert changed.headers["etag"] != etag

    viewer = "{ viewer { username } }"
    own = await client.get(
        "/graphql", params={"query": viewer}, headers={"Authorization": f"Bearer {token}"}
    )
    assert own.headers["cache-control"] == f"private, max-age={DEFAULT_MAX_AGE}"
    bad = await client.get(
        "/graphql",
        params={"query": "{ contents(first: 5000) { nodes { title } } }"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert bad.headers["cache-control"] == "no-store"
    assert "etag" not in bad.headers


async def test_an_answer_read_before_a_write_is_not_stored_after_it() -> None:
    cache, tenant = ResponseCache(MemoryStore(1 << 20)), uuid4()
    before = await cache.answer(tenant, "k")
    await cache.written(Written(tenant, frozenset({"tags"})))  # committed meanwhile
    await cache.remember_answer("k", b"{}", frozenset({"tags"}), before.generations, 60)
    assert (await cache.answer(tenant, "k")).data is None
    fresh = await cache.answer(tenant, "k")
    await cache.remember_answer("k", b"{}", frozenset({"tags"}), fresh.generations, 60)
    assert (await cache.answer(tenant, "k")).data == b"{}"
    await cache.written(Written(uuid4(), frozenset({"tags"})))  # another tenant's write
    assert (await cache.answer(tenant, "k")).data == b"{}"


def test_tables_of_statements() -> None:
    read, written = statement_tables(
        'SELECT comments.body FROM comments JOIN "users" AS users_1'
        " ON users_1.id = comments.author_id"
        " WHERE comments.content_id IN (SELECT contents.id FROM contents)"
    )
    assert (read, written) == ({"comments", "users", "contents"}, frozenset())
    _, deleted = statement_tables("DELETE FROM tags WHERE tags.id = $1")
    assert deleted == {"tags", "content_tags"}  # the link rows cascade
    _, updated = statement_tables("UPDATE contents SET deleted_at=now()")
    assert {"contents", "content_deletions", "comments", "ratings"} <= updated


def test_every_hint_names_a_type_or_field_of_the_schema() -> None:
    types = schema._schema.type_map
    assert set(TYPE_HINTS) <= set(types)
    for type_name, field in FIELD_HINTS:
        assert field in types[type_name].fields  # type: ignore[union-attr]


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A throwaway Redis of this module's own (`redis-server`: `.ci/install-scale`)."""
    binary = shutil.which("redis-server")
    if binary is None:
        if os.environ.get("CI") == "true":
            pytest.fail("redis-server is missing: .ci/install-scale installs it")
        pytest.skip("redis-server is not installed")
    with free_socket() as sock:
        port = sock.getsockname()[1]
    folder = tmp_path_factory.mktemp("redis")
    server = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", str(folder)],
        stdout=subprocess.DEVNULL,
    )
    try:
        ping = [shutil.which("redis-cli") or "redis-cli", "-p", str(port), "ping"]
        deadline = Deadline("redis-server answering")
        while deadline.running():
            if subprocess.run(ping, capture_output=True, check=False).stdout.strip() == b"PONG":
                break
        else:
            raise deadline.missed()
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        server.terminate()
        server.wait(10)


@asynccontextmanager
async def redis_apps(database_url: str, url: str) -> AsyncIterator[list[httpx.AsyncClient]]:
    clients = []
    async with AsyncExitStack() as stack:
        for _ in range(2):
            app = create_app(
                Settings(database_url=None, response_cache_redis_url=url),
                database_url=database_url,
            )
            await stack.enter_async_context(app.router.lifespan_context(app))
            transport = httpx.ASGITransport(app=app)
            clients.append(
                await stack.enter_async_context(
                    httpx.AsyncClient(transport=transport, base_url="http://test")
                )
            )
        yield clients


async def test_redis_is_one_cache_for_every_process(
    database_url: str, settings: Settings, tenant: Tenant, redis_url: str
) -> None:
    token = token_for(settings, tenant.admin)
    async with redis_apps(database_url, redis_url) as (first, second):
        await gql(first, TAGS, token=token)
        assert (await gql(second, TAGS, token=token)).statements == 0
        await gql(second, CREATE_TAG, {"name": f"r-{uuid4().hex[:8]}"}, token=token)
        assert (await gql(first, TAGS, token=token)).statements > 0  # bumped in Redis at commit


async def _query(
    server: LiveServer, query: str, token: str, variables: dict[str, Any] | None = None
) -> Response:
    async with httpx.AsyncClient(base_url=server.http_url, timeout=30) as http:
        return await gql(http, query, variables, token=token)


async def _cached(server: LiveServer, query: str, token: str) -> None:
    """Ask until the answer comes from the cache: the set-up's own writes may still be on their
    way through the outbox, and drop what was kept before they arrive."""
    deadline = Deadline(f"{query} answered from the cache")
    while deadline.running():
        await _query(server, query, token)
        if (await _query(server, query, token)).statements == 0:
            return
    raise deadline.missed()


async def test_writes_reach_the_cache_of_every_process(
    database_url: str, settings: Settings, sessionmaker: Sessionmaker
) -> None:
    mine, other = await make_tenant(sessionmaker), await make_tenant(sessionmaker)
    token, other_token = token_for(settings, mine.admin), token_for(settings, other.admin)
    async with processes(database_url, 2) as (writer, reader):
        for query, who in ((TAGS, token), (CONTENTS, token), (TAGS, other_token)):
            await _cached(reader, query, who)
        created = await _query(writer, CREATE_TAG, token, {"name": "x"})
        assert "errors" not in created.body, created.body

        deadline = Deadline("the reader's cache dropping the tags it read")
        while deadline.running():
            tags = await _query(reader, TAGS, token)
            if "x" in [tag["name"] for tag in tags.data["tags"]["nodes"]]:
                break
            assert tags.statements == 0  # still the cached answer, until the outbox says
        else:
            raise deadline.missed()
        assert (await _query(reader, CONTENTS, token)).statements == 0
        assert (await _query(reader, TAGS, other_token)).statements == 0


@pytest.mark.parametrize(
    ("query", "max_age", "per_viewer"),
    [
        ("{ organization { name } }", 300, False),  # its type's hint
        (TAGS, DEFAULT_MAX_AGE, False),  # the root field's default, the least
        ("{ viewer { username } }", DEFAULT_MAX_AGE, True),
        ("{ contents { nodes { viewerRating { score } } } }", DEFAULT_MAX_AGE, True),
        ("query { ...F } fragment F on Query { tags { nodes { name } } }", DEFAULT_MAX_AGE, False),
        ("{ __typename }", DEFAULT_MAX_AGE, False),
        (CREATE_TAG, 0, True),  # a mutation: never
    ],
)
def test_the_hint_of_a_document(query: str, max_age: int, per_viewer: bool) -> None:
    document = parse(query)
    operation = next(d for d in document.definitions if isinstance(d, OperationDefinitionNode))
    hint = response_hint(document, operation)
    assert (hint.max_age, hint.per_viewer) == (max_age, per_viewer or max_age == 0)
