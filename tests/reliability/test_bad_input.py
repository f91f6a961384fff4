"""Hostile and broken requests to a `gql-server serve` process: each is answered with a 4xx or a
GraphQL error carrying its documented code, and the server goes on serving."""

import base64
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gql_server.settings import Settings
from schema.node import to_global_id
from tests.live import LiveServer
from tests.reliability.world import World, make_world

JSON = "application/json"
VIEWER = "{ viewer { username } }"
CONTENT = "<a published content of the tenant>"
PAGE = "query ($n: Int) { contents(first: $n) { edges { cursor } } }"


@dataclass(frozen=True)
class Case:
    status: int
    code: str
    body: bytes = b""
    content_type: str = JSON
    method: str = "POST"
    params: dict[str, str] = field(default_factory=dict)


def post(query: str, variables: dict[str, Any] | None = None, **expected: Any) -> Case:
    return Case(body=orjson.dumps({"query": query, "variables": variables}), **expected)


def nested(field_name: str, depth: int) -> str:
    return f"{field_name} {{ " * depth + "id" + " }" * depth


def global_id(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


CASES: dict[str, Case] = {
    "invalid JSON": Case(400, "BAD_REQUEST", b'{"query": "{ viewer { id } }"'),
    "wrong content type": Case(
        415, "BAD_REQUEST", orjson.dumps({"query": VIEWER}), content_type="text/plain"
    ),
    "form content type": Case(
        415,
        "BAD_REQUEST",
        b"query=%7B+viewer+%7D",
        content_type="application/x-www-form-urlencoded",
    ),
    "empty body": Case(400, "BAD_REQUEST"),
    "JSON that is no object": Case(400, "BAD_REQUEST", b'"{ viewer { id } }"'),
    "no query": Case(400, "BAD_REQUEST", b'{"variables": {}}'),
    "query that is no string": Case(400, "BAD_REQUEST", b'{"query": 42}'),
    "variables that are no object": Case(
        400, "BAD_REQUEST", b'{"query": "{ viewer { id } }", "variables": [1]}'
    ),
    # A GraphQL answer, 200 when the client accepts application/json (GraphQL over HTTP).
    "unparsable document": post("{ viewer { ", status=200, code="GRAPHQL_PARSE_FAILED"),
    "10 MB body": Case(
        413,
        "PAYLOAD_TOO_LARGE",
        orjson.dumps({"query": VIEWER, "variables": {"x": "a" * 10_000_000}}),
    ),
    "depth 50": post(
        '{ node(id: "x") { ... on Comment { ' + nested("parent", 50) + " } } }",
        status=200,
        code="DEPTH_LIMIT_EXCEEDED",
    ),
    "1,000 aliases": post(
        "{ viewer { " + " ".join(f"a{n}: id" for n in range(1000)) + " } }",
        status=200,
        code="ALIAS_LIMIT_EXCEEDED",
    ),
    "fragment cycle": post(
        "{ viewer { ...A } } fragment A on User { id ...B } fragment B on User { id ...A }",
        status=200,
        code="GRAPHQL_VALIDATION_FAILED",
    ),
    "fragment spreading itself": post(
        "{ viewer { ...A } } fragment A on User { id profile { bio } ...A }",
        status=200,
        code="GRAPHQL_VALIDATION_FAILED",
    ),
    "unknown field": post("{ viewer { nope } }", status=200, code="GRAPHQL_VALIDATION_FAILED"),
    "unknown argument": post(
        "{ contents(size: 3) { edges { cursor } } }", status=200, code="GRAPHQL_VALIDATION_FAILED"
    ),
    "string for an Int variable": post(PAGE, {"n": "ten"}, status=200, code="BAD_USER_INPUT"),
    "object for an Int variable": post(PAGE, {"n": {"$gt": 1}}, status=200, code="BAD_USER_INPUT"),
    "float for an Int variable": post(PAGE, {"n": 1.5}, status=200, code="BAD_USER_INPUT"),
    "huge integer literal": post(
        "{ contents(first: 99999999999999999999) { edges { cursor } } }",
        status=200,
        code="BAD_USER_INPUT",
    ),
    "huge integer variable": Case(
        200,
        "BAD_USER_INPUT",
        b'{"query": "' + PAGE.encode() + b'", "variables": {"n": 99999999999999999999}}',
    ),
    "page size over the limit": post(PAGE, {"n": 2_000_000_000}, status=200, code="BAD_USER_INPUT"),
    "negative page size": post(PAGE, {"n": -1}, status=200, code="BAD_USER_INPUT"),
    "invalid global id": post(
        '{ node(id: "%%% not base64") { id } }', status=200, code="BAD_USER_INPUT"
    ),
    "global id of no uuid": post(
        f'{{ node(id: "{global_id("Content:42")}") {{ id }} }}', status=200, code="BAD_USER_INPUT"
    ),
    "global id of an unknown type": post(
        f'{{ node(id: "{global_id("Secret:00000000-0000-0000-0000-000000000000")}") {{ id }} }}',
        status=200,
        code="BAD_USER_INPUT",
    ),
    # `users` is non-null: its error nulls the whole response while `node`'s batch still runs.
    "invalid cursor beside another root field": post(
        f'{{ node(id: "{CONTENT}") {{ id }} users(first: 1, after: "x") {{ totalCount }} }}',
        status=200,
        code="BAD_USER_INPUT",
    ),
    # `nodes` is non-null too: its error cancels `viewer` and `users` mid-statement.
    "invalid id in nodes beside other root fields": post(
        f'{{ viewer {{ email }} node(id: "{CONTENT}") {{ id }}'
        ' nodes(ids: ["00000000-0000-0000-0000-000000000000"]) { id }'
        " users(first: 2) { totalCount } }",
        status=200,
        code="BAD_USER_INPUT",
    ),
    "invalid cursor": post(
        '{ contents(first: 2, after: "garbage") { edges { cursor } } }',
        status=200,
        code="BAD_USER_INPUT",
    ),
    "cursor of another list": post(
        f'{{ contents(first: 2, after: "{global_id("users:x")}") {{ edges {{ cursor }} }} }}',
        status=200,
        code="BAD_USER_INPUT",
    ),
    "NUL byte in a search": post(
        "query ($q: String!) { search(query: $q) { edges { cursor } } }",
        {"q": "data\u0000base"},
        status=200,
        code="BAD_USER_INPUT",
    ),
    "NUL byte in a filter": post(
        "query ($q: String!) { users(filter: {text: $q}) { edges { cursor } } }",
        {"q": "\u0000"},
        status=200,
        code="BAD_USER_INPUT",
    ),
    "NUL byte in a mutation's input": post(
        'mutation ($id: ID!) { addComment(input: {contentId: $id, body: "a\\u0000b"}) {'
        " comment { id } userErrors { code } } }",
        {"id": CONTENT},
        status=200,
        code="INVALID",
    ),
    "raw NUL byte in the body": Case(
        400, "BAD_REQUEST", b'{"query": "{ search(query: \\"a\x00b\\") { edges { cursor } } }"}'
    ),
    "invalid UTF-8 in the body": Case(
        400,
        "BAD_REQUEST",
        b'{"query": "{ search(query: \\"\xff\xfe\xc3\\") { edges { cursor } } }"}',
    ),
    "batch over the limit": Case(
        400, "BATCH_LIMIT_EXCEEDED", orjson.dumps([{"query": VIEWER}] * 11)
    ),
    "empty batch": Case(400, "BAD_REQUEST", b"[]"),
    "mutation over GET": Case(
        405, "BAD_REQUEST", method="GET", params={"query": "mutation { __typename }"}
    ),
    "no operation of that name": Case(
        400, "BAD_REQUEST", orjson.dumps({"query": VIEWER, "operationName": "Nope"})
    ),
    # Python's JSON encoder writes it; orjson (the server's decoder) refuses it.
    "lone surrogate escape": Case(
        400,
        "BAD_REQUEST",
        b'{"query": "query ($q: String!) { search(query: $q) { edges { cursor } } }",'
        b' "variables": {"q": "\\ud800"}}',
    ),
}


@pytest.fixture(scope="module")
async def world(sessionmaker: async_sessionmaker[AsyncSession]) -> World:
    return await make_world(sessionmaker)


@pytest.fixture(scope="module")
async def http(served: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=served.http_url, timeout=30) as client:
        yield client


@pytest.mark.parametrize("name", list(CASES))
async def test_bad_input_is_refused_and_the_server_stays_up(
    name: str, http: httpx.AsyncClient, world: World, settings: Settings
) -> None:
    case = CASES[name]
    (token,) = world.tokens(settings, world.admins[:1])
    headers = {"Authorization": f"Bearer {token}", "Content-Type": case.content_type}
    body = case.body.replace(
        CONTENT.encode(), to_global_id("Content", world.published[0].id).encode()
    )
    response = await http.request(
        case.method, "/graphql", content=body or None, params=case.params, headers=headers
    )
    answer = f"{name}: {response.status_code} {response.text[:500]}"
    assert response.status_code < 500, answer
    assert response.status_code == case.status, answer
    assert case.code in codes(response.json()), answer
    assert (await http.get("/health/live")).status_code == 200


async def test_a_normal_query_works_after_all_of_them(
    http: httpx.AsyncClient, world: World, settings: Settings
) -> None:
    (token,) = world.tokens(settings, world.admins[:1])
    content = to_global_id("Content", world.published[0].id)
    response = await http.post(
        "/graphql",
        json={"query": "query ($id: ID!) { node(id: $id) { id } }", "variables": {"id": content}},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 200
    assert response.json()["data"] == {"node": {"id": content}}


def codes(body: dict[str, Any]) -> list[str]:
    """The codes of the errors, and of the mutation payloads' `userErrors`."""
    found = [error["extensions"]["code"] for error in body.get("errors", [])]
    for payload in (body.get("data") or {}).values():
        if isinstance(payload, dict):
            found += [error["code"] for error in payload.get("userErrors", [])]
    return found
