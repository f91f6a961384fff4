"""Headless Chromium and the servers it talks to, for the tests marked `browser`.

They need Debian's `chromium` and `chromium-driver` (`.ci/install-browser`); without them they
skip, except in CI (`CI=true`), where a missing browser is a failure.
"""

import os
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import pytest

from tests.command import serving_on as serving
from tests.waiting import WAIT_SECONDS

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
# A page, or an element on it, shows up within this long (a loaded machine is slow to load
# GraphiQL's bundle); the waits end as soon as it does.
BROWSER_WAIT_SECONDS = WAIT_SECONDS


def unavailable(what: str) -> NoReturn:
    reason = f"{what} not found: run .ci/install-browser (apt-get install chromium chromium-driver)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason}; CI runs the browser test, it does not skip it", pytrace=False)
    pytest.skip(reason)


class _QuietFiles(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def static_site(folder: Path) -> Iterator[str]:
    """A plain static file server for `folder` on a port of its own: another origin than the
    API's. Yields its base URL."""
    site = ThreadingHTTPServer(("127.0.0.1", 0), partial(_QuietFiles, directory=str(folder)))
    thread = threading.Thread(target=site.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{site.server_address[1]}"
    finally:
        site.shutdown()
        site.server_close()
        thread.join()


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[str]:
    """The API with its default (development) settings."""
    with serving(database_url, tmp_path / "server.log") as base_url:
        yield base_url


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
    # The console (`console_messages`): where Chromium reports what a policy blocked.
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=chromedriver))
    driver.set_page_load_timeout(BROWSER_WAIT_SECONDS)
    try:
        yield driver
    finally:
        driver.quit()


def console_errors(driver: "WebDriver") -> list[str]:
    """Errors on the page's console since the last call: the page's own, and what Chromium
    refused (source "security": a Content-Security-Policy directive; "network": CORS)."""
    entries = driver.get_log("browser")
    return [
        f"{entry['source']}: {entry['message']}" for entry in entries if entry["level"] == "SEVERE"
    ]
