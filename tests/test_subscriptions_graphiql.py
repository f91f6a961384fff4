"""GraphiQL subscribes over our WebSocket, signed in with the token of its headers editor."""

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import models
from gql_server.settings import Settings
from gql_server.tenancy import tenant_session
from schema.node import to_global_id
from tests.api import gql
from tests.browser import BROWSER_WAIT_SECONDS, browser, server  # noqa: F401
from tests.factories import make_content
from tests.live import make_tenant
from tests.waiting import Deadline

if TYPE_CHECKING:
    from selenium.webdriver.remote.webdriver import WebDriver

SUBSCRIPTION = "subscription { contentPublished { title } }"
PUBLISH = "mutation ($id: ID!) { publishContent(input: {id: $id}) { userErrors { code } } }"
EDITOR = "return document.querySelector(arguments[0]).CodeMirror"
QUERY_EDITOR = "document.querySelector('.graphiql-query-editor .CodeMirror').CodeMirror"
# GraphiQL (@graphiql/react) keeps what it parsed of the editor's document on the editor.
PARSED_AS_SUBSCRIPTION = (
    f"const operations = {QUERY_EDITOR}.operations;"
    " return Boolean(operations && operations.length"
    " && operations[0].operation === 'subscription');"
)


@pytest.mark.browser
async def test_graphiql_shows_the_events_of_a_subscription(
    browser: "WebDriver",  # noqa: F811
    server: str,  # noqa: F811
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    tmp_path: Path,
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.wait import WebDriverWait

    tenant = await make_tenant(sessionmaker)
    browser.get(f"{server}/graphql#token={tenant.token(settings, tenant.student)}")
    wait = WebDriverWait(browser, BROWSER_WAIT_SECONDS)
    run = wait.until(ec.element_to_be_clickable((By.CSS_SELECTOR, ".graphiql-execute-button")))
    browser.execute_script(f"{QUERY_EDITOR}.setValue(arguments[0])", SUBSCRIPTION)
    # GraphiQL parses the edited document on its own schedule (debounced) and sends what it
    # parsed as a subscription over the WebSocket: run it only once it did, or it would go out
    # as an HTTP request.
    wait.until(lambda _: browser.execute_script(PARSED_AS_SUBSCRIPTION))
    run.click()

    def shown() -> str:
        text: str = browser.execute_script(f"{EDITOR}.getValue()", ".result-window .CodeMirror")
        return text

    # Nothing says when the subscription has started: publish contents, one at a time, until
    # the result pane shows one.
    instructor = tenant.token(settings, tenant.instructor)
    published: list[str] = []
    deadline = Deadline("an event shown in GraphiQL")
    async with httpx.AsyncClient(base_url=server) as http:
        while deadline.running():
            async with tenant_session(sessionmaker, tenant.org.id) as db:
                draft = await make_content(
                    db, author=tenant.instructor, status=models.ContentStatus.DRAFT
                )
            response = await gql(
                http, PUBLISH, {"id": to_global_id("Content", draft.id)}, token=instructor
            )
            assert response.data["publishContent"]["userErrors"] == []
            published.append(draft.title)
            for _ in range(10):
                if any(title in shown() for title in published):
                    return
                await asyncio.sleep(0.05)
    browser.save_screenshot(str(tmp_path / "graphiql.png"))
    raise AssertionError(f"{deadline.missed()}; the result pane reads {shown()!r}")
