"""Limits through the real app: each one just under passes, just over is refused with its code.

Most run on the suite's app (the default limits); those that need other settings (a tiny page
size, a tenant's own limits, a short statement timeout, production) start an app of their own.
"""

import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
import pytest
from graphql import Lexer, Source, TokenKind, get_introspection_query
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from starlette.applications import Starlette

import models
from gql_server.app import create_app
from gql_server.settings import Settings
from gql_server.tenancy import tenant_session
from loaders import ByKey
from schema.node import to_global_id
from tests.api import Response, gql, token_for
from tests.factories import make_comment, make_content, make_org, make_user

Sessionmaker = async_sessionmaker[AsyncSession]

HEADLINE = """{
  contents(first: 50, orderBy: CREATED_AT_DESC) {
    edges { node {
      id title
      author { username profile { bio } }
      tags { name }
      ratingSummary { count average }
      comments(first: 10) { edges { node { body author { username } } } }
    } }
    pageInfo { hasNextPage endCursor }
  }
}"""
HUNDRED_BY_HUNDRED = (
    "{ contents(first: 100) { edges { node { comments(first: 100) {"
    " edges { node { body } } } } } } }"
)
LIMIT_CODES = {
    "DEPTH_LIMIT_EXCEEDED",
    "ALIAS_LIMIT_EXCEEDED",
    "ROOT_FIELD_LIMIT_EXCEEDED",
    "DIRECTIVE_LIMIT_EXCEEDED",
    "COST_LIMIT_EXCEEDED",
    "TOKEN_LIMIT_EXCEEDED",
}


@dataclass(frozen=True)
class Tenant:
    org: models.Organization
    admin: models.User
    comment: models.Comment
    token: str


async def make_tenant(sessionmaker: Sessionmaker, settings: Settings) -> Tenant:
    org = await make_org(sessionmaker)
    async with tenant_session(sessionmaker, org.id) as db:
        admin = await make_user(db, role=models.Role.ADMIN)
        content = await make_content(db, author=admin)
        comment = await make_comment(db, content=content, author=admin)
    return Tenant(org, admin, comment, token_for(settings, admin))


@pytest.fixture
async def tenant(sessionmaker: Sessionmaker, settings: Settings) -> Tenant:
    return await make_tenant(sessionmaker, settings)


@asynccontextmanager
async def serve(settings: Settings, database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, database_url=database_url)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


def app_of(client: httpx.AsyncClient) -> Starlette:
    transport = client._transport
    assert isinstance(transport, httpx.ASGITransport)
    app = transport.app
    assert isinstance(app, Starlette)
    return app


