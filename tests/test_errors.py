"""Errors classified once: a client's mistake is `BAD_USER_INPUT` in GraphQL's words and runs no
SQL; only a bug is `INTERNAL_SERVER_ERROR`, logged exactly once with the request id it quotes.
The media type the client accepts decides the status (GraphQL over HTTP)."""

import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.applications import Starlette

from gql_server.settings import Settings
from loaders import Loaders
from tests.api import token_for
from tests.live import LiveServer, Tenant, in_process, make_tenant
from tests.test_limits import statements_of
from tests.wsclient import GraphQLSocket

Sessionmaker = async_sessionmaker[AsyncSession]
GRAPHQL_RESPONSE = "application/graphql-response+json"
RELAY_ORDER = (
    "query Feed($order: ContentOrder = CREATED_AT_DESC) {"
    " contents(first: 2, orderBy: $order) { nodes { id } } }"
)
PAGE = "query Page($n: Int) { contents(first: $n) { nodes { id } } }"
ONE = "query One($id: ID!) { node(id: $id) { id } }"
FILTERED = "query Filtered($f: ContentFilter) { contents(first: 1, filter: $f) { nodes { id } } }"

BAD_INPUT: dict[str, tuple[str, dict[str, Any] | None, str]] = {
    # name: (query, variables, what the message says)
    "explicit null for a variable with a default": (
        RELAY_ORDER,
        {"order": None},
        "Variable `$order` is null, but it is used where `ContentOrder!` cannot be null; send"
        " a value, or leave the variable out to use its default `CREATED_AT_DESC`.",
    ),
    "a string for an Int": (PAGE, {"n": "ten"}, 'Int cannot represent non-integer value: "ten"'),
    "an unknown enum value": (
        RELAY_ORDER,
        {"order": "SIDEWAYS"},
        "Value \"SIDEWAYS\" does not exist in 'ContentOrder' enum",
    ),
    "an unknown enum value inside a list": (
        FILTERED,
        {"f": {"status": ["GONE"]}},
        "Variable `$f` got an invalid value.status[0]",
    ),
    "an unknown input field": (
        FILTERED,
        {"f": {"colour": "red"}},
        "not to include unknown field 'colour'",
    ),
    "a required variable left out": (ONE, {}, "Variable `$id` of required type `ID!`"),
    "null for a required variable": (ONE, {"id": None}, "not to be null"),
    "a literal null for a non-null argument": (
        "{ contents(first: 1, orderBy: null) { nodes { id } } }",
        None,
        "not to be null",
    ),
    "a literal of the wrong type": (
        '{ contents(first: "two") { nodes { id } } }',
        None,
        'Int cannot represent non-integer value: "two"',
    ),
}


@pytest.fixture(scope="module")
async def admin_token(sessionmaker: Sessionmaker, settings: Settings) -> str:
    tenant = await make_tenant(sessionmaker)
    return token_for(settings, tenant.admin)


@pytest.mark.parametrize("name", BAD_INPUT)
async def test_bad_input_is_the_clients_in_graphqls_words_and_runs_no_sql(
    client: httpx.AsyncClient, app: Starlette, admin_token: str, name: str
) -> None:
    query, variables, says = BAD_INPUT[name]
    sent = {"query": query, "variables": variables}
    headers = {"Authorization": f"Bearer {admin_token}"}
    with statements_of(app.state.engine) as statements:
        as_json = await client.post("/graphql", json=sent, headers=headers)
        as_graphql = await client.post(
            "/graphql", json=sent, headers={**headers, "Accept": GRAPHQL_RESPONSE}
        )
    assert statements == []
    assert (as_json.status_code, as_graphql.status_code) == (200, 400)
    assert as_graphql.headers["content-type"] == GRAPHQL_RESPONSE
    for response in (as_json, as_graphql):
        body = response.json()
        assert "data" not in body  # a request error: nothing ran
        (error,) = body["errors"]
        assert error["extensions"]["code"] == "BAD_USER_INPUT"
        assert says in error["message"]
        for python in ("None", "{'", "'ten'", "True", "False"):
            assert python not in error["message"]


@pytest.fixture
def planted_bug(monkeypatch: pytest.MonkeyPatch) -> None:
    """Loading a relation fails as a bug would: an exception no code expects (both execution
    paths, and so each subscription event's, load relations through `Loaders.related`)."""

    def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("planted bug")

    monkeypatch.setattr(Loaders, "related", broken)


def errors_logged(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.levelno >= logging.ERROR]


async def test_a_bug_is_logged_exactly_once_with_the_request_id_it_quotes(
    client: httpx.AsyncClient,
    admin_token: str,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("planted bug")

    monkeypatch.setattr(Loaders, "root_page", broken)  # both execution paths load through it
    caplog.set_level(logging.INFO)
    response = await client.post(
        "/graphql",
        json={"query": "{ contents(first: 1) { nodes { title } } }"},
        headers={"Authorization": f"Bearer {admin_token}", "X-Request-ID": "bug-report-1"},
    )
    body = response.json()
    (error,) = body["errors"]
    assert error["extensions"] == {"code": "INTERNAL_SERVER_ERROR", "requestId": "bug-report-1"}
    (logged,) = errors_logged(caplog)
    assert logged.exc_info is not None
    assert "planted bug" in str(logged.exc_info[1])


@pytest.fixture(scope="module")
async def server(database_url: str) -> AsyncIterator[LiveServer]:
    async with in_process(Settings(database_url=None), database_url) as live:
        yield live


@pytest.mark.usefixtures("planted_bug")
async def test_a_bug_in_an_event_is_logged_once_and_quotes_the_connection(
    server: LiveServer,
    sessionmaker: Sessionmaker,
    settings: Settings,
    caplog: pytest.LogCaptureFixture,
) -> None:
    tenant: Tenant = await make_tenant(sessionmaker)
    socket = await GraphQLSocket.open(server.ws_url, token_for(settings, tenant.student))
    await socket.acknowledged()
    await socket.subscribe("subscription { contentPublished { id author { username } } }")
    caplog.set_level(logging.INFO)
    async with httpx.AsyncClient(base_url=server.http_url) as http:
        published = await http.post(
            "/graphql",
            json={
                "query": "mutation ($id: ID!) { publishContent(input: {id: $id})"
                " { userErrors { code } } }",
                "variables": {"id": _gid(tenant.draft.id)},
            },
            headers={"Authorization": f"Bearer {token_for(settings, tenant.instructor)}"},
        )
    assert published.json()["data"]["publishContent"]["userErrors"] == []
    event = await socket.next()
    await socket.close()
    (error,) = event["errors"]
    assert error["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
    assert error["extensions"]["requestId"]
    (logged,) = errors_logged(caplog)
    assert "planted bug" in str(logged.exc_info[1] if logged.exc_info else "")


def _gid(pk: object) -> str:
    from schema.node import to_global_id

    return to_global_id("Content", pk)  # type: ignore[arg-type]
