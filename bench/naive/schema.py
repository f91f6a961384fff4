"""The naive baseline's schema: the bench scenarios' fields, each resolved by its own query.

Types, field names, global ids and answers are the server's, so the harness can compare them.
"""

from __future__ import annotations

import asyncio
import base64
from dataclasses import dataclass
from decimal import Decimal
from enum import Enum
from typing import Any, Generic, TypeVar
from uuid import UUID, uuid4

import asyncpg
import strawberry
from graphql import GraphQLError
from strawberry.extensions import ParserCache, ValidationCache

from bench.naive.sql import (
    ADD_COMMENT,
    CONTENT_BY_ID,
    CONTENT_FOR_WRITE,
    CONTENTS_BY_AUTHOR,
    PROFILE,
    RATE,
    RATING_SUMMARY,
    REPLIES,
    ROOT_CONTENTS,
    SEARCH,
    TAGS,
    THREADS,
    USER_BY_ID,
    USERS,
)

T = TypeVar("T")
MAX_PAGE, DEFAULT_PAGE = 100, 20


class RequestDB:
    """The request's one connection: resolvers run concurrently, so they take turns on it."""

    __slots__ = ("connection", "lock", "statements")

    def __init__(self, connection: asyncpg.Connection) -> None:
        self.connection = connection
        self.lock = asyncio.Lock()
        self.statements = 0

    async def fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        async with self.lock:
            self.statements += 1
            return list(await self.connection.fetch(sql, *args))

    async def fetchrow(self, sql: str, *args: Any) -> asyncpg.Record | None:
        rows = await self.fetch(sql, *args)
        return rows[0] if rows else None


@dataclass(frozen=True, slots=True)
class Context:
    db: RequestDB
    tenant: UUID
    viewer: UUID
    admin: bool

    @property
    def policy(self) -> tuple[UUID, UUID, bool]:
        return self.tenant, self.viewer, self.admin


Info = strawberry.Info[Context, None]


def global_id(type_name: str, pk: UUID) -> strawberry.ID:
    return strawberry.ID(
        base64.urlsafe_b64encode(f"{type_name}:{pk}".encode()).decode().rstrip("=")
    )


def from_global_id(value: str, type_name: str) -> UUID | None:
    try:
        kind, _, raw = (
            base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode().partition(":")
        )
        return UUID(raw) if kind == type_name else None
    except ValueError:
        return None


def page_size(first: int | None) -> int:
    if first is not None and not 0 <= first <= MAX_PAGE:
        raise GraphQLError(
            f"`first` must be between 0 and {MAX_PAGE}", extensions={"code": "BAD_USER_INPUT"}
        )
    return DEFAULT_PAGE if first is None else first


@strawberry.enum
class ContentOrder(Enum):
    CREATED_AT_DESC = "desc"
    CREATED_AT_ASC = "asc"


@strawberry.type
class Edge(Generic[T]):
    node: T


@strawberry.type
class Connection(Generic[T]):
    edges: list[Edge[T]]

    @classmethod
    def of(cls, nodes: list[Any]) -> Connection[Any]:
        return Connection(edges=[Edge(node=node) for node in nodes])


@strawberry.interface
class Node:
    id: strawberry.ID


@strawberry.type
class UserProfile:
    bio: str | None


@strawberry.type
class Tag:
    name: str


@strawberry.type
class RatingSummary:
    count: int
    average: float | None


@strawberry.type
class User(Node):
    id: strawberry.ID
    username: str
    pk: strawberry.Private[UUID]

    @classmethod
    def from_row(cls, row: asyncpg.Record) -> User:
        return cls(id=global_id("User", row["id"]), username=row["username"], pk=row["id"])

    @strawberry.field
    async def profile(self, info: Info) -> UserProfile | None:
        row = await info.context.db.fetchrow(PROFILE, info.context.tenant, self.pk)
        return None if row is None else UserProfile(bio=row["bio"])

    @strawberry.field
    async def contents(
        self,
        info: Info,
        first: int | None = None,
        order_by: ContentOrder = ContentOrder.CREATED_AT_DESC,
    ) -> Connection[Content]:
        sql = CONTENTS_BY_AUTHOR.format(direction=order_by.value)
        rows = await info.context.db.fetch(sql, *info.context.policy, self.pk, page_size(first))
        return Connection.of([Content.from_row(row) for row in rows])


async def user_by_id(info: Info, pk: UUID) -> User | None:
    row = await info.context.db.fetchrow(USER_BY_ID, info.context.tenant, pk)
    return None if row is None else User.from_row(row)


@strawberry.type
class Comment(Node):
    id: strawberry.ID
    body: str
    pk: strawberry.Private[UUID]
    author_id: strawberry.Private[UUID]

    @classmethod
    def from_row(cls, row: asyncpg.Record) -> Comment:
        return cls(
            id=global_id("Comment", row["id"]),
            body=row["body"],
            pk=row["id"],
            author_id=row["author_id"],
        )

    @strawberry.field
    async def author(self, info: Info) -> User | None:
        return await user_by_id(info, self.author_id)

    @strawberry.field
    async def replies(self, info: Info, first: int | None = None) -> Connection[Comment]:
        rows = await info.context.db.fetch(REPLIES, *info.context.policy, self.pk, page_size(first))
        return Connection.of([Comment.from_row(row) for row in rows])


