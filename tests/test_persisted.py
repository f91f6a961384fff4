"""Persisted operations: automatic persisted queries as Apollo Client speaks them, the Redis store,
`gql-server trust` with each manifest format, and trusted-documents-only mode."""

import asyncio
import hashlib
import json
import os
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

import models
from gql_server import trusted
from gql_server.app import create_app
from gql_server.settings import Settings
from gql_server.tenancy import tenant_session
from tests.api import token_for
from tests.factories import make_org, make_user

CLI = Path(sys.executable).with_name("gql-server")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
NOT_FOUND = {
    "errors": [
        {"message": "PersistedQueryNotFound", "extensions": {"code": "PERSISTED_QUERY_NOT_FOUND"}}
    ]
}


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def new_query() -> str:
    """A query no test has sent before, so every test starts from an unknown hash."""
    return f"query Probe{uuid.uuid4().hex} {{ viewer {{ username }} }}"


def apq(sha: str) -> dict[str, Any]:
    return {"persistedQuery": {"version": 1, "sha256Hash": sha}}


@pytest.fixture(scope="module")
async def viewer(sessionmaker: async_sessionmaker[AsyncSession]) -> models.User:
    org = await make_org(sessionmaker)
    async with tenant_session(sessionmaker, org.id) as db:
        return await make_user(db)


@pytest.fixture(scope="module")
def headers(settings: Settings, viewer: models.User) -> dict[str, str]:
    return {"Authorization": f"Bearer {token_for(settings, viewer)}"}


@asynccontextmanager
async def serving(database_url: str, **settings: Any) -> AsyncIterator[httpx.AsyncClient]:
    """An app of its own (its own LRU), with these settings, on the suite's database."""
    app = create_app(Settings(database_url=None, **settings), database_url=database_url)
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://test") as client,
    ):
        yield client


async def post(client: httpx.AsyncClient, headers: dict[str, str], **body: Any) -> httpx.Response:
    return await client.post("/graphql", json=body, headers=headers)


async def get(client: httpx.AsyncClient, headers: dict[str, str], **params: Any) -> httpx.Response:
    encoded = {
        key: value if isinstance(value, str) else json.dumps(value) for key, value in params.items()
    }
    return await client.get("/graphql", params=encoded, headers=headers)


def code(response: httpx.Response) -> str:
    return str(response.json()["errors"][0]["extensions"]["code"])


# Automatic persisted queries


async def test_apq_round_trip_over_post_as_apollo_client_does_it(
    client: httpx.AsyncClient, headers: dict[str, str], viewer: models.User
) -> None:
    query = new_query()
    unknown = await post(client, headers, extensions=apq(sha256(query)))
    assert (unknown.status_code, unknown.json()) == (200, NOT_FOUND)

    registered = await post(client, headers, query=query, extensions=apq(sha256(query)))
    assert registered.status_code == 200
    assert registered.json()["data"] == {"viewer": {"username": viewer.username}}

    by_hash = await post(client, headers, extensions=apq(sha256(query)))
    assert by_hash.status_code == 200
    assert by_hash.json()["data"] == {"viewer": {"username": viewer.username}}


async def test_apq_round_trip_over_get(
    client: httpx.AsyncClient, headers: dict[str, str], viewer: models.User
) -> None:
    query = new_query()
    unknown = await get(client, headers, extensions=apq(sha256(query)))
    assert (unknown.status_code, unknown.json()) == (200, NOT_FOUND)

    registered = await get(client, headers, query=query, extensions=apq(sha256(query)))
    assert registered.json()["data"] == {"viewer": {"username": viewer.username}}

    by_hash = await get(
        client, headers, extensions=apq(sha256(query)), variables={}, operationName=query.split()[1]
    )
    assert by_hash.status_code == 200
    assert by_hash.json()["data"] == {"viewer": {"username": viewer.username}}


