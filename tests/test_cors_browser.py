"""A frontend on another origin, in headless Chromium: a page served by a static server of its
own calls the API with `fetch` and subscribes over a WebSocket. From an origin of
`GQL_CORS_ORIGINS` both work; from any other the browser refuses both."""

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import models
from gql_server.settings import Settings
from gql_server.tenancy import tenant_session
from schema.node import to_global_id
from tests.api import token_for
from tests.browser import (  # noqa: F401 (the browser fixture)
    BROWSER_WAIT_SECONDS,
    browser,
    console_errors,
    serving,
    static_site,
)
from tests.factories import make_content
from tests.live import Tenant, make_tenant
from tests.waiting import WAIT_SECONDS

if TYPE_CHECKING:
    from selenium.webdriver.remote.webdriver import WebDriver

# What a frontend does, reduced to its calls; the outcome goes to `window.outcome` for the test.
PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>frontend</title><link rel="icon" href="data:,">
</head><body><script>
const params = new URLSearchParams(location.search);
const api = params.get("api");
const token = params.get("token");
window.outcome = {fetch: null, socket: null, events: []};

fetch(api + "/graphql", {
  method: "POST",
  headers: {"Content-Type": "application/json", "Authorization": "Bearer " + token},
  body: JSON.stringify({query: "{ viewer { username } }"}),
}).then(
  (response) => response.json().then((body) => {
    window.outcome.fetch = {
      status: response.status, body: body, requestId: response.headers.get("X-Request-ID"),
    };
  }),
  (error) => { window.outcome.fetch = {error: String(error)}; },
);

const socket = new WebSocket(api.replace(/^http/, "ws") + "/graphql", "graphql-transport-ws");
socket.onopen = () => socket.send(JSON.stringify(
  {type: "connection_init", payload: {Authorization: "Bearer " + token}}));
socket.onmessage = (message) => {
  const data = JSON.parse(message.data);
  if (data.type === "connection_ack") {
    window.outcome.socket = "acknowledged";
    socket.send(JSON.stringify({id: "1", type: "subscribe",
      payload: {query: "subscription { contentPublished { title } }"}}));
  } else if (data.type === "next") {
    window.outcome.events.push(data.payload.data.contentPublished.title);
  }
};
socket.onclose = (event) => {
  if (window.outcome.socket !== "acknowledged") window.outcome.socket = "closed " + event.code;
};
</script></body></html>
"""
PUBLISH = "mutation ($id: ID!) { publishContent(input: {id: $id}) { userErrors { code } } }"
# Published one a second until the page has received an event: for as long as a wait may last.
DRAFTS = int(WAIT_SECONDS)


@dataclass
class Sites:
    api: str
    allowed: str  # a page of an origin in GQL_CORS_ORIGINS
    other: str  # a page of an origin that is not


@pytest.fixture
def sites(database_url: str, tmp_path: Path) -> Iterator[Sites]:
    folder = tmp_path / "site"
    folder.mkdir()
    (folder / "index.html").write_text(PAGE)
    log = tmp_path / "server.log"
    with (
        static_site(folder) as allowed,
        static_site(folder) as other,
        serving(database_url, log, GQL_CORS_ORIGINS=allowed) as api,
    ):
        yield Sites(api, allowed, other)


def _open(browser: "WebDriver", site: str, api: str, token: str) -> None:  # noqa: F811
    browser.get(f"{site}/index.html?{httpx.QueryParams(api=api, token=token)}")


def _outcome(browser: "WebDriver", part: str, seconds: float = BROWSER_WAIT_SECONDS) -> Any:  # noqa: F811
    """`window.outcome[part]` once the page has set it."""
    from selenium.webdriver.support.wait import WebDriverWait

    script = f"return window.outcome && window.outcome.{part}"
    return WebDriverWait(browser, seconds).until(lambda _: browser.execute_script(script))


@pytest.fixture
async def tenant(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> tuple[Tenant, list[models.Content]]:
    tenant = await make_tenant(sessionmaker)
    async with tenant_session(sessionmaker, tenant.org.id) as db:
        drafts = [
            await make_content(db, author=tenant.instructor, status=models.ContentStatus.DRAFT)
            for _ in range(DRAFTS)
        ]
    return tenant, drafts


@pytest.mark.browser
def test_a_page_of_an_allowed_origin_queries_and_subscribes(
    browser: "WebDriver",  # noqa: F811
    sites: Sites,
    tenant: tuple[Tenant, list[models.Content]],
    settings: Settings,
) -> None:
    from selenium.common.exceptions import TimeoutException

    signed_in, drafts = tenant
    _open(browser, sites.allowed, sites.api, token_for(settings, signed_in.student))

    fetched = _outcome(browser, "fetch")
    assert fetched.get("status") == 200, fetched
    assert fetched["body"]["data"] == {"viewer": {"username": signed_in.student.username}}
    assert fetched["requestId"]  # exposed to the page, so it can quote it in a bug report
    assert _outcome(browser, "socket") == "acknowledged"

    # The subscription starts on its own schedule (no message says so): publish drafts one by
    # one until the page has received an event.
    instructor = token_for(settings, signed_in.instructor)
    published: list[str] = []
    received: list[str] = []
    with httpx.Client(base_url=sites.api) as http:
        for draft in drafts:
            response = http.post(
                "/graphql",
                json={"query": PUBLISH, "variables": {"id": to_global_id("Content", draft.id)}},
                headers={"Authorization": f"Bearer {instructor}"},
            )
            assert response.json()["data"]["publishContent"]["userErrors"] == []
            published.append(draft.title)
            try:
                received = _outcome(browser, "events.length && window.outcome.events", 1)
                break
            except TimeoutException:
                continue
    assert received, "no event reached the page"
    assert set(received) <= set(published)
    assert console_errors(browser) == []


@pytest.mark.browser
def test_a_page_of_another_origin_is_refused_by_the_browser(
    browser: "WebDriver",  # noqa: F811
    sites: Sites,
    tenant: tuple[Tenant, list[models.Content]],
    settings: Settings,
) -> None:
    signed_in, _ = tenant
    _open(browser, sites.other, sites.api, token_for(settings, signed_in.student))

    fetched = _outcome(browser, "fetch")
    assert fetched == {"error": "TypeError: Failed to fetch"}  # the page learns nothing
    assert _outcome(browser, "socket") == "closed 1006"  # the handshake was refused
    errors = "\n".join(console_errors(browser))
    assert "has been blocked by CORS policy" in errors
    assert "WebSocket connection to" in errors
