"""Clients that send a mix of queries and mutations, and a ledger of the writes they were told of.

Every answer is sorted: a success, a `SERVICE_UNAVAILABLE` 503, or a failure (anything else). A
write's ledger entry says what was attempted and what the server said succeeded, so a test can
hold the database to it afterwards: every success is there, nothing unattempted is.
"""

import asyncio
import random
import statistics
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import httpx
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import models
from schema.node import from_global_id, to_global_id
from tests.reliability.world import World

NESTED = """
query Nested {
  contents(first: 10) {
    edges { node {
      title author { username } tags { name }
      comments(first: 5) { edges { node { body author { username } } } }
    } }
    pageInfo { hasNextPage endCursor }
  }
}"""
NODE = """
query Node($id: ID!) {
  node(id: $id) { id ... on Content { title version author { username } } }
}"""
SEARCH = """
query Search { search(query: "databases", first: 10) { edges { node { id title } } } }"""
USERS = "query Users { users(first: 20) { edges { node { username role } } totalCount } }"
ADD_COMMENT = """
mutation AddComment($id: ID!, $body: String!) {
  addComment(input: {contentId: $id, body: $body}) { comment { id } userErrors { code } }
}"""
RATE = """
mutation Rate($id: ID!, $score: Int!) {
  rateContent(input: {contentId: $id, score: $score}) { rating { score } userErrors { code } }
}"""
CREATE = """
mutation Create($title: String!) {
  createContent(input: {title: $title, body: "Written under load."}) {
    content { id version } userErrors { code }
  }
}"""
UPDATE = """
mutation Update($id: ID!, $version: Int!, $title: String!) {
  updateContent(input: {id: $id, expectedVersion: $version, title: $title}) {
    content { version } userErrors { code }
  }
}"""
UNAVAILABLE_BODY = {
    "errors": [
        {
            "message": "the database is unavailable; try again shortly",
            "extensions": {"code": "SERVICE_UNAVAILABLE"},
        }
    ]
}
READS = ("nested", "node", "search", "users")


@dataclass(frozen=True, slots=True)
class Answer:
    kind: str
    started: float
    seconds: float
    status: int  # 0: no HTTP answer at all
    verdict: str  # "success", "unavailable" or "failure"
    detail: str = ""


@dataclass
class Ledger:
    """Writes attempted, and those the server answered as done."""

    comments_tried: set[str] = field(default_factory=set)  # bodies
    comments: dict[str, UUID] = field(default_factory=dict)  # body -> id
    # (content, user) -> scores sent, in order, each with whether it was answered as done
    ratings: dict[tuple[UUID, UUID], list[tuple[int, bool]]] = field(default_factory=dict)
    created_tried: set[str] = field(default_factory=set)  # titles
    created: dict[str, UUID] = field(default_factory=dict)
    updates_tried: Counter[UUID] = field(default_factory=Counter)
    updates: dict[UUID, dict[int, str]] = field(default_factory=dict)  # version -> title


@dataclass
class Run:
    answers: list[Answer] = field(default_factory=list)
    ledger: Ledger = field(default_factory=Ledger)
    seconds: float = 0.0
    pool_in_use: list[float] = field(default_factory=list)

    def count(self, verdict: str) -> int:
        return sum(answer.verdict == verdict for answer in self.answers)

    @property
    def server_errors(self) -> list[Answer]:
        """Answers with a 5xx status but the 503 of an unavailable database, or none at all."""
        return [
            answer
            for answer in self.answers
            if answer.verdict != "unavailable" and (answer.status >= 500 or answer.status == 0)
        ]

    def summary(self) -> str:
        latencies = sorted(answer.seconds for answer in self.answers) or [0.0]
        statuses = Counter(answer.status for answer in self.answers)
        kinds = Counter(answer.kind for answer in self.answers)
        failures = [answer for answer in self.answers if answer.verdict == "failure"]
        p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
        pool = f", pool in use at most {max(self.pool_in_use):g}" if self.pool_in_use else ""
        return (
            f"{len(self.answers)} requests in {self.seconds:.2f} s"
            f" ({len(self.answers) / max(self.seconds, 1e-9):.0f}/s):"
            f" {self.count('success')} succeeded, {self.count('unavailable')} unavailable (503),"
            f" {len(failures)} failed ({len(self.server_errors)} of them 5xx or unanswered);"
            f" statuses {dict(sorted(statuses.items()))};"
            f" latency median {statistics.median(latencies) * 1000:.1f} ms,"
            f" p99 {p99 * 1000:.1f} ms, max {latencies[-1] * 1000:.1f} ms{pool};"
            f" by kind {dict(sorted(kinds.items()))}"
            + (f"; first failures {[(a.kind, a.status, a.detail) for a in failures[:5]]}")
        )