@contextmanager
def statements_of(engine: AsyncEngine) -> Iterator[list[str]]:
    seen: list[str] = []

    def listener(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        seen.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", listener)
    try:
        yield seen
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", listener)


def refused_with(response: Response, code: str) -> dict[str, Any]:
    assert response.status == 200, response.body
    assert response.error_codes == [code], response.body
    assert "data" not in response.body  # refused before execution
    extensions: dict[str, Any] = response.body["errors"][0]["extensions"]
    return extensions


def within_limits(response: Response) -> None:
    assert response.status == 200, response.body
    assert not LIMIT_CODES & set(response.error_codes), response.body


def token_count(query: str) -> int:
    lexer, count = Lexer(Source(query)), 0
    while lexer.advance().kind is not TokenKind.EOF:
        count += 1
    return count


# --- depth, aliases, root fields, directives, tokens --------------------------------------------


def parent_chain(comment_id: str, depth: int) -> str:
    """`node` (1) + parents + `id` (1): a query exactly `depth` fields deep."""
    parents = depth - 2
    return (
        f'{{ node(id: "{comment_id}") {{ ... on Comment {{ '
        + "parent { " * parents
        + "id"
        + " }" * parents
        + " } } }"
    )


async def test_depth(client: httpx.AsyncClient, tenant: Tenant) -> None:
    comment_id = to_global_id("Comment", tenant.comment.id)
    under = await gql(client, parent_chain(comment_id, 10), token=tenant.token)
    assert under.data["node"] == {"parent": None}
    over = await gql(client, parent_chain(comment_id, 11), token=tenant.token)
    extensions = refused_with(over, "DEPTH_LIMIT_EXCEEDED")
    assert (extensions["depth"], extensions["limit"]) == (11, 10)


async def test_aliases(client: httpx.AsyncClient, tenant: Tenant) -> None:
    def query(count: int) -> str:
        return "{ viewer { " + " ".join(f"a{i}: id" for i in range(count)) + " } }"

    within_limits(await gql(client, query(30), token=tenant.token))
    extensions = refused_with(
        await gql(client, query(31), token=tenant.token), "ALIAS_LIMIT_EXCEEDED"
    )
    assert (extensions["aliases"], extensions["limit"]) == (31, 30)


async def test_aliases_in_fragments_count_where_they_are_spread(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    fragment = "fragment F on User { " + " ".join(f"a{i}: id" for i in range(16)) + " }"
    twice = "{ viewer { ...F } users(first: 1) { nodes { ...F } } } " + fragment
    response = await gql(client, twice, token=tenant.token)
    assert refused_with(response, "ALIAS_LIMIT_EXCEEDED")["aliases"] == 32


async def test_root_fields(client: httpx.AsyncClient, tenant: Tenant) -> None:
    def query(count: int) -> str:
        return "{ " + " ".join(f"v{i}: viewer {{ id }}" for i in range(count)) + " }"

    under = await gql(client, query(20), token=tenant.token)
    assert len(under.data) == 20
    over = await gql(client, query(21), token=tenant.token)
    extensions = refused_with(over, "ROOT_FIELD_LIMIT_EXCEEDED")
    assert (extensions["rootFields"], extensions["limit"]) == (21, 20)


async def test_directives(client: httpx.AsyncClient, tenant: Tenant) -> None:
    def query(count: int) -> str:
        return "{ viewer { " + " ".join(["id @include(if: true)"] * count) + " } }"

    under = await gql(client, query(50), token=tenant.token)
    assert under.data["viewer"]["id"]
    over = await gql(client, query(51), token=tenant.token)
    extensions = refused_with(over, "DIRECTIVE_LIMIT_EXCEEDED")
    assert (extensions["directives"], extensions["limit"]) == (51, 50)


def tokens_query(tokens: int) -> str:
    def query(statuses: int) -> str:
        listed = " ".join(["ARCHIVED"] * statuses)
        return f"{{ contents(first: 1, filter: {{status: [{listed}]}}) {{ nodes {{ id }} }} }}"

    fixed = token_count(query(0))
    built = query(tokens - fixed)
    assert token_count(built) == tokens
    return built


async def test_tokens(client: httpx.AsyncClient, tenant: Tenant) -> None:
    under = await gql(client, tokens_query(5_000), token=tenant.token)
    assert under.data == {"contents": {"nodes": []}}
    over = await gql(client, tokens_query(5_001), token=tenant.token)
    refused_with(over, "TOKEN_LIMIT_EXCEEDED")


async def test_comments_have_a_budget_of_their_own(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    commented = "{ viewer { id } }\n" + "#\n" * 5_001
    refused_with(await gql(client, commented, token=tenant.token), "TOKEN_LIMIT_EXCEEDED")


# --- cost -----------------------------------------------------------------------------------------


async def test_the_headline_query_is_accepted_and_reports_its_cost(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    response = await gql(client, HEADLINE, token=tenant.token)
    assert response.data["contents"]["edges"]
    assert response.body["extensions"]["cost"] == 3_350


async def test_a_hundred_by_a_hundred_is_priced_as_what_it_returns_and_runs_no_sql(
    client: httpx.AsyncClient, app: Starlette, tenant: Tenant
) -> None:
    with statements_of(app.state.engine) as statements:
        response = await gql(client, HUNDRED_BY_HUNDRED, token=tenant.token)
    extensions = refused_with(response, "COST_LIMIT_EXCEEDED")
    assert extensions["cost"] >= 100 * 100
    assert extensions["limit"] == 10_000
    assert statements == []
    assert "extensions" not in response.body  # no sqlStatements: nothing ran


async def test_a_document_that_does_not_match_the_schema_runs_no_sql(
    client: httpx.AsyncClient, app: Starlette, tenant: Tenant
) -> None:
    with statements_of(app.state.engine) as statements:
        response = await gql(client, "{ viewer { password } }", token=tenant.token)
    assert response.error_codes == ["GRAPHQL_VALIDATION_FAILED"]
    assert "password" in response.body["errors"][0]["message"]
    assert statements == []


async def test_cost_follows_fragments(client: httpx.AsyncClient, tenant: Tenant) -> None:
    inline = "{ contents(first: 100) { edges { node { ... on Content { comments(first: 100) { edges { node { body } } } } } } } }"  # noqa: E501
    named = (
        "{ contents(first: 100) { ...Page } }"
        " fragment Page on ContentConnection { edges { node { ...Discussion } } }"
        " fragment Discussion on Content { comments(first: 100) { edges { node { body } } } }"
    )
    costs = set()
    for query in (HUNDRED_BY_HUNDRED, inline, named):
        response = await gql(client, query, token=tenant.token)
        costs.add(refused_with(response, "COST_LIMIT_EXCEEDED")["cost"])
    assert len(costs) == 1


async def test_cost_honours_variables(client: httpx.AsyncClient, tenant: Tenant) -> None:
    query = (
        "query Page($n: Int!, $m: Int = 100) { contents(first: $n) { edges { node {"
        " comments(first: $m) { edges { node { body } } } } } } }"
    )
    small = await gql(client, query, {"n": 10, "m": 10}, token=tenant.token)
    assert small.data["contents"]["edges"]
    assert small.body["extensions"]["cost"] == 10 * (1 + 1 + 1 + 10 * 3)
    large = await gql(client, query, {"n": 100, "m": 100}, token=tenant.token)
    assert refused_with(large, "COST_LIMIT_EXCEEDED")["cost"] >= 10_000
    default = await gql(client, query, {"n": 100}, token=tenant.token)  # $m defaults to 100
    assert refused_with(default, "COST_LIMIT_EXCEEDED")["cost"] >= 10_000


def objects_in(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + sum(objects_in(item) for item in value.values())
    if isinstance(value, list):
        return sum(objects_in(item) for item in value)
    return 0


async def test_introspection_is_priced_at_exactly_what_it_returns(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    anonymous = await client.post("/graphql", json={"query": get_introspection_query()})
    assert anonymous.status_code == 200
    assert "errors" not in anonymous.json()
    signed_in = await gql(client, get_introspection_query(), token=tenant.token)
    assert signed_in.data["__schema"]["queryType"]["name"] == "Query"
    # Every object of the answer but the answer's own `data`.
    assert signed_in.body["extensions"]["cost"] == objects_in(signed_in.data) - 1


async def test_aliases_and_depth_inside_introspection_count(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    many = " ".join(f"t{i}: types {{ name }}" for i in range(31))
    refused_with(await client_post(client, f"{{ __schema {{ {many} }} }}"), "ALIAS_LIMIT_EXCEEDED")
    # Each `types` list is as long as the schema's: 30 of them are priced at what they return.
    thirty = " ".join(f"t{i}: types {{ fields {{ name }} }}" for i in range(30))
    costly = await client_post(client, f"{{ __schema {{ {thirty} }} }}")
    assert refused_with(costly, "COST_LIMIT_EXCEEDED")["cost"] == 10_001  # counted to the limit
    # A type reference's `ofType` chain is one level, as a client reads `[Tag!]!`.
    chain = "ofType { " * 8 + "name" + " }" * 8
    reference = f'{{ __type(name: "Content") {{ fields {{ type {{ {chain} }} }} }} }}'
    within_limits(await gql(client, reference, token=tenant.token))


async def client_post(client: httpx.AsyncClient, query: str) -> Response:
    response = await client.post("/graphql", json={"query": query})
    return Response(response.status_code, response.json())


async def test_introspection_cycles_are_bounded(client: httpx.AsyncClient) -> None:
    deep = "{ __schema { types { fields { type { fields { type { fields { name } } } } } } } }"
    body = (await client.post("/graphql", json={"query": deep})).json()
    assert body["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert "introspection" in body["errors"][0]["message"].lower()


# --- HTTP: batches, body size ---------------------------------------------------------------------


async def post_json(client: httpx.AsyncClient, body: Any, token: str) -> httpx.Response:
    return await client.post(
        "/graphql",
        content=orjson.dumps(body),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )


async def test_batches(client: httpx.AsyncClient, tenant: Tenant) -> None:
    batch = [{"query": f"query Q{i} {{ viewer {{ id }} }}"} for i in range(10)]
    response = await post_json(client, batch, tenant.token)
    assert response.status_code == 200
    answers = response.json()
    assert len(answers) == 10
    # Each operation has its own transaction: each answer counts its own statements.
    assert all(answer["data"]["viewer"]["id"] for answer in answers)
    assert all(answer["extensions"]["sqlStatements"] >= 1 for answer in answers)

    over = await post_json(client, [*batch, batch[0]], tenant.token)
    assert over.status_code == 400
    assert over.json()["errors"][0]["extensions"] == {"code": "BATCH_LIMIT_EXCEEDED", "limit": 10}
    for malformed in ([], [batch[0], "{ viewer { id } }"]):
        response = await post_json(client, malformed, tenant.token)
        assert response.status_code == 400
        assert response.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"


async def test_a_batch_answers_each_operation_on_its_own(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    batch = [
        {"query": "{ viewer { id } }"},
        {"query": HUNDRED_BY_HUNDRED},
        {"query": "{ viewer {"},
        {"variables": {}},  # no query
    ]
    answers = (await post_json(client, batch, tenant.token)).json()
    codes = [answer.get("errors", [{}])[0].get("extensions", {}).get("code") for answer in answers]
    assert codes == [None, "COST_LIMIT_EXCEEDED", "GRAPHQL_PARSE_FAILED", "BAD_REQUEST"]
    assert answers[0]["data"]["viewer"]["id"]


def body_of_size(size: int) -> bytes:
    body = orjson.dumps({"query": "{ viewer { id } }"})
    padding = size - len(body)
    # Whitespace in the query is no token: only the size of the body changes.
    return orjson.dumps({"query": "{ viewer { id } }" + " " * padding})


async def test_body_size(client: httpx.AsyncClient, tenant: Tenant) -> None:
    headers = {"Authorization": f"Bearer {tenant.token}", "Content-Type": "application/json"}
    limit = 1_048_576
    under = await client.post("/graphql", content=body_of_size(limit), headers=headers)
    assert len(body_of_size(limit)) == limit
    assert under.status_code == 200
    assert under.json()["data"]["viewer"]["id"]

    over = await client.post("/graphql", content=body_of_size(limit + 1), headers=headers)
    assert over.status_code == 413
    assert over.json()["errors"][0]["extensions"] == {"code": "PAYLOAD_TOO_LARGE", "limit": limit}


async def test_a_body_without_content_length_is_counted_as_it_arrives(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    sent: list[int] = []

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"query": "{ viewer { id } }'
        for _ in range(100):
            sent.append(1)
            yield b" " * 65_536
        yield b'"}'

    headers = {"Authorization": f"Bearer {tenant.token}", "Content-Type": "application/json"}
    response = await client.post("/graphql", content=chunks(), headers=headers)
    assert response.status_code == 413
    assert "content-length" not in response.request.headers
    assert len(sent) <= 17  # refused after 1 MiB, not after all 6.5 MB


async def test_a_declared_length_over_the_limit_is_refused_before_reading(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    read: list[int] = []

    async def chunks() -> AsyncIterator[bytes]:
        read.append(1)
        yield b"{}"

    headers = {
        "Authorization": f"Bearer {tenant.token}",
        "Content-Type": "application/json",
        "Content-Length": "2000000",
    }
    response = await client.post("/graphql", content=chunks(), headers=headers)
    assert response.status_code == 413
    assert read == []


# --- per app settings: page size, tenants' own limits ---------------------------------------------


async def test_limits_follow_the_settings(
    database_url: str, sessionmaker: Sessionmaker, settings: Settings
) -> None:
    tight = Settings(database_url=None, max_page_size=7, max_cost=100, max_depth=4)
    tenant = await make_tenant(sessionmaker, tight)
    comment_id = to_global_id("Comment", tenant.comment.id)
    async with serve(tight, database_url) as client:
        query = "query($n: Int) { contents(first: $n) { nodes { id } } }"
        seven = await gql(client, query, {"n": 7}, token=tenant.token)
        assert seven.data["contents"]["nodes"]
        eight = await gql(client, query, {"n": 8}, token=tenant.token)
        assert eight.error_codes == ["BAD_USER_INPUT"]  # the page size, not the cost, is refused
        assert eight.body["errors"][0]["extensions"]["maximum"] == 7
        deep = parent_chain(comment_id, 5)
        assert refused_with(await gql(client, deep, token=tenant.token), "DEPTH_LIMIT_EXCEEDED")
        costly = "{ contents(first: 7) { nodes { tags { id } } } }"  # 7 x (1 + 1 + 20)
        assert refused_with(await gql(client, costly, token=tenant.token), "COST_LIMIT_EXCEEDED")


async def test_a_tenant_may_have_limits_of_its_own(
    database_url: str,
    sessionmaker: Sessionmaker,
    settings: Settings,
    caplog: pytest.LogCaptureFixture,
) -> None:
    generous = await make_tenant(sessionmaker, settings)
    strict = await make_tenant(sessionmaker, settings)
    ordinary = await make_tenant(sessionmaker, settings)
    by_slug_and_id = Settings(
        database_url=None,
        tenant_limits={
            generous.org.slug: {"max_cost": 50_000, "max_depth": 15},
            str(strict.org.id): {"max_depth": 3},
            "no-such-organization": {"max_cost": 1},
        },
    )
    with caplog.at_level(logging.WARNING, logger="gql_server.tenant_limits"):
        async with serve(by_slug_and_id, database_url) as client:
            accepted = await gql(client, HUNDRED_BY_HUNDRED, token=generous.token)
            assert accepted.body["extensions"]["cost"] >= 10_000
            assert accepted.data["contents"]["edges"]
            refused = await gql(client, HUNDRED_BY_HUNDRED, token=ordinary.token)
            assert refused_with(refused, "COST_LIMIT_EXCEEDED")["limit"] == 10_000

            # 4 levels: a connection's `nodes` is no level of its own.
            deep = (
                "{ viewer { profile { bio } } contents { nodes { author { profile { bio } } } } }"
            )
            within_limits(await gql(client, deep, token=ordinary.token))
            extensions = refused_with(
                await gql(client, deep, token=strict.token), "DEPTH_LIMIT_EXCEEDED"
            )
            assert (extensions["depth"], extensions["limit"]) == (4, 3)
    assert "no-such-organization" in caplog.text


def test_tenant_limits_refuse_unknown_settings() -> None:
    with pytest.raises(ValueError, match="max_cots"):
        Settings(tenant_limits={"acme": {"max_cots": 5}})


# --- statement timeout ----------------------------------------------------------------------------


async def test_a_statement_timeout_is_a_timeout_and_the_pool_stays_healthy(
    database_url: str, sessionmaker: Sessionmaker, engine: AsyncEngine, settings: Settings
) -> None:
    # On the primary, where the lock below is taken (a replica's reads do not wait for it).
    impatient = Settings(database_url=None, statement_timeout_ms=100, replica_urls=[])
    tenant = await make_tenant(sessionmaker, impatient)
    query = "{ tags(first: 1) { nodes { name } } }"
    async with serve(impatient, database_url) as client:
        app = app_of(client)
        # A lock the query must wait for: the wait counts against statement_timeout.
        async with engine.connect() as blocker:
            await blocker.execute(text("lock table tags in access exclusive mode"))
            slow = await gql(client, query, token=tenant.token)
            await blocker.rollback()
        assert slow.error_codes == ["TIMEOUT"]
        error = slow.body["errors"][0]
        assert error["message"] == "the request took longer than its time limit (100 ms)"
        assert "select" not in orjson.dumps(slow.body).decode().lower()

        pool = app.state.engine.pool
        assert pool.checkedout() == 0
        after = await gql(client, query, token=tenant.token)
        assert after.data == {"tags": {"nodes": []}}
        assert pool.checkedout() == 0


# --- production: masking, suggestions, introspection ----------------------------------------------

PRODUCTION = Settings(
    database_url=None,
    environment="production",
    jwt_secret="a-production-secret-of-more-than-32-characters",
    introspection=False,
)


@pytest.fixture(scope="module")
async def production(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with serve(PRODUCTION, database_url) as client:
        yield client


async def test_production_masks_unexpected_errors(
    production: httpx.AsyncClient,
    sessionmaker: Sessionmaker,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    tenant = await make_tenant(sessionmaker, PRODUCTION)

    async def broken(*_args: object) -> None:
        raise RuntimeError("boom: select secret_column from users where password = 'x'")

    # A bug in a loader: both execution paths load through it.
    monkeypatch.setattr(ByKey, "batch_load_fn", broken)
    with caplog.at_level(logging.ERROR, logger="gql_server.errors"):
        response = await gql(production, "{ viewer { id } }", token=tenant.token)
    assert response.status == 200
    (error,) = response.body["errors"]
    assert error["message"] == "internal server error"
    assert error["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
    raw = orjson.dumps(response.body).decode()
    for leak in ("secret_column", "Traceback", "RuntimeError", "select"):
        assert leak not in raw
    assert "secret_column" in caplog.text  # the whole error is in the log


async def test_production_hides_suggestions(
    production: httpx.AsyncClient, client: httpx.AsyncClient, sessionmaker: Sessionmaker
) -> None:
    tenant = await make_tenant(sessionmaker, PRODUCTION)
    typo = "{ viewer { usernam } }"
    development = await gql(client, typo, token=token_for(Settings(), tenant.admin))
    assert "Did you mean" in development.body["errors"][0]["message"]
    response = await gql(production, typo, token=tenant.token)
    assert response.body["errors"][0]["message"] == "Cannot query field 'usernam' on type 'User'."
    assert "extensions" not in response.body or "cost" not in response.body["extensions"]


async def test_production_can_refuse_introspection_to_everyone(
    production: httpx.AsyncClient, sessionmaker: Sessionmaker
) -> None:
    tenant = await make_tenant(sessionmaker, PRODUCTION)
    query = "{ __schema { queryType { name } } }"
    signed_in = await gql(production, query, token=tenant.token)
    assert set(signed_in.error_codes) == {"GRAPHQL_VALIDATION_FAILED"}
    assert "data" not in signed_in.body
    assert "introspection" in signed_in.body["errors"][0]["message"].lower()
    anonymous = await gql(production, query)
    assert anonymous.status == 401
    typename = await gql(production, "{ __typename viewer { id } }", token=tenant.token)
    assert typename.data["__typename"] == "Query"
    assert "extensions" not in typename.body  # no cost, no SQL counts in production


# --- what a client really asks for ------------------------------------------------------------

RELAY_SCREEN = """
query ContentScreen($first: Int = 10) {
  contents(first: $first) {
    edges { cursor node { ...ContentCard } }
    pageInfo { hasNextPage endCursor }
  }
}
fragment ContentCard on Content {
  id title author { username profile { bio } } tags { name }
  comments(first: 5) {
    edges { node {
      id body author { username }
      replies(first: 3) {
        edges { node { id body author { username profile { bio } } } }
        pageInfo { hasNextPage }
      }
    } }
    pageInfo { hasNextPage endCursor }
  }
}
"""


async def test_a_relay_screen_passes_the_default_limits(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    """contents > comments > replies > author > profile: 6 levels as the client reads them (the
    connections' `edges { node }` wrappers are none), though 15 fields deep."""
    response = await gql(client, RELAY_SCREEN, token=tenant.token)
    assert response.data["contents"]["edges"]
    assert response.body["extensions"]["cost"] < 10_000


async def test_nodes_is_priced_by_its_ids(client: httpx.AsyncClient, tenant: Tenant) -> None:
    query = (
        "query ($ids: [ID!]!) { nodes(ids: $ids) {"
        " ... on Comment { replies(first: 100) { nodes { id } } } } }"
    )
    one = [to_global_id("Comment", tenant.comment.id)]
    within_limits(await gql(client, query, {"ids": one}, token=tenant.token))
    refused = refused_with(
        await gql(client, query, {"ids": one * 100}, token=tenant.token), "COST_LIMIT_EXCEEDED"
    )
    assert refused["cost"] == 100 * (1 + 100 * 2)  # 100 times what one id costs
