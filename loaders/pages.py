"""Keyset pages: a root list in one statement, or the first N children of every parent in one.

Per-parent pages number each parent's rows with `row_number() OVER (PARTITION BY link ORDER BY
...)` and keep the first N+1 of each partition; the extra row says whether there is a next page.
Cursors are the values of the order's sort keys (the primary key last), compared as a row value,
so no OFFSET is ever used.
"""

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from aiodataloader import DataLoader
from sqlalchemy import ColumnElement, Select, func, select, tuple_

from loaders.edges import Edge
from loaders.metrics import measured
from loaders.session import RequestDB
from loaders.statements import edge_select, row_columns, where_options
from loaders.visibility import ColumnView

SortKey = Callable[[Any, ColumnView], ColumnElement[Any]]


class Where(Protocol):
    """A hashable filter value that turns into SQL criteria on a model, as a viewer sees it."""

    def criteria(self, model: Any, view: ColumnView) -> list[ColumnElement[bool]]: ...


@dataclass(frozen=True, slots=True)
class Ordering:
    """Sort keys of one direction, the last one unique (the tie breaker, usually `id`).

    `types` are the Python types of the keys' values, used to check cursors before they
    reach SQL.
    """

    name: str
    keys: tuple[SortKey, ...]
    types: tuple[type, ...]
    descending: bool = False

    def expressions(self, model: Any, view: ColumnView) -> list[ColumnElement[Any]]:
        return [key(model, view) for key in self.keys]


@dataclass(frozen=True, slots=True)
class PageRequest:
    ordering: Ordering
    view: ColumnView  # the viewer's: what its ordering and filter may read
    first: int | None = None
    last: int | None = None
    after: tuple[Any, ...] | None = None
    before: tuple[Any, ...] | None = None
    where: Where | None = None
    default_size: int = 20

    @property
    def backwards(self) -> bool:
        return self.last is not None and self.first is None

    @property
    def size(self) -> int:
        size = self.last if self.backwards else self.first
        return self.default_size if size is None else size


@dataclass(frozen=True, slots=True)
class Page:
    rows: list[Any]
    sort_values: list[tuple[Any, ...]]
    has_next: bool
    has_previous: bool


@dataclass(slots=True)
class _Collected:
    rows: list[Any] = field(default_factory=list)
    values: list[tuple[Any, ...]] = field(default_factory=list)


def _filtered(statement: Select[Any], model: Any, request: PageRequest) -> Select[Any]:
    sort = request.ordering.expressions(model, request.view)
    ascending = not request.ordering.descending
    if request.after is not None:
        row, cursor = tuple_(*sort), tuple_(*request.after)
        statement = statement.where(row > cursor if ascending else row < cursor)
    if request.before is not None:
        row, cursor = tuple_(*sort), tuple_(*request.before)
        statement = statement.where(row < cursor if ascending else row > cursor)
    if request.where is not None:
        statement = statement.where(*request.where.criteria(model, request.view))
    return statement


def _sort_order(model: Any, request: PageRequest) -> list[ColumnElement[Any]]:
    # Walking backwards reads the order in reverse, then the page is flipped back.
    descending = request.ordering.descending != request.backwards
    sort = request.ordering.expressions(model, request.view)
    return [expression.desc() if descending else expression.asc() for expression in sort]


def _page(collected: _Collected, request: PageRequest) -> Page:
    rows, values = collected.rows, collected.values
    more = len(rows) > request.size
    rows, values = rows[: request.size], values[: request.size]
    if request.backwards:
        rows.reverse()
        values.reverse()
        return Page(rows, values, has_next=request.before is not None, has_previous=more)
    return Page(rows, values, has_next=more, has_previous=request.after is not None)


async def root_page(db: RequestDB, model: Any, request: PageRequest) -> Page:
    sort = request.ordering.expressions(model, request.view)
    columns = row_columns(model)
    statement = select(*columns, *sort)
    statement = _filtered(statement, model, request)
    statement = statement.order_by(*_sort_order(model, request)).limit(request.size + 1)
    collected = _Collected()
    width = len(columns)
    for row in await db.all(statement, **where_options(request.where)):
        collected.rows.append(row)
        collected.values.append(tuple(row[width:]))
    return _page(collected, request)


async def count_root(db: RequestDB, model: Any, where: Where | None, view: ColumnView) -> int:
    statement = select(func.count()).select_from(model)
    if where is not None:
        statement = statement.where(*where.criteria(model, view))
    return int((await db.execute(statement, **where_options(where))).scalar_one())


class PageOf(DataLoader[Any, Page]):
    """The same page of an edge for many parents at once: one statement per batch."""

    def __init__(self, db: RequestDB, edge: Edge, request: PageRequest) -> None:
        super().__init__()
        self.db = db
        self.edge = edge
        self.request = request

    @measured
    async def batch_load_fn(self, keys: list[Any]) -> list[Page]:
        edge, request, model = self.edge, self.request, self.edge.target
        sort = request.ordering.expressions(model, request.view)
        position = (
            func.row_number()
            .over(partition_by=edge.link, order_by=_sort_order(model, request))
            .label("position")
        )
        sort_labels = [expression.label(f"sort_{i}") for i, expression in enumerate(sort)]
        columns = row_columns(model)
        inner = edge_select(
            edge,
            list(set(keys)),
            *columns,
            edge.link.label("parent_key"),
            *sort_labels,
            position,
        )
        ranked = _filtered(inner, model, request).subquery()
        statement = (
            select(ranked)
            .where(ranked.c.position <= request.size + 1)
            .order_by(ranked.c.parent_key, ranked.c.position)
        )
        # Each result row carries the model's columns (read by name), then parent, sort keys.
        first_sort = len(columns) + 1
        last_sort = first_sort + len(sort)
        collected: defaultdict[Any, _Collected] = defaultdict(_Collected)
        for result in await self.db.all(statement, **where_options(request.where)):
            bucket = collected[result.parent_key]
            bucket.rows.append(result)
            bucket.values.append(tuple(result[first_sort:last_sort]))
        return [_page(collected.get(key, _Collected()), request) for key in keys]
