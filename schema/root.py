"""The query root, assembled into one `strawberry.Schema`."""

import asyncio
from collections.abc import Callable, Sequence
from typing import Any
from uuid import UUID

import strawberry
from graphql import GraphQLError
from strawberry.scalars import JSON

import models
from loaders.filters import SearchWhere
from loaders.orderings import CONTENT_ORDERINGS, TAG_ORDERINGS, USER_ORDERINGS, search_ordering
from schema.comment import Comment
from schema.content import Attachment, Content
from schema.context import Info
from schema.errors import BadUserInput
from schema.execution import EventCursor, EventExecutor, Schema
from schema.filters import (
    ContentFilter,
    ContentOrder,
    UserFilter,
    UserOrder,
    content_where,
    plain_text,
)
from schema.json_value import JSONScalar
from schema.node import Node, from_global_id
from schema.organization import Organization
from schema.pagination import Connection
from schema.relations import prefetched, root_connection
from schema.resolution import install as install_resolvers
from schema.tag import Tag
from schema.user import User

MAX_NODES = 100

# Global id type name -> (model, how to build the GraphQL object from its row).
NODE_TYPES: dict[str, tuple[type[Any], Callable[[Any], Node]]] = {
    "Organization": (models.Organization, Organization.from_row),
    "User": (models.User, User.from_row),
    "Content": (models.Content, Content.from_row),
    "Comment": (models.Comment, Comment.from_row),
    "Tag": (models.Tag, Tag.from_row),
    "Attachment": (models.Attachment, Attachment.from_row),
}


def _node_key(global_id: str) -> tuple[type[Any], Callable[[Any], Node], UUID]:
    type_name, pk = from_global_id(global_id)
    if type_name not in NODE_TYPES:
        raise BadUserInput(f"invalid global id: {global_id!r}", argument="id")
    model, to_node = NODE_TYPES[type_name]
    return model, to_node, pk


async def _resolve_nodes(info: Info, global_ids: Sequence[str]) -> list[Node | None]:
    # Every id is checked before any load, then all loads run together: one statement per type.
    keys = [_node_key(global_id) for global_id in global_ids]
    loaders = info.context.loaders
    rows = await asyncio.gather(*(loaders.by_key(model).load(pk) for model, _, pk in keys))
    nodes = [
        None if row is None else to_node(row)
        for (_, to_node, _), row in zip(keys, rows, strict=True)
    ]
    await prefetched(info, [node for node in nodes if node is not None])
    return nodes


@strawberry.type
class Query:
    @strawberry.field(description="The signed-in user.")
    async def viewer(self, info: Info) -> User:
        row = await info.context.loaders.by_key(models.User).load(info.context.viewer.id)
        if row is None:  # checked active when the request began: only a concurrent delete
            raise GraphQLError(
                "the viewer no longer exists", extensions={"code": "UNAUTHENTICATED"}
            )
        user = User.from_row(row)
        await prefetched(info, [user])
        return user

    @strawberry.field(description="The viewer's organization.")
    async def organization(self, info: Info) -> Organization:
        loader = info.context.loaders.by_key(models.Organization)
        row = await loader.load(info.context.viewer.organization_id)
        if row is None:
            raise GraphQLError(
                "the organization no longer exists", extensions={"code": "UNAUTHENTICATED"}
            )
        return Organization.from_row(row)

    @strawberry.field(description="Any object by its global id; null when it is not visible.")
    async def node(self, info: Info, id: strawberry.ID) -> Node | None:
        (node,) = await _resolve_nodes(info, [id])
        return node

    @strawberry.field(description="Objects by global ids, in order; null for those not visible.")
    async def nodes(self, info: Info, ids: list[strawberry.ID]) -> list[Node | None]:
        if len(ids) > MAX_NODES:
            raise BadUserInput(f"at most {MAX_NODES} ids per call", argument="ids")
        return await _resolve_nodes(info, ids)

    @strawberry.field(description="Users of the organization.")
    async def users(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
        order_by: UserOrder = UserOrder.CREATED_AT_ASC,
        filter: UserFilter | None = None,
    ) -> Connection[User]:
        return await root_connection(
            info,
            models.User,
            USER_ORDERINGS[order_by.value],
            User.from_row,
            first=first,
            after=after,
            last=last,
            before=before,
            where=None if filter is None else filter.to_where(),
        )

    @strawberry.field(description="Contents the viewer may see.")
    async def contents(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
        order_by: ContentOrder = ContentOrder.CREATED_AT_DESC,
        filter: ContentFilter | None = None,
    ) -> Connection[Content]:
        return await root_connection(
            info,
            models.Content,
            CONTENT_ORDERINGS[order_by.value],
            Content.from_row,
            first=first,
            after=after,
            last=last,
            before=before,
            where=content_where(filter),
        )

    @strawberry.field(description="Tags of the organization, by name.")
    async def tags(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[Tag]:
        return await root_connection(
            info,
            models.Tag,
            TAG_ORDERINGS["NAME_ASC"],
            Tag.from_row,
            first=first,
            after=after,
            last=last,
            before=before,
        )

    @strawberry.field(
        description="Full-text search over the contents the viewer may see, best first."
    )
    async def search(
        self, info: Info, query: str, first: int | None = None, after: str | None = None
    ) -> Connection[Content]:
        text = plain_text(query, "query").strip()
        if not text:
            raise BadUserInput("`query` must not be empty", argument="query")
        return await root_connection(
            info,
            models.Content,
            search_ordering(text),
            Content.from_row,
            first=first,
            after=after,
            last=None,
            before=None,
            where=SearchWhere(text),
        )


from schema.mutations import Mutation  # noqa: E402 - mutations build on the types above
from schema.subscriptions import Subscription  # noqa: E402 - and so do these

schema = Schema(
    query=Query,
    mutation=Mutation,
    subscription=Subscription,
    types=[Comment, Attachment, Organization],
    execution_context_class=EventExecutor,  # each subscription event in a context of its own
    scalar_overrides={JSON: JSONScalar},
    extensions=[EventCursor],  # extensions.cursor on subscription events
)

# After every type module registered its relations (they are imported above).
install_resolvers(schema)