@strawberry.type
class Content(Node):
    id: strawberry.ID
    title: str
    summary: str | None
    difficulty: str
    pk: strawberry.Private[UUID]
    author_id: strawberry.Private[UUID]

    @classmethod
    def from_row(cls, row: asyncpg.Record) -> Content:
        return cls(
            id=global_id("Content", row["id"]),
            title=row["title"],
            summary=row["summary"],
            difficulty=row["difficulty"],
            pk=row["id"],
            author_id=row["author_id"],
        )

    @strawberry.field
    async def author(self, info: Info) -> User | None:
        return await user_by_id(info, self.author_id)

    @strawberry.field
    async def tags(self, info: Info) -> list[Tag]:
        rows = await info.context.db.fetch(TAGS, info.context.tenant, self.pk)
        return [Tag(name=row["name"]) for row in rows]

    @strawberry.field
    async def rating_summary(self, info: Info) -> RatingSummary:
        row = await info.context.db.fetchrow(RATING_SUMMARY, *info.context.policy, self.pk)
        assert row is not None  # an aggregate always has a row
        average = None if row["average"] is None else float(round(Decimal(row["average"]), 4))
        return RatingSummary(count=row["count"], average=average)

    @strawberry.field
    async def comments(self, info: Info, first: int | None = None) -> Connection[Comment]:
        rows = await info.context.db.fetch(THREADS, *info.context.policy, self.pk, page_size(first))
        return Connection.of([Comment.from_row(row) for row in rows])


@strawberry.type
class Query:
    @strawberry.field
    async def contents(
        self,
        info: Info,
        first: int | None = None,
        order_by: ContentOrder = ContentOrder.CREATED_AT_DESC,
    ) -> Connection[Content]:
        sql = ROOT_CONTENTS.format(direction=order_by.value)
        rows = await info.context.db.fetch(sql, *info.context.policy, page_size(first))
        return Connection.of([Content.from_row(row) for row in rows])

    @strawberry.field
    async def node(self, info: Info, id: strawberry.ID) -> Node | None:
        pk = from_global_id(id, "Content")
        if pk is None:
            return None
        row = await info.context.db.fetchrow(CONTENT_BY_ID, *info.context.policy, pk)
        return None if row is None else Content.from_row(row)

    @strawberry.field
    async def search(self, info: Info, query: str, first: int | None = None) -> Connection[Content]:
        rows = await info.context.db.fetch(SEARCH, *info.context.policy, query, page_size(first))
        return Connection.of([Content.from_row(row) for row in rows])

    @strawberry.field
    async def users(self, info: Info, first: int | None = None) -> Connection[User]:
        rows = await info.context.db.fetch(USERS, info.context.tenant, page_size(first))
        return Connection.of([User.from_row(row) for row in rows])


@strawberry.type
class UserError:
    field: list[str] | None
    message: str
    code: str


@strawberry.type
class Rating:
    score: int


@strawberry.type
class AddCommentPayload:
    comment: Comment | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class RateContentPayload:
    rating: Rating | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.input
class AddCommentInput:
    content_id: strawberry.ID
    body: str
    parent_id: strawberry.ID | None = None


@strawberry.input
class RateContentInput:
    content_id: strawberry.ID
    score: int


def refused(code: str, message: str) -> list[UserError]:
    return [UserError(field=["input", "contentId"], message=message, code=code)]


@strawberry.type
class Mutation:
    @strawberry.mutation
    async def add_comment(self, info: Info, input: AddCommentInput) -> AddCommentPayload:
        context, pk = info.context, from_global_id(input.content_id, "Content")
        content = (
            None
            if pk is None
            else await context.db.fetchrow(CONTENT_FOR_WRITE, *context.policy, pk)
        )
        if content is None:
            return AddCommentPayload(user_errors=refused("NOT_FOUND", "no content with this id"))
        if content["status"] != "PUBLISHED" and not (
            context.admin or content["author_id"] == context.viewer
        ):
            return AddCommentPayload(user_errors=refused("FORBIDDEN", "not published"))
        if input.parent_id is not None or not input.body.strip():
            return AddCommentPayload(
                user_errors=refused("INVALID", "replies are not in this baseline")
            )
        row = await context.db.fetchrow(
            ADD_COMMENT, context.tenant, uuid4(), pk, context.viewer, input.body
        )
        assert row is not None
        return AddCommentPayload(comment=Comment.from_row(row))

    @strawberry.mutation
    async def rate_content(self, info: Info, input: RateContentInput) -> RateContentPayload:
        context, pk = info.context, from_global_id(input.content_id, "Content")
        content = (
            None
            if pk is None
            else await context.db.fetchrow(CONTENT_FOR_WRITE, *context.policy, pk)
        )
        if content is None or content["status"] != "PUBLISHED":
            return RateContentPayload(
                user_errors=refused("NOT_FOUND", "no published content with this id")
            )
        if not 1 <= input.score <= 5:
            return RateContentPayload(user_errors=refused("INVALID", "score must be 1-5"))
        row = await context.db.fetchrow(RATE, context.tenant, pk, context.viewer, input.score)
        assert row is not None
        return RateContentPayload(rating=Rating(score=row["score"]))


schema = strawberry.Schema(
    query=Query,
    mutation=Mutation,
    types=[Content, User, Comment],
    extensions=[lambda: ParserCache(maxsize=100), lambda: ValidationCache(maxsize=100)],
)
