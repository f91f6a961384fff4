"""Relationship fields as relations: loaded for a whole level at once, or for one object.

Each relation reads its parents' keys and asks the request's loaders for all of them in one
call, so the same code serves the look-ahead of `schema.execution.prefetch` (many parents) and a
field resolved on its own (one parent); both end in the same batch statement.
"""

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from aiodataloader import DataLoader
from graphql import FieldNode, SelectionSetNode
from sqlalchemy.orm import InstrumentedAttribute

from loaders import Loaders, Ordering, Page, PageRequest, Where
from schema.context import Info
from schema.execution.prefetch import field_nodes, prefetch, selected_names, subselections
from schema.pagination import Connection, connection, page_request
from schema.policy import visible_columns
from schema.source import Source

ToNode = Callable[[Any], Any]
# What a connection answers without its page's rows.
_NOT_PAGED = frozenset({"totalCount", "aggregate", "__typename"})


async def load_all(loader: DataLoader[Any, Any], keys: list[Any]) -> list[Any]:
    """Values for `keys`: one batch for a whole level, or the loader itself for one key.

    A level's keys are all known at once, so they go to the batch function directly, without
    the loader's future per key; a single key (a field resolved on its own) goes through the
    loader, which batches it with the other fields waiting at the same moment.
    """
    if len(keys) == 1:
        return [await loader.load(keys[0])]
    unique = list(dict.fromkeys(keys))
    values = dict(zip(unique, await loader.batch_load_fn(unique), strict=True))
    return [values[key] for key in keys]


def nodes_of(to_node: ToNode) -> Callable[[Any], Any]:
    """`to_node` that builds one object per row: parents sharing a row share its object."""
    built: dict[int, Any] = {}

    def node(row: Any) -> Any:
        found = built.get(id(row))
        if found is None:
            found = built[id(row)] = to_node(row)
        return found

    return node


@dataclass(frozen=True, slots=True)
class One:
    """A to-one edge: `Content.author`, `User.profile`, `Comment.parent`."""

    attribute: InstrumentedAttribute[Any]
    key: str  # attribute of the parent object holding the loader key
    to_node: ToNode
    include_deleted: bool = False
    # When this says no for a parent, its value is null without a lookup.
    applies: Callable[[Any], bool] | None = None

    async def fetch(
        self, info: Info, parents: Sequence[Any], args: dict[str, Any], nodes: list[FieldNode]
    ) -> list[Any]:
        loader = info.context.loaders.related(self.attribute, include_deleted=self.include_deleted)
        keys = [
            getattr(parent, self.key) if self.applies is None or self.applies(parent) else None
            for parent in parents
        ]
        found = iter(await load_all(loader, [key for key in keys if key is not None]))
        rows = [None if key is None else next(found) for key in keys]
        to_node = nodes_of(self.to_node)
        return [None if row is None else to_node(row) for row in rows]

    def children(self, values: Sequence[Any]) -> Iterable[Any]:
        return _unique(value for value in values if value is not None)

    def child_selections(self, nodes: list[FieldNode]) -> list[SelectionSetNode]:
        return subselections(nodes)


def _unique(objects: Iterable[Any]) -> list[Any]:
    return list({id(obj): obj for obj in objects}.values())


@dataclass(frozen=True, slots=True)
class Many:
    """A short to-many edge returned as a plain list: `Content.tags`, `Content.attachments`."""

    attribute: InstrumentedAttribute[Any]
    key: str
    to_node: ToNode

    async def fetch(
        self, info: Info, parents: Sequence[Any], args: dict[str, Any], nodes: list[FieldNode]
    ) -> list[Any]:
        loader = info.context.loaders.related(self.attribute)
        lists = await load_all(loader, [getattr(parent, self.key) for parent in parents])
        to_node = nodes_of(self.to_node)
        return [[to_node(row) for row in rows] for rows in lists]

    def children(self, values: Sequence[Any]) -> Iterable[Any]:
        return _unique(node for nodes in values for node in nodes)

    def child_selections(self, nodes: list[FieldNode]) -> list[SelectionSetNode]:
        return subselections(nodes)