class Client:
    """One user sending requests one after another, each chosen by a seeded random draw."""

    def __init__(
        self,
        number: int,
        http: httpx.AsyncClient,
        token: str,
        user: models.User,
        world: World,
        run: Run,
    ) -> None:
        self.number, self.http, self.user, self.world, self.run = number, http, user, world, run
        self.headers = {"Authorization": f"Bearer {token}"}
        self.random = random.Random(number)
        self.sent = 0
        self.staff = user.role in (models.Role.ADMIN, models.Role.INSTRUCTOR)
        self.own: list[UUID] = [c.id for c in world.contents if c.author_id == user.id]
        if user.role is models.Role.ADMIN:  # a few contents every admin edits: conflicts
            self.own = [c.id for c in world.published[:3]]

    async def requests(self, count: int) -> None:
        for _ in range(count):
            await self.step()

    async def until(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            if not await self.step():
                await asyncio.sleep(0.02)  # a refusal comes at once: do not spin on it

    async def step(self) -> bool:
        """One request (an update is two: it reads the version first); whether it succeeded."""
        choices = ["nested", "node", "search", "users", "comment", "comment", "rate"]
        if self.staff:
            choices += ["create", "update", "update"]
        kind = self.random.choice(choices)
        if kind in READS:
            return await self.read(kind)
        return await getattr(self, kind)()

    async def read(self, kind: str) -> bool:
        if kind == "node":
            content = self.random.choice(self.world.published)
            variables = {"id": to_global_id("Content", content.id)}
            answer, body = await self.send(kind, NODE, variables)
            if answer.verdict == "success" and body["data"]["node"] is None:
                return self.failed(answer, "a published content did not resolve")
            return answer.verdict == "success"
        query = {"nested": NESTED, "search": SEARCH, "users": USERS}[kind]
        answer, _ = await self.send(kind, query)
        return answer.verdict == "success"

    async def comment(self) -> bool:
        content = self.random.choice(self.world.published)
        body = f"load comment {self.number}-{self.sent}"
        ledger = self.run.ledger
        ledger.comments_tried.add(body)
        variables = {"id": to_global_id("Content", content.id), "body": body}
        answer, data = await self.send("addComment", ADD_COMMENT, variables)
        if answer.verdict == "success":
            ledger.comments[body] = from_global_id(data["addComment"]["comment"]["id"])[1]
        return answer.verdict == "success"

    async def rate(self) -> bool:
        content = self.random.choice(self.world.published)
        score = self.random.randint(1, 5)
        variables = {"id": to_global_id("Content", content.id), "score": score}
        answer, _ = await self.send("rateContent", RATE, variables)
        succeeded = answer.verdict == "success"
        attempts = self.run.ledger.ratings.setdefault((content.id, self.user.id), [])
        attempts.append((score, succeeded))
        return succeeded

    async def create(self) -> bool:
        title = f"Load content {self.number}-{self.sent}"
        ledger = self.run.ledger
        ledger.created_tried.add(title)
        answer, data = await self.send("createContent", CREATE, {"title": title})
        if answer.verdict == "success":
            pk = from_global_id(data["createContent"]["content"]["id"])[1]
            ledger.created[title] = pk
            if self.user.role is models.Role.INSTRUCTOR:
                self.own.append(pk)
        return answer.verdict == "success"

    async def update(self) -> bool:
        if not self.own:
            return await self.create()
        pk = self.random.choice(self.own)
        content = to_global_id("Content", pk)
        read, data = await self.send("node", NODE, {"id": content})
        if read.verdict != "success":
            return False
        version = data["data"]["node"]["version"]
        title = f"Edition {self.number}-{self.sent}"
        self.run.ledger.updates_tried[pk] += 1
        variables = {"id": content, "version": version, "title": title}
        answer, data = await self.send(
            "updateContent", UPDATE, variables, accept=frozenset({"VERSION_MISMATCH"})
        )
        if answer.verdict != "success":
            return False
        payload = data["updateContent"]
        if payload["userErrors"]:
            return True  # someone else's edit came first: a typed outcome, nothing written
        new_version = payload["content"]["version"]
        done = self.run.ledger.updates.setdefault(pk, {})
        if new_version != version + 1 or new_version in done:
            return self.failed(answer, f"update to {new_version} from {version}: {done}")
        done[new_version] = title
        return True

    async def send(
        self,
        kind: str,
        query: str,
        variables: dict[str, Any] | None = None,
        accept: frozenset[str] = frozenset(),
    ) -> tuple[Answer, Any]:
        """The answer, sorted; and the `data` of a success (the whole body of a read)."""
        self.sent += 1
        started = time.monotonic()
        try:
            response = await self.http.post(
                "/graphql", json={"query": query, "variables": variables}, headers=self.headers
            )
        except httpx.HTTPError as error:
            return self.record(kind, started, 0, "failure", repr(error)), None
        status = response.status_code
        body = response.json() if response.headers.get("content-type") == "application/json" else {}
        if status == 503:
            headers_ok = response.headers.get("retry-after", "").isdigit()
            verdict = "unavailable" if body == UNAVAILABLE_BODY and headers_ok else "failure"
            return self.record(kind, started, status, verdict, response.text[:300]), None
        if status != 200 or "errors" in body:
            return self.record(kind, started, status, "failure", response.text[:300]), None
        for payload in body["data"].values():
            codes = {error["code"] for error in (payload or {}).get("userErrors", [])}
            if codes - accept:
                return self.record(kind, started, status, "failure", str(codes)), None
        answer = self.record(kind, started, status, "success")
        return answer, body if kind in READS else body["data"]

    def record(
        self, kind: str, started: float, status: int, verdict: str, detail: str = ""
    ) -> Answer:
        answer = Answer(kind, started, time.monotonic() - started, status, verdict, detail)
        self.run.answers.append(answer)
        return answer

    def failed(self, answer: Answer, detail: str) -> bool:
        self.run.answers.remove(answer)
        self.run.answers.append(
            Answer(answer.kind, answer.started, answer.seconds, 200, "failure", detail)
        )
        return False


async def sample_pool(http: httpx.AsyncClient, run: Run, stop: asyncio.Event) -> None:
    """`gql_db_pool_connections{state="in_use"}` from /metrics, every 0.1 s until `stop`."""
    while not stop.is_set():
        response = await http.get("/metrics")
        for family in text_string_to_metric_families(response.text):
            for sample in family.samples:
                if sample.name == "gql_db_pool_connections" and sample.labels["state"] == "in_use":
                    run.pool_in_use.append(sample.value)
        await asyncio.sleep(0.1)


@dataclass
class Stored:
    """One organization's writable rows as the database holds them."""

    comments: dict[UUID, str]  # id -> body
    ratings: dict[tuple[UUID, UUID], int]
    contents: dict[UUID, tuple[int, str]]  # id -> (version, title)


async def stored(sessionmaker: async_sessionmaker[AsyncSession], org: UUID) -> Stored:
    """Read as the login role, outside any tenant: what is there, not what a viewer may see."""
    async with sessionmaker() as session:
        where = {"org": org}
        comments = await session.execute(
            text("select id, body from comments where organization_id = :org"), where
        )
        ratings = await session.execute(
            text("select content_id, user_id, score from ratings where organization_id = :org"),
            where,
        )
        contents = await session.execute(
            text("select id, version, title from contents where organization_id = :org"), where
        )
        return Stored(
            {row.id: row.body for row in comments},
            {(row.content_id, row.user_id): row.score for row in ratings},
            {row.id: (row.version, row.title) for row in contents},
        )


def lost_and_unexpected_writes(before: Stored, after: Stored, ledger: Ledger) -> list[str]:
    """What the database and the answers disagree on: a write answered as done that is not
    there (lost), or a row no request attempted. An attempt whose answer was not a success
    (a 503 at commit time is in doubt) may or may not be there."""
    problems: list[str] = []
    new_comments = {pk: body for pk, body in after.comments.items() if pk not in before.comments}
    for body, pk in ledger.comments.items():
        if new_comments.get(pk) != body:
            problems.append(f"comment {body!r} answered as added is not stored")
    problems += [
        f"comment {body!r} stored but never attempted"
        for body in new_comments.values()
        if body not in ledger.comments_tried
    ]
    for key in ledger.ratings.keys() | after.ratings.keys():
        possible = _possible_scores(before.ratings.get(key), ledger.ratings.get(key, []))
        if after.ratings.get(key) not in possible:
            problems.append(
                f"rating {key} is {after.ratings.get(key)}; after the answers"
                f" {ledger.ratings.get(key)} it can only be one of {possible}"
            )
    created = {pk: title for title, pk in ledger.created.items()}
    for pk, title in created.items():
        if pk not in after.contents:
            problems.append(f"content {title!r} answered as created is not stored")
    for pk, (_, title) in after.contents.items():
        if pk not in before.contents and pk not in created and title not in ledger.created_tried:
            problems.append(f"content {title!r} stored but never attempted")
    for pk, versions in ledger.updates.items():
        start = before.contents.get(pk, (1, ""))[0]
        version, title = after.contents[pk]
        succeeded, tried = len(versions), ledger.updates_tried[pk]
        if not start + succeeded <= version <= start + tried:
            problems.append(
                f"content {pk} at version {version}: from {start}, {succeeded} updates answered"
                f" as done and {tried} tried"
            )
        elif version in versions and versions[version] != title:
            problems.append(f"content {pk} at version {version} has title {title!r}")
    return problems


def _possible_scores(before: int | None, attempts: list[tuple[int, bool]]) -> set[int | None]:
    """The last score answered as done, or the one before the attempts if none was; then any
    score sent after it whose answer was not a success (it may have been written)."""
    possible: set[int | None] = {before}
    for score, succeeded in attempts:
        possible = {score} if succeeded else possible | {score}
    return possible