async def test_a_persisted_mutation_over_get_is_still_405(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    mutation = (
        f'mutation M{uuid.uuid4().hex} {{ createTag(input: {{name: "x"}}) {{ tag {{ id }} }} }}'
    )
    await post(client, {}, query=mutation, extensions=apq(sha256(mutation)))  # registers it
    response = await get(client, headers, extensions=apq(sha256(mutation)))
    assert response.status_code == 405


async def test_a_hash_that_is_not_the_sha256_of_the_query_is_refused(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    query, other = new_query(), new_query()
    response = await post(client, headers, query=query, extensions=apq(sha256(other)))
    assert response.status_code == 400
    assert code(response) == "PERSISTED_QUERY_HASH_MISMATCH"
    # Nothing was stored under either hash.
    for sha in (sha256(query), sha256(other)):
        assert (await post(client, headers, extensions=apq(sha))).json() == NOT_FOUND


@pytest.mark.parametrize(
    "extensions",
    [
        {"persistedQuery": {"version": 2, "sha256Hash": "0" * 64}},
        {"persistedQuery": {"version": 1}},
        {"persistedQuery": "abc"},
        "not json",
        [1, 2],
    ],
)
async def test_malformed_persisted_query_extensions_are_bad_requests(
    client: httpx.AsyncClient, headers: dict[str, str], extensions: Any
) -> None:
    params = {"extensions": extensions if isinstance(extensions, str) else json.dumps(extensions)}
    response = await client.get("/graphql", params=params, headers=headers)
    assert response.status_code == 400
    assert code(response) == "BAD_REQUEST"


async def test_the_lru_keeps_the_most_recently_used_queries(
    database_url: str, headers: dict[str, str]
) -> None:
    first, second, third = new_query(), new_query(), new_query()
    async with serving(database_url, apq_cache_size=2) as client:
        for query in (first, second):
            await post(client, headers, query=query, extensions=apq(sha256(query)))
        assert "data" in (await post(client, headers, extensions=apq(sha256(first)))).json()
        await post(client, headers, query=third, extensions=apq(sha256(third)))

        # `second` was the least recently used when `third` came.
        assert (await post(client, headers, extensions=apq(sha256(second)))).json() == NOT_FOUND
        for query in (first, third):
            response = await post(client, headers, extensions=apq(sha256(query)))
            assert "data" in response.json(), response.json()


async def redis_reachable() -> bool:
    from redis.asyncio import Redis
    from redis.exceptions import RedisError

    client = Redis.from_url(REDIS_URL, socket_connect_timeout=0.5, socket_timeout=0.5)
    try:
        return bool(await client.ping())
    except (RedisError, OSError):
        return False
    finally:
        await client.aclose()


async def test_redis_shares_queries_between_processes(
    database_url: str, headers: dict[str, str], viewer: models.User
) -> None:
    if not await redis_reachable():
        pytest.skip(f"Redis is not reachable at {REDIS_URL} (it is optional)")
    from redis.asyncio import Redis

    query = new_query()
    async with (
        serving(database_url, redis_url=REDIS_URL, apq_ttl_seconds=600) as first,
        serving(database_url, redis_url=REDIS_URL) as second,
    ):
        assert (await post(second, headers, extensions=apq(sha256(query)))).json() == NOT_FOUND
        await post(first, headers, query=query, extensions=apq(sha256(query)))
        response = await post(second, headers, extensions=apq(sha256(query)))
        assert response.json()["data"] == {"viewer": {"username": viewer.username}}

        redis = Redis.from_url(REDIS_URL)
        try:
            key = f"gql:apq:{sha256(query)}"
            assert 0 < await redis.ttl(key) <= 600
            await redis.delete(key)
        finally:
            await redis.aclose()
        # The Redis hit filled the second app's LRU: it no longer needs Redis for this query.
        response = await post(second, headers, extensions=apq(sha256(query)))
        assert response.json()["data"] == {"viewer": {"username": viewer.username}}


async def test_without_redis_the_lru_still_serves(
    database_url: str, headers: dict[str, str], viewer: models.User
) -> None:
    query = new_query()
    async with serving(database_url, redis_url="redis://127.0.0.1:1/0") as client:
        await post(client, headers, query=query, extensions=apq(sha256(query)))
        response = await post(client, headers, extensions=apq(sha256(query)))
    assert response.json()["data"] == {"viewer": {"username": viewer.username}}


# gql-server trust


async def run_trust(database_url: str, path: Path) -> tuple[int, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("GQL_")}
    env["DATABASE_URL"] = database_url
    process = await asyncio.create_subprocess_exec(
        str(CLI),
        "trust",
        str(path),
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return process.returncode, output.decode()


def write(tmp_path: Path, manifest: object) -> Path:
    path = tmp_path / f"manifest-{uuid.uuid4().hex}.json"
    path.write_text(manifest if isinstance(manifest, str) else json.dumps(manifest))
    return path


async def stored(engine: AsyncEngine, keys: list[str]) -> dict[str, tuple[str, str | None]]:
    async with engine.connect() as connection:
        rows = await connection.execute(
            select(
                models.TrustedDocument.hash,
                models.TrustedDocument.body,
                models.TrustedDocument.name,
            ).where(models.TrustedDocument.hash.in_(keys))
        )
        return {row.hash: (row.body, row.name) for row in rows}


def apollo_manifest(*operations: tuple[str, str]) -> dict[str, Any]:
    return {
        "format": "apollo-persisted-query-manifest",
        "version": 1,
        "operations": [
            {"id": key, "name": body.split()[1], "type": "query", "body": body}
            for key, body in operations
        ],
    }


async def test_trust_an_apollo_manifest(
    database_url: str, engine: AsyncEngine, tmp_path: Path
) -> None:
    hashed, custom = new_query(), new_query()
    custom_id = f"web-{uuid.uuid4().hex[:8]}"
    path = write(tmp_path, apollo_manifest((sha256(hashed), hashed), (custom_id, custom)))

    exit_code, output = await run_trust(database_url, path)
    assert exit_code == 0, output
    assert "2 added, 0 updated, 0 unchanged" in output
    assert "1 ids are not a hash of their document; trusted as given" in output
    assert await stored(engine, [sha256(hashed), custom_id]) == {
        sha256(hashed): (hashed, hashed.split()[1]),
        custom_id: (custom, custom.split()[1]),
    }

    changed = new_query()
    path = write(tmp_path, apollo_manifest((sha256(hashed), hashed), (custom_id, changed)))
    exit_code, output = await run_trust(database_url, path)
    assert exit_code == 0, output
    assert "0 added, 1 updated, 1 unchanged" in output
    assert (await stored(engine, [custom_id]))[custom_id][0] == changed


async def test_trust_a_relay_manifest_with_md5_ids(
    database_url: str, engine: AsyncEngine, tmp_path: Path
) -> None:
    bodies = [new_query(), new_query()]
    ids = [hashlib.md5(body.encode()).hexdigest() for body in bodies]
    exit_code, output = await run_trust(
        database_url, write(tmp_path, dict(zip(ids, bodies, strict=True)))
    )
    assert exit_code == 0, output
    assert "2 added" in output
    assert "not a hash" not in output
    assert {key: body for key, (body, _) in (await stored(engine, ids)).items()} == dict(
        zip(ids, bodies, strict=True)
    )


async def test_trust_a_graphql_codegen_manifest_with_sha256_ids(
    database_url: str, engine: AsyncEngine, tmp_path: Path
) -> None:
    bodies = [new_query(), new_query()]
    manifest = {f"sha256:{sha256(bodies[0])}": bodies[0], sha256(bodies[1]): bodies[1]}
    exit_code, output = await run_trust(database_url, write(tmp_path, manifest))
    assert exit_code == 0, output
    assert "2 added" in output
    rows = await stored(engine, [sha256(body) for body in bodies])
    assert rows == {sha256(body): (body, body.split()[1]) for body in bodies}


async def test_trust_refuses_an_invalid_manifest(
    database_url: str, engine: AsyncEngine, tmp_path: Path
) -> None:
    good, bad = new_query(), new_query()
    manifest = {sha256(good): good, sha256(good)[::-1]: bad}  # the second hash is wrong
    exit_code, output = await run_trust(database_url, write(tmp_path, manifest))
    assert exit_code != 0
    assert "is not the sha256 of its document" in output
    assert await stored(engine, [sha256(good)]) == {}  # all or nothing

    exit_code, output = await run_trust(database_url, tmp_path / "missing.json")
    assert exit_code != 0
    assert "missing.json" in output


@pytest.mark.parametrize(
    ("manifest", "message"),
    [
        ("{", "not JSON"),
        ([], "a manifest is a JSON object"),
        ({}, "no documents"),
        ({"abc": 1}, "expected a hash -> document"),
        ({"abc": "query {"}, "not a GraphQL document"),
        ({"0" * 32: "{ viewer { id } }"}, "is not the md5 of its document"),
        ({"0" * 40: "{ viewer { id } }"}, "is not the sha1 of its document"),
        ({"format": "apollo-persisted-query-manifest", "version": 2}, '"version": 1'),
        ({"format": "apollo-persisted-query-manifest", "version": 1}, '"operations"'),
        (
            {"format": "apollo-persisted-query-manifest", "version": 1, "operations": [{}]},
            'needs a string "id" and "body"',
        ),
        (
            apollo_manifest(
                ("same", "query A { viewer { id } }"), ("same", "query B { viewer { id } }")
            ),
            "names two different documents",
        ),
    ],
)
def test_what_makes_a_manifest_invalid(tmp_path: Path, manifest: object, message: str) -> None:
    with pytest.raises(trusted.ManifestError, match=message):
        trusted.read_manifest(write(tmp_path, manifest))


# Trusted documents only


async def test_trusted_only_runs_trusted_documents_and_nothing_else(
    database_url: str, engine: AsyncEngine, headers: dict[str, str], viewer: models.User
) -> None:
    body, relay_body, untrusted = new_query(), new_query(), new_query()
    relay_id = hashlib.md5(relay_body.encode()).hexdigest()
    await trusted.store(
        engine,
        [
            trusted.Document(sha256(body), body, None),
            trusted.Document(relay_id, relay_body, None),
        ],
    )
    expected = {"viewer": {"username": viewer.username}}
    async with serving(database_url, trusted_documents_only=True) as client:
        # By hash (Apollo), by documentId (GraphQL over HTTP), by doc_id (Relay), or as text.
        for body_params in (
            {"extensions": apq(sha256(body))},
            {"documentId": f"sha256:{sha256(body)}"},
            {"doc_id": relay_id},
            {"query": body},
            {"query": body, "extensions": apq(sha256(body))},
            {"query": relay_body},
        ):
            response = await post(client, headers, **body_params)
            assert response.json().get("data") == expected, (body_params, response.json())
        response = await get(client, headers, documentId=f"sha256:{sha256(body)}")
        assert response.json().get("data") == expected, response.json()

        refused = [
            await post(client, headers, query=untrusted),
            await post(client, headers, extensions=apq(sha256(untrusted))),
            await post(client, headers, query=untrusted, extensions=apq(sha256(untrusted))),
            await post(client, headers, documentId=f"sha256:{sha256(untrusted)}"),
            await post(client, {}, query="{ __schema { queryType { name } } }"),
        ]
        for response in refused:
            assert (response.status_code, code(response)) == (400, "PERSISTED_QUERY_NOT_ALLOWED")
        # Refused text is not registered either.
        response = await post(client, headers, extensions=apq(sha256(untrusted)))
        assert code(response) == "PERSISTED_QUERY_NOT_ALLOWED"


async def test_a_manifest_trusted_while_the_server_runs_serves_its_first_request(
    database_url: str, headers: dict[str, str], viewer: models.User, tmp_path: Path
) -> None:
    body = new_query()
    async with serving(database_url, trusted_documents_only=True) as client:
        exit_code, output = await run_trust(database_url, write(tmp_path, {sha256(body): body}))
        assert exit_code == 0, output
        response = await post(client, headers, documentId=sha256(body))
    assert response.json().get("data") == {"viewer": {"username": viewer.username}}


async def test_document_id_and_query_together_are_a_bad_request(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    query = new_query()
    response = await post(client, headers, query=query, documentId=sha256(query))
    assert response.status_code == 400
    assert code(response) == "BAD_REQUEST"


async def test_trusted_documents_also_run_by_hash_when_not_trusted_only(
    client: httpx.AsyncClient, engine: AsyncEngine, headers: dict[str, str], viewer: models.User
) -> None:
    body = new_query()
    await trusted.store(engine, [trusted.Document(sha256(body), body, None)])
    response = await post(client, headers, documentId=f"sha256:{sha256(body)}")
    assert response.json()["data"] == {"viewer": {"username": viewer.username}}