@dataclass(frozen=True, slots=True)
class PageOfMany:
    """A to-many edge as a connection: the first N children of every parent in one statement."""

    attribute: InstrumentedAttribute[Any]
    key: str
    to_node: ToNode
    ordering: Callable[[dict[str, Any]], Ordering]
    where: Callable[[dict[str, Any]], Where | None] = lambda _args: None

    async def fetch(
        self, info: Info, parents: Sequence[Any], args: dict[str, Any], nodes: list[FieldNode]
    ) -> list[Any]:
        loaders = info.context.loaders
        ordering, where = self.ordering(args), self.where(args)
        view = visible_columns(info.context.viewer)
        request = page_request(
            ordering,
            info.context.limits,
            view,
            first=args.get("first"),
            after=args.get("after"),
            last=args.get("last"),
            before=args.get("before"),
            where=where,
        )
        keys = [getattr(parent, self.key) for parent in parents]
        wanted = selected_names(info, nodes)
        pages: list[Page] = (
            await load_all(loaders.page(self.attribute, request), keys)
            if wanted - _NOT_PAGED
            else [Page([], [], False, False)] * len(keys)
        )
        totals: list[int | None] = (
            await load_all(loaders.count(self.attribute, where, view), keys)
            if "totalCount" in wanted
            else [None] * len(keys)
        )
        model = self.attribute.property.mapper.class_
        return [
            connection(
                page,
                ordering,
                self.to_node,
                _counter(loaders, self, request, key),
                total,
                Source(model, where, self.attribute, key),
            )
            for page, key, total in zip(pages, keys, totals, strict=True)
        ]

    def children(self, values: Sequence[Any]) -> Iterable[Any]:
        return (edge.node for value in values for edge in value.edges)

    def child_selections(self, nodes: list[FieldNode]) -> list[SelectionSetNode]:
        return subselections(nodes, "edges", "node") + subselections(nodes, "nodes")


def _counter(loaders: Loaders, relation: PageOfMany, request: PageRequest, key: Any) -> Any:
    async def count_total() -> int:
        counter = loaders.count(relation.attribute, request.where, request.view)
        return int(await counter.load(key))

    return count_total


@dataclass(frozen=True, slots=True)
class Value:
    """A computed value per parent from a batch loader: counts, summaries, the viewer's rating."""

    loader: Callable[[Loaders], DataLoader[Any, Any]]
    key: str
    convert: Callable[[Any], Any]
    child_nodes: bool = False  # whether the values are GraphQL objects with relations

    async def fetch(
        self, info: Info, parents: Sequence[Any], args: dict[str, Any], nodes: list[FieldNode]
    ) -> list[Any]:
        loader = self.loader(info.context.loaders)
        values = await load_all(loader, [getattr(parent, self.key) for parent in parents])
        return [self.convert(value) for value in values]

    def children(self, values: Sequence[Any]) -> Iterable[Any]:
        return (value for value in values if value is not None) if self.child_nodes else ()

    def child_selections(self, nodes: list[FieldNode]) -> list[SelectionSetNode]:
        return subselections(nodes) if self.child_nodes else []


@dataclass(frozen=True, slots=True)
class Attribute:
    """An object its parent already holds (an event's content), for compiled execution: the
    standard path reads the payload object's attribute itself."""

    key: str  # the parent's attribute holding it


async def root_connection(
    info: Info, model: type[Any], request: PageRequest, to_node: ToNode
) -> Connection[Any]:
    """A root list as a connection, with the selected relations of its nodes prefetched."""
    loaders = info.context.loaders
    nodes = field_nodes(info)
    page = (
        await loaders.root_page(model, request)
        if selected_names(info, nodes) - _NOT_PAGED
        else Page([], [], False, False)
    )

    async def count_total() -> int:
        return await loaders.count_root(model, request.where, request.view)

    source = Source(model, request.where)
    result = connection(page, request.ordering, to_node, count_total, source=source)
    await prefetch(
        info,
        [edge.node for edge in result.edges],
        subselections(nodes, "edges", "node") + subselections(nodes, "nodes"),
    )
    return result


async def prefetched(info: Info, objects: Sequence[Any]) -> None:
    """Prefetch the relations selected on objects returned directly by the current field."""
    await prefetch(info, objects, subselections(field_nodes(info)))
