"""Pages on other origins: which may call (`GQL_CORS_ORIGINS`), what their preflights and answers
say, and the same decision on the WebSocket handshake. (In a real browser:
tests/test_cors_browser.py.)"""

from collections.abc import AsyncIterator

import httpx
import pytest
from pydantic import ValidationError
from starlette.applications import Starlette
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from gql_server.app import create_app
from gql_server.cors import AllowedOrigins, normalize
from gql_server.settings import Settings
from tests.live import in_process

ALLOWED = "https://app.example.com"
PATTERN = "https://*.preview.example.com"
QUERY = {"query": "{ __typename }"}


@pytest.mark.parametrize(
    ("origin", "allowed"),
    [
        ("https://app.example.com", True),
        ("http://app.example.com", False),  # another scheme is another origin
        ("https://app.example.com:8443", False),
        ("https://evil.example.com", False),
        ("https://app.example.com.evil.net", False),
        ("https://pr-12.preview.example.com", True),
        ("https://preview.example.com", False),  # `*` is one label, not none
        ("https://a.b.preview.example.com", False),  # nor two
        ("https://pr-12.preview.example.com.evil.net", False),
        ("https://pr-12-preview.example.com", False),
        ("http://localhost:5173", True),
        ("http://localhost", True),
        ("http://localhost.evil.net:5173", False),
        ("null", False),  # sandboxed frames and file:// pages
    ],
)
def test_exact_origins_and_patterns(origin: str, allowed: bool) -> None:
    origins = AllowedOrigins([ALLOWED, PATTERN, "http://localhost:*"])
    assert origins.allows(origin) is allowed


def test_any_origin() -> None:
    assert AllowedOrigins(["*"]).allows("https://anything.example")
    assert not AllowedOrigins([]).allows("https://anything.example")


@pytest.mark.parametrize(
    ("entry", "normalized"),
    [
        ("https://App.Example.com/", "https://app.example.com"),
        ("https://app.example.com:443", "https://app.example.com"),
        ("http://app.example.com:80", "http://app.example.com"),
        ("http://127.0.0.1:3000", "http://127.0.0.1:3000"),
        ("http://[::1]:3000", "http://[::1]:3000"),
        (" * ", "*"),
    ],
)
def test_origins_are_written_as_browsers_send_them(entry: str, normalized: str) -> None:
    assert normalize(entry) == normalized


@pytest.mark.parametrize(
    "entry",
    [
        "app.example.com",
        "https://app.example.com/graphql",
        "https://app.example.com?x=1",
        "ftp://app.example.com",
        "https://*",
        "https://app.*.example.com",
        "https://user@app.example.com",
        "null",
    ],
)
def test_what_is_not_an_origin_is_refused_at_start_up(entry: str) -> None:
    with pytest.raises(ValidationError, match="is not an origin"):
        Settings(cors_origins=[entry])


def test_any_origin_with_credentials_is_refused_at_start_up() -> None:
    with pytest.raises(ValidationError, match="list the origins instead of"):
        Settings(cors_origins=["*"], cors_allow_credentials=True)
    assert Settings(cors_origins=[ALLOWED], cors_allow_credentials=True).cors_allow_credentials


def test_origins_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GQL_CORS_ORIGINS", f"{ALLOWED}, {PATTERN}")
    assert Settings().allowed_origins == [ALLOWED, PATTERN]
    monkeypatch.setenv("GQL_CORS_ORIGINS", f'["{ALLOWED}"]')
    assert Settings().allowed_origins == [ALLOWED]
    monkeypatch.setenv("GQL_CORS_ORIGINS", "")
    assert Settings().allowed_origins == []  # set but empty: no other origin, even in development


def test_unset_origins_mean_this_machine_in_development_and_none_in_production() -> None:
    development = AllowedOrigins(Settings().allowed_origins)
    assert development.allows("http://localhost:5173")
    assert development.allows("http://127.0.0.1:3000")
    assert not development.allows("https://app.example.com")
    production = Settings(environment="production", jwt_secret="s" * 40)
    assert production.allowed_origins == []


