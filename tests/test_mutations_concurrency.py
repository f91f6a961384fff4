"""Mutations under real concurrency: the server runs as its own process, requests race over
several connections, and PostgreSQL decides who wins.
"""

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import models
from gql_server.settings import Settings
from gql_server.tenancy import tenant_session
from schema.node import to_global_id
from tests.api import token_for
from tests.command import serving_on
from tests.factories import make_content, make_org, make_user

Sessionmaker = async_sessionmaker[AsyncSession]

RACERS = 20


@pytest.fixture(scope="module")
def server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`gql-server serve` in a subprocess on the suite's database; yields its base URL."""
    log = tmp_path_factory.mktemp("server") / "server.log"
    with serving_on(database_url, log, GQL_POOL_SIZE=str(RACERS)) as base_url:
        yield base_url


@pytest.fixture
async def http(server: str) -> AsyncIterator[httpx.AsyncClient]:
    limits = httpx.Limits(max_connections=RACERS, max_keepalive_connections=RACERS)
    async with httpx.AsyncClient(base_url=server, limits=limits, timeout=30) as client:
        yield client


async def mutate(
    http: httpx.AsyncClient, token: str, name: str, data: dict[str, Any], selection: str
) -> dict[str, Any]:
    kind = name[0].upper() + name[1:]
    query = (
        f"mutation($input: {kind}Input!) {{ {name}(input: $input)"
        f" {{ {selection} userErrors {{ field message code }} }} }}"
    )
    response = await http.post(
        "/graphql",
        json={"query": query, "variables": {"input": data}},
        headers={"Authorization": f"Bearer {token}"},
    )
    body = response.json()
    assert "errors" not in body, body["errors"]
    payload: dict[str, Any] = body["data"][name]
    return payload


async def race(*work: Any) -> list[dict[str, Any]]:
    return list(await asyncio.gather(*work))


async def test_concurrent_ratings_of_one_user_leave_one_row(
    sessionmaker: Sessionmaker, settings: Settings, http: httpx.AsyncClient
) -> None:
    org = await make_org(sessionmaker)
    async with tenant_session(sessionmaker, org.id) as db:
        author = await make_user(db, role=models.Role.INSTRUCTOR)
        student = await make_user(db)
        content = await make_content(db, author=author)
    token, content_id = token_for(settings, student), to_global_id("Content", content.id)
    scores = [1 + index % 5 for index in range(RACERS)]

    payloads = await race(
        *(
            mutate(
                http,
                token,
                "rateContent",
                {"contentId": content_id, "score": score},
                "rating { score }",
            )
            for score in scores
        )
    )
    assert [payload["userErrors"] for payload in payloads] == [[]] * RACERS
    assert sorted(payload["rating"]["score"] for payload in payloads) == sorted(scores)
    async with sessionmaker() as session:
        rows = (
            await session.execute(
                text("select user_id, score from ratings where content_id = :id"),
                {"id": content.id},
            )
        ).all()
        version = await session.scalar(
            text("select version from contents where id = :id"), {"id": content.id}
        )
    assert len(rows) == 1
    assert rows[0].user_id == student.id
    assert rows[0].score in scores
    assert version == 1


async def test_one_of_two_concurrent_updates_wins(
    sessionmaker: Sessionmaker, settings: Settings, http: httpx.AsyncClient
) -> None:
    org = await make_org(sessionmaker)
    async with tenant_session(sessionmaker, org.id) as db:
        author = await make_user(db, role=models.Role.INSTRUCTOR)
        content = await make_content(db, author=author)
    token, content_id = token_for(settings, author), to_global_id("Content", content.id)

    payloads = await race(
        *(
            mutate(
                http,
                token,
                "updateContent",
                {"id": content_id, "expectedVersion": 1, "title": title},
                "content { title version }",
            )
            for title in ("Left", "Right")
        )
    )
    won = [payload for payload in payloads if not payload["userErrors"]]
    lost = [payload for payload in payloads if payload["userErrors"]]
    assert len(won) == len(lost) == 1
    assert won[0]["content"]["version"] == 2
    assert lost[0]["content"] is None
    assert [(e["field"], e["code"]) for e in lost[0]["userErrors"]] == [
        (["input", "expectedVersion"], "VERSION_MISMATCH")
    ]
    async with sessionmaker() as session:
        row = (
            await session.execute(
                text("select title, version from contents where id = :id"), {"id": content.id}
            )
        ).one()
    assert (row.title, row.version) == (won[0]["content"]["title"], 2)


async def test_concurrent_creates_of_one_email_make_one_user(
    sessionmaker: Sessionmaker, settings: Settings, http: httpx.AsyncClient
) -> None:
    org = await make_org(sessionmaker)
    async with tenant_session(sessionmaker, org.id) as db:
        admin = await make_user(db, role=models.Role.ADMIN)
    token = token_for(settings, admin)

    payloads = await race(
        *(
            mutate(
                http,
                token,
                "createUser",
                {
                    "email": "same@example.com",
                    "username": f"racer{index}",
                    "fullName": "Racer",
                    "role": "STUDENT",
                },
                "user { id }",
            )
            for index in range(8)
        )
    )
    created = [payload for payload in payloads if payload["user"] is not None]
    refused = [payload for payload in payloads if payload["user"] is None]
    assert len(created) == 1
    # Whether a racer saw the winner before inserting or hit the unique index, the answer is
    # the same user error, never an internal one.
    for payload in refused:
        assert [(e["field"], e["code"]) for e in payload["userErrors"]] == [
            (["input", "email"], "CONFLICT")
        ]
    async with sessionmaker() as session:
        count = await session.scalar(
            text("select count(*) from users where organization_id = :org and email = :email"),
            {"org": org.id, "email": "same@example.com"},
        )
    assert count == 1
