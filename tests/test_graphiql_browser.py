"""GraphiQL against the real server: its page and assets come from us, and in headless Chromium
it loads offline under its Content-Security-Policy, takes the token from the URL and runs a query.
"""

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import models
from gql_server.settings import Settings
from gql_server.tenancy import tenant_session
from tests.api import token_for
from tests.browser import BROWSER_WAIT_SECONDS, browser, console_errors, server  # noqa: F401
from tests.factories import make_content, make_org, make_user

if TYPE_CHECKING:
    from selenium.webdriver.remote.webdriver import WebDriver


@dataclass(frozen=True, slots=True)
class SignedIn:
    username: str
    content_title: str
    token: str


@pytest.fixture
async def admin(sessionmaker: async_sessionmaker[AsyncSession], settings: Settings) -> SignedIn:
    org = await make_org(sessionmaker)
    async with tenant_session(sessionmaker, org.id) as db:
        user = await make_user(db, role=models.Role.ADMIN)
        content = await make_content(db, author=user, title="Offline GraphiQL")
    return SignedIn(user.username, content.title, token_for(settings, user))


async def test_graphiql_page_and_assets_are_served_by_us(client: httpx.AsyncClient) -> None:
    page = await client.get("/graphql", headers={"Accept": "text/html"})
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert "/static/graphiql/graphiql.min.js" in assets
    assert not [url for url in assets if "//" in url], "the page must not load from elsewhere"
    for url in assets:
        if url.startswith("/static/"):
            assert (await client.get(url)).status_code == 200, url


@pytest.mark.browser
def test_graphiql_runs_a_query_with_the_token_from_the_url(
    browser: "WebDriver",  # noqa: F811
    server: str,  # noqa: F811
    admin: SignedIn,
    tmp_path: Path,
) -> None:
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.wait import WebDriverWait

    wait = WebDriverWait(browser, BROWSER_WAIT_SECONDS)
    try:
        browser.get(f"{server}/graphql?token={admin.token}")
        run = wait.until(ec.element_to_be_clickable((By.CSS_SELECTOR, ".graphiql-execute-button")))
        headers = browser.find_element(By.CSS_SELECTOR, ".graphiql-editor-tool").text
        assert "Authorization" in headers
        assert "Bearer " in headers
        # The token is in the headers editor and no longer in the address bar.
        assert browser.current_url == f"{server}/graphql"

        run.click()
        result = browser.find_element(By.CSS_SELECTOR, ".result-window")
        wait.until(lambda _: admin.username in result.text)
        assert admin.content_title in result.text
        assert "errors" not in result.text

        # Everything the page loaded came from this server: no CDN.
        resources: list[str] = browser.execute_script(
            "return performance.getEntriesByType('resource').map(entry => entry.name)"
        )
        assert resources
        assert all(url.startswith(f"{server}/") for url in resources), resources
        # Its Content-Security-Policy blocked nothing the page needs: Chromium reports each
        # refusal as an error on the console, and there is none.
        assert console_errors(browser) == []
    except (AssertionError, TimeoutException) as error:
        screenshot = tmp_path / "graphiql.png"
        browser.save_screenshot(str(screenshot))
        error.add_note(f"screenshot of the page: {screenshot}")
        raise
