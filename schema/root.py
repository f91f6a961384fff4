"""The query root, assembled into one `strawberry.Schema` with its execution planner."""

from collections.abc import Sequence
from typing import Any

import strawberry
from strawberry.scalars import JSON

from schema.aggregates import ContentAggregate, UserAggregate, aggregate_of
from schema.comment import Comment
from schema.connections import ContentConnection, TagConnection, UserConnection
from schema.content import Attachment
from schema.context import Info
from schema.execution import EventCursor, EventExecutor, Schema
from schema.execution.catalog import build_catalog, fields_of, held_by
from schema.execution.planner import Planner
from schema.execution.prefetch import RELATIONS
from schema.execution.resolution import install as install_resolvers
from schema.execution.run import RootLoader, Runner
from schema.filters import ContentFilter, ContentOrder, UserFilter, UserOrder
from schema.json_value import JSONScalar
from schema.node import Node, to_global_id
from schema.organization import Organization
from schema.pagination import Connection
from schema.relations import Attribute, prefetched, root_connection
from schema.roots import (
    LISTS,
    NODE_TYPES,
    ROOT_LOADERS,
    checked_ids,
    node_rows,
    organization_row,
    viewer_row,
)
from schema.sorting import ContentSort, TagSort, UserSort
from schema.source import Source
from schema.user import User
from schema.where import ContentWhere, TagWhere, UserWhere


async def _resolve_nodes(info: Info, global_ids: Sequence[str]) -> list[Node | None]:
    keys = checked_ids(global_ids)
    rows = await node_rows(info.context, keys)
    nodes = [
        None if row is None else NODE_TYPES[type_name][1](row)
        for (type_name, _), row in zip(keys, rows, strict=True)
    ]
    await prefetched(info, [node for node in nodes if node is not None])
    return nodes


async def _root_list(info: Info, name: str, args: dict[str, Any]) -> Connection[Any]:
    spec = LISTS[name]
    request = spec.request(info.context, args)
    return await root_connection(info, spec.model, request, spec.to_node)


async def _root_aggregate(info: Info, name: str, type_name: str, filter: Any, where: Any) -> Any:
    spec = LISTS[name]
    narrowing = spec.where({"filter": filter, "where": where})
    return await aggregate_of(info, type_name, Source(spec.model, narrowing))


@strawberry.type
class Query:
    @strawberry.field(description="The signed-in user.")
    async def viewer(self, info: Info) -> User:
        user = User.from_row(await viewer_row(info.context))
        await prefetched(info, [user])
        return user

    @strawberry.field(description="The viewer's organization.")
    async def organization(self, info: Info) -> Organization:
        return Organization.from_row(await organization_row(info.context))

    @strawberry.field(description="Any object by its global id; null when it is not visible.")
    async def node(self, info: Info, id: strawberry.ID) -> Node | None:
        (node,) = await _resolve_nodes(info, [id])
        return node

    @strawberry.field(description="Objects by global ids, in order; null for those not visible.")
    async def nodes(self, info: Info, ids: list[strawberry.ID]) -> list[Node | None]:
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
        where: UserWhere | None = None,  # type: ignore[valid-type]
        sort: list[UserSort] | None = None,  # type: ignore[valid-type]
    ) -> UserConnection:  # type: ignore[valid-type]
        args = {"first": first, "after": after, "last": last, "before": before}
        narrowing = {"order_by": order_by, "filter": filter, "where": where, "sort": sort}
        return await _root_list(info, "users", {**args, **narrowing})

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
        where: ContentWhere | None = None,  # type: ignore[valid-type]
        sort: list[ContentSort] | None = None,  # type: ignore[valid-type]
    ) -> ContentConnection:  # type: ignore[valid-type]
        args = {"first": first, "after": after, "last": last, "before": before}
        narrowing = {"order_by": order_by, "filter": filter, "where": where, "sort": sort}
        return await _root_list(info, "contents", {**args, **narrowing})

    @strawberry.field(
        description="Aggregates of the contents `contents` lists with the same filters.",
        deprecation_reason="Use `contents(...) { aggregate { ... } }`: the same, on the list.",
    )
    async def contents_aggregate(
        self,
        info: Info,
        filter: ContentFilter | None = None,
        where: ContentWhere | None = None,  # type: ignore[valid-type]
    ) -> ContentAggregate:  # type: ignore[valid-type]
        return await _root_aggregate(info, "contents", "Content", filter, where)

    @strawberry.field(
        description="Aggregates of the users `users` lists with the same filters.",
        deprecation_reason="Use `users(...) { aggregate { ... } }`: the same, on the list.",
    )
    async def users_aggregate(
        self,
        info: Info,
        filter: UserFilter | None = None,
        where: UserWhere | None = None,  # type: ignore[valid-type]
    ) -> UserAggregate:  # type: ignore[valid-type]
        return await _root_aggregate(info, "users", "User", filter, where)

    @strawberry.field(description="Tags of the organization, by name.")
    async def tags(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
        where: TagWhere | None = None,  # type: ignore[valid-type]
        sort: list[TagSort] | None = None,  # type: ignore[valid-type]
    ) -> TagConnection:  # type: ignore[valid-type]
        args = {"first": first, "after": after, "last": last, "before": before}
        return await _root_list(info, "tags", {**args, "where": where, "sort": sort})

    @strawberry.field(
        description="Full-text search over the contents the viewer may see, best first"
        " (or in the order `sort` gives)."
    )
    async def search(
        self,
        info: Info,
        query: str,
        first: int | None = None,
        after: str | None = None,
        where: ContentWhere | None = None,  # type: ignore[valid-type]
        sort: list[ContentSort] | None = None,  # type: ignore[valid-type]
    ) -> ContentConnection:  # type: ignore[valid-type]
        args = {"query": query, "first": first, "after": after, "where": where, "sort": sort}
        return await _root_list(info, "search", args)


from schema.mutations import Mutation  # noqa: E402 - mutations build on the types above
from schema.mutations.run import PERFORMED, Performed  # noqa: E402
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


def _performing(performed: Performed) -> RootLoader:
    """A mutation field as the compiled path runs it: the mutation, then its payload's plan."""

    async def perform(runner: Runner, _field: Any, arguments: dict[str, Any]) -> Any:
        return await performed(runner.context, arguments["input"])

    return perform


# After every type module registered its relations (they are imported above).
install_resolvers(schema)
_payloads = held_by(
    schema, "Mutation", rows=frozenset(NODE_TYPES), registered=RELATIONS, attribute=Attribute
)
_MUTATIONS = {
    name: _performing(field.metadata[PERFORMED])
    for name, field in fields_of(schema, "Mutation").items()
}
assert not _MUTATIONS.keys() & ROOT_LOADERS.keys()
schema.planner = Planner(
    schema,
    build_catalog(
        schema._schema,
        models={name: model for name, (model, _) in NODE_TYPES.items()},
        objects=frozenset({"RatingSummary", "ContentChangeEvent"}) | _payloads.objects,
        relations={
            name: {**RELATIONS.get(name, {}), **_payloads.relations.get(name, {})}
            for name in RELATIONS.keys() | _payloads.relations.keys()
        }
        | {"ContentChangeEvent": {"content": Attribute("content")}},
        roots=frozenset(ROOT_LOADERS),
        global_id=to_global_id,
        mutations=frozenset(_MUTATIONS),
        resolved=_payloads.resolved,
    ),
    {**ROOT_LOADERS, **_MUTATIONS},
)
