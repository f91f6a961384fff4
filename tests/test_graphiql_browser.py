"""GraphiQL against the real server: its page and assets come from us, and in headless Chromium
it loads offline, takes the token from the URL and runs a query.

The browser test needs Debian's `chromium` and `chromium-driver` (`.ci/install-browser`); without
them it skips, except in CI (`CI=true`), where a missing browser is a failure.
"""

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import models
from gql_server.settings import Settings
from gql_server.tenancy import tenant_session
from tests.api import token_for
from tests.factories import make_content, make_org, make_user

if TYPE_CHECKING:
    from selenium.webdriver.remote.webdriver import WebDriver

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,900",
)
SERVER_START_SECONDS = 10
BROWSER_WAIT_SECONDS = 10


def unavailable(what: str) -> NoReturn:
    reason = f"{what} not found: run .ci/install-browser (apt-get install chromium chromium-driver)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason}; CI runs the browser test, it does not skip it", pytrace=False)
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[str]:
    """`gql-server serve` in its own process on the suite's database; yields its base URL."""
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    executable = Path(sys.executable).with_name("gql-server")
    env = {**os.environ, "DATABASE_URL": database_url, "GQL_LOG_LEVEL": "warning"}
    log_path = tmp_path / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(executable), "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + SERVER_START_SECONDS
        while True:
            if process.poll() is not None:
                pytest.fail(f"the server exited early:\n{log_path.read_text()}", pytrace=False)
            try:
                if httpx.get(f"{base_url}/health/live", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"the server did not start:\n{log_path.read_text()}", pytrace=False)
            time.sleep(0.1)
        yield base_url
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def browser(tmp_path: Path) -> Iterator["WebDriver"]:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    chromedriver = shutil.which("chromedriver")
    if chromium is None:
        unavailable("chromium")
    if chromedriver is None:
        unavailable("chromedriver")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        unavailable("selenium (pip install -e '.[dev]')")

    options = webdriver.ChromeOptions()
    # Both paths given, so Selenium Manager never tries to download a browser or driver.
    options.binary_location = chromium
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'chromium-profile'}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=chromedriver))
    driver.set_page_load_timeout(BROWSER_WAIT_SECONDS)
    try:
        yield driver
    finally:
        driver.quit()


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
    browser: "WebDriver", server: str, admin: SignedIn, tmp_path: Path
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
    except (AssertionError, TimeoutException) as error:
        screenshot = tmp_path / "graphiql.png"
        browser.save_screenshot(str(screenshot))
        error.add_note(f"screenshot of the page: {screenshot}")
        raise