@pytest.fixture(scope="module")
async def cors_client(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(cors_origins=[ALLOWED, PATTERN], cors_max_age_seconds=1234)
    app = create_app(settings, database_url=database_url)
    async with app.router.lifespan_context(app), _client(app) as client:
        yield client


def _client(app: Starlette) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


def _preflight(origin: str, headers: str = "authorization,content-type") -> dict[str, str]:
    return {
        "Origin": origin,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": headers,
    }


@pytest.mark.parametrize("origin", [ALLOWED, "https://pr-7.preview.example.com"])
async def test_a_preflight_from_an_allowed_origin(
    cors_client: httpx.AsyncClient, origin: str
) -> None:
    requested = "authorization,content-type,x-request-id,apollo-require-preflight"
    response = await cors_client.options("/graphql", headers=_preflight(origin, requested))
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == origin
    assert "POST" in response.headers["access-control-allow-methods"]
    allowed = {
        name.strip().lower() for name in response.headers["access-control-allow-headers"].split(",")
    }
    assert set(requested.split(",")) <= allowed
    assert response.headers["access-control-max-age"] == "1234"
    assert "access-control-allow-credentials" not in response.headers
    assert "Origin" in response.headers["vary"]


async def test_a_preflight_from_another_origin_gets_no_permission(
    cors_client: httpx.AsyncClient,
) -> None:
    response = await cors_client.options("/graphql", headers=_preflight("https://evil.example"))
    assert response.status_code == 400
    assert "access-control-allow-origin" not in response.headers


async def test_a_preflight_asking_for_another_header_gets_no_permission(
    cors_client: httpx.AsyncClient,
) -> None:
    response = await cors_client.options("/graphql", headers=_preflight(ALLOWED, "x-secret"))
    assert response.status_code == 400


async def test_answers_name_the_allowed_origin_and_expose_the_request_id(
    cors_client: httpx.AsyncClient,
) -> None:
    response = await cors_client.post("/graphql", json=QUERY, headers={"Origin": ALLOWED})
    assert response.status_code == 200
    assert response.json()["data"] == {"__typename": "Query"}
    assert response.headers["access-control-allow-origin"] == ALLOWED
    exposed = response.headers["access-control-expose-headers"].lower()
    assert "x-request-id" in exposed
    assert "Origin" in response.headers["vary"]

    other = await cors_client.post(
        "/graphql", json=QUERY, headers={"Origin": "https://evil.example"}
    )
    assert "access-control-allow-origin" not in other.headers  # the browser withholds the answer


async def test_credentials_when_enabled(database_url: str) -> None:
    settings = Settings(cors_origins=[ALLOWED], cors_allow_credentials=True)
    app = create_app(settings, database_url=database_url)
    async with app.router.lifespan_context(app), _client(app) as client:
        preflight = await client.options("/graphql", headers=_preflight(ALLOWED))
        answer = await client.post("/graphql", json=QUERY, headers={"Origin": ALLOWED})
    for response in (preflight, answer):
        assert response.headers["access-control-allow-origin"] == ALLOWED
        assert response.headers["access-control-allow-credentials"] == "true"


async def test_the_websocket_handshake_checks_the_origin_against_the_same_list(
    database_url: str,
) -> None:
    settings = Settings(cors_origins=[ALLOWED, PATTERN])
    async with in_process(settings, database_url) as server:
        for origin in (ALLOWED, "https://pr-7.preview.example.com", None):
            async with connect(
                server.ws_url, subprotocols=["graphql-transport-ws"], origin=origin
            ) as socket:
                assert socket.subprotocol == "graphql-transport-ws"
        # A page of the server's own origin (GraphiQL) is no cross-origin request.
        async with connect(
            server.ws_url, subprotocols=["graphql-transport-ws"], origin=server.http_url
        ):
            pass
        for origin in ("https://evil.example", "https://preview.example.com", "null"):
            with pytest.raises(InvalidStatus) as refused:
                await connect(server.ws_url, subprotocols=["graphql-transport-ws"], origin=origin)
            assert refused.value.response.status_code == 403
