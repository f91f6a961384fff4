"""What each field of the query root loads, in one place for both execution paths.

`Query`'s resolvers (schema.root) and the compiled path (`ROOT_LOADERS`, schema.execution) both
turn a root field's arguments into the same loads: a keyset page of a root list (`LISTS`), rows
by global id (`node`, `nodes`), the viewer and its organization.
"""

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from graphql import GraphQLError

import models
from loaders import Columns, Ordering, Page, PageRequest, Where
from loaders.filters import SearchWhere
from loaders.orderings import CONTENT_ORDERINGS, TAG_ORDERINGS, USER_ORDERINGS, search_ordering
from loaders.statements import key_names
from schema.comment import Comment
from schema.comparisons import narrowed
from schema.content import Attachment, Content, Rating
from schema.context import Context
from schema.errors import BadUserInput
from schema.execution.plan import RootField
from schema.execution.run import PageValue, RootLoader, Runner, Typed
from schema.filters import content_where, plain_text, sorted_by
from schema.node import Key, Node, from_global_id
from schema.organization import Organization
from schema.pagination import page_request
from schema.policy import visible_columns
from schema.tag import Tag
from schema.user import User, UserProfile

MAX_NODES = 100
EMPTY_PAGE = Page([], [], False, False)

# Global id type name -> (model, how to build the GraphQL object from its row).
NODE_TYPES: dict[str, tuple[type[Any], Callable[[Any], Node]]] = {
    "Organization": (models.Organization, Organization.from_row),
    "User": (models.User, User.from_row),
    "Content": (models.Content, Content.from_row),
    "Comment": (models.Comment, Comment.from_row),
    "Tag": (models.Tag, Tag.from_row),
    "Attachment": (models.Attachment, Attachment.from_row),
    "Rating": (models.Rating, Rating.from_row),
    "UserProfile": (models.UserProfile, UserProfile.from_row),
}


@dataclass(frozen=True, slots=True)
class RootList:
    """A root connection: its model, how its arguments order and narrow it."""

    model: type[Any]
    to_node: Callable[[Any], Any]
    ordering: Callable[[dict[str, Any]], Ordering]
    where: Callable[[dict[str, Any]], Where | None] = lambda _args: None

    def request(self, context: Context, args: dict[str, Any]) -> PageRequest:
        return page_request(
            self.ordering(args),
            context.limits,
            visible_columns(context.viewer),
            first=args.get("first"),
            after=args.get("after"),
            last=args.get("last"),
            before=args.get("before"),
            where=self.where(args),
        )


def search_text(args: dict[str, Any]) -> str:
    text = plain_text(args["query"], "query").strip()
    if not text:
        raise BadUserInput("`query` must not be empty", argument="query")
    return text


LISTS: dict[str, RootList] = {
    "users": RootList(
        models.User,
        User.from_row,
        lambda args: sorted_by("User", args, USER_ORDERINGS[args["order_by"].value]),
        lambda args: narrowed(
            args, None if args.get("filter") is None else args["filter"].to_where()
        ),
    ),
    "contents": RootList(
        models.Content,
        Content.from_row,
        lambda args: sorted_by("Content", args, CONTENT_ORDERINGS[args["order_by"].value]),
        lambda args: narrowed(args, content_where(args.get("filter"))),
    ),
    "tags": RootList(models.Tag, Tag.from_row, lambda _args: TAG_ORDERINGS["NAME_ASC"], narrowed),
    "search": RootList(
        models.Content,
        Content.from_row,
        lambda args: sorted_by("Content", args, search_ordering(search_text(args))),
        lambda args: narrowed(args, SearchWhere(search_text(args))),
    ),
}


# Model -> the GraphQL type its rows are answered as.
TYPE_OF_MODEL = {model: type_name for type_name, (model, _) in NODE_TYPES.items()}


def node_key(global_id: str) -> tuple[str, Key]:
    """The type and key an id names: a type that is a node, with a key of as many parts as that
    type's rows have."""
    type_name, key = from_global_id(global_id)
    node_type = NODE_TYPES.get(type_name)
    parts = len(key) if isinstance(key, tuple) else 1
    if node_type is None or parts != len(key_names(node_type[0])):
        raise BadUserInput(f"invalid global id: {global_id!r}", argument="id")
    return type_name, key


def checked_ids(ids: Sequence[str]) -> list[tuple[str, Key]]:
    """Every id checked before any load: one bad id fails the whole field."""
    if len(ids) > MAX_NODES:
        raise BadUserInput(f"at most {MAX_NODES} ids per call", argument="ids")
    return [node_key(global_id) for global_id in ids]


async def node_rows(
    context: Context,
    keys: list[tuple[str, Key]],
    columns_of: Callable[[str], Columns] = lambda _type_name: None,
) -> list[Any]:
    """Rows by type and key, all loads together: one statement per type (with the columns
    `columns_of(type name)` says, all by default)."""
    loaders = context.loaders
    return list(
        await asyncio.gather(
            *(
                loaders.by_key(NODE_TYPES[type_name][0], columns_of(type_name)).load(pk)
                for type_name, pk in keys
            )
        )
    )


async def viewer_row(context: Context, columns: Columns = None) -> Any:
    row = await context.loaders.by_key(models.User, columns).load(context.viewer.id)
    if row is None:  # checked active when the request began: only a concurrent delete
        raise GraphQLError("the viewer no longer exists", extensions={"code": "UNAUTHENTICATED"})
    return row


async def organization_row(context: Context, columns: Columns = None) -> Any:
    loader = context.loaders.by_key(models.Organization, columns)
    row = await loader.load(context.viewer.organization_id)
    if row is None:
        raise GraphQLError(
            "the organization no longer exists", extensions={"code": "UNAUTHENTICATED"}
        )
    return row


# --- the compiled path's loads ----------------------------------------------------------------


async def _viewer(runner: Runner, _field: RootField, _args: dict[str, Any]) -> Any:
    return await viewer_row(runner.context, runner.plan.columns_of("User"))


async def _organization(runner: Runner, _field: RootField, _args: dict[str, Any]) -> Any:
    return await organization_row(runner.context, runner.plan.columns_of("Organization"))


async def _node(runner: Runner, _field: RootField, args: dict[str, Any]) -> Any:
    key = node_key(args["id"])
    (row,) = await node_rows(runner.context, [key], runner.plan.columns_of)
    return None if row is None else Typed(key[0], row)


async def _nodes(runner: Runner, _field: RootField, args: dict[str, Any]) -> Any:
    keys = checked_ids(args["ids"])
    rows = await node_rows(runner.context, keys, runner.plan.columns_of)
    return [
        None if row is None else Typed(type_name, row)
        for (type_name, _), row in zip(keys, rows, strict=True)
    ]


def _list(name: str) -> RootLoader:
    spec = LISTS[name]

    async def load(runner: Runner, field: RootField, args: dict[str, Any]) -> PageValue:
        context: Context = runner.context
        request = spec.request(context, args)
        connection = field.connection
        assert connection is not None
        loaders = context.loaders
        columns = runner.plan.columns_of(TYPE_OF_MODEL[spec.model])
        page = (
            await loaders.root_page(spec.model, request, columns)
            if connection.paged
            else EMPTY_PAGE
        )
        total = (
            await loaders.count_root(spec.model, request.where, request.view)
            if connection.counted
            else None
        )
        return PageValue(page, request.ordering, total)

    return load


ROOT_LOADERS: dict[str, RootLoader] = {
    "viewer": _viewer,
    "organization": _organization,
    "node": _node,
    "nodes": _nodes,
    **{name: _list(name) for name in LISTS},
}
