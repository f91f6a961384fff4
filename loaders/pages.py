"""Keyset pages: a root list in one statement, or the first N children of every parent in one.

Per-parent pages number each parent's rows with `row_number() OVER (PARTITION BY link ORDER BY
...)` and keep the first N+1 of each partition; the extra row says whether there is a next page.
Cursors are the values of the order's sort keys (the primary key last), compared as a row value,
so no OFFSET is ever used.
"""

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from aiodataloader import DataLoader
from sqlalchemy import ColumnElement, Select, and_, bindparam, false, func, or_, select, tuple_

from loaders.compiled import value_of
from loaders.edges import Edge
from loaders.metrics import measured
from loaders.session import RequestDB
from loaders.statements import Columns, any_key, includes_deleted, row_columns, target_select
from loaders.visibility import ColumnView, bound

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
    # Per key, for a mixed order (`sort`): whether it is descending, and whether it may be NULL
    # (NULLs sort last ascending, first descending, as PostgreSQL does). None: all `descending`,
    # none NULL, and cursors compare as one row value.
    directions: tuple[bool, ...] | None = None
    nullable: tuple[bool, ...] | None = None
    # The fields the keys read, each (model, column, argument path), for the read policy to
    # check against a viewer (`schema.policy.refuse_unreadable`); not part of the order's SQL.
    reads: tuple[tuple[Any, str, str], ...] = field(default=(), compare=False)

    def expressions(self, model: Any, view: ColumnView) -> list[ColumnElement[Any]]:
        return [key(model, view) for key in self.keys]

    def descending_at(self, index: int) -> bool:
        return self.descending if self.directions is None else self.directions[index]

    @property
    def mixed(self) -> bool:
        return self.directions is not None or self.nullable is not None


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


@dataclass(frozen=True, slots=True)
class _Shape:
    """What the SQL of a page's statement depends on (values aside): built once per shape, run
    with the request's values (`loaders.compiled`)."""

    ordering: Ordering
    where: Where | None
    view: ColumnView
    backwards: bool
    after: bool
    before: bool
    # Which cursor values are NULL: a mixed order's cursor predicate depends on it.
    nulls: tuple[tuple[bool, ...], tuple[bool, ...]] = ((), ())


def _shape(request: PageRequest) -> tuple[_Shape, dict[str, Any]]:
    """The request's shape (its order, filter and view bound) and its values."""
    ordering, params = _bound_ordering(request.ordering)
    where, where_params = bound(request.where)
    params.update(where_params)
    for name, values in (("after", request.after), ("before", request.before)):
        for index, value in enumerate(values or ()):
            params[f"{name}_{index}"] = value
    params["limit"] = request.size + 1
    shape = _Shape(
        ordering,
        where,
        request.view.bound(),
        request.backwards,
        request.after is not None,
        request.before is not None,
        (_nulls(request.after), _nulls(request.before)) if request.ordering.mixed else ((), ()),
    )
    return shape, params


def _nulls(values: tuple[Any, ...] | None) -> tuple[bool, ...]:
    return tuple(value is None for value in values or ())


def _bound_ordering(ordering: Ordering) -> tuple[Ordering, dict[str, Any]]:
    params: dict[str, Any] = {}
    keys = []
    for key in ordering.keys:
        bound_key, key_params = bound(key)
        keys.append(bound_key)
        params.update(key_params)
    return replace(ordering, keys=tuple(keys)), params


def _filtered(statement: Select[Any], model: Any, shape: _Shape) -> Select[Any]:
    sort = shape.ordering.expressions(model, shape.view)
    ascending = not shape.ordering.descending
    for name, given, later in (
        ("after", shape.after, ascending),
        ("before", shape.before, not ascending),
    ):
        if not given:
            continue
        if shape.ordering.mixed:
            nulls = shape.nulls[0] if name == "after" else shape.nulls[1]
            statement = statement.where(_beyond(shape.ordering, sort, name, nulls))
            continue
        cursor = tuple_(
            *(bindparam(f"{name}_{i}", type_=expression.type) for i, expression in enumerate(sort))
        )
        row = tuple_(*sort)
        statement = statement.where(row > cursor if later else row < cursor)
    if shape.where is not None:
        statement = statement.where(*shape.where.criteria(model, shape.view))
    return statement


def _beyond(
    ordering: Ordering, sort: list[ColumnElement[Any]], name: str, nulls: tuple[bool, ...]
) -> ColumnElement[bool]:
    """Rows strictly after (`name` "after") or before the cursor in a mixed order: for some key,
    every earlier key equal to the cursor's and this one beyond it, NULLs where they sort."""
    alternatives = []
    equal: list[ColumnElement[bool]] = []
    for index, expression in enumerate(sort):
        # "before" in an order is "after" in its reverse (NULLs move to the other end too).
        descending = ordering.descending_at(index) != (name == "before")
        null = nulls[index]
        value = bindparam(f"{name}_{index}", type_=expression.type)
        beyond: ColumnElement[bool]
        if null:
            beyond = expression.is_not(None) if descending else false()
        else:
            beyond = expression < value if descending else expression > value
            if not descending and ordering.nullable is not None and ordering.nullable[index]:
                beyond = or_(beyond, expression.is_(None))
        alternatives.append(and_(*equal, beyond))
        equal.append(expression.is_(None) if null else expression == value)
    return or_(*alternatives)


def _sort_order(model: Any, shape: _Shape) -> list[ColumnElement[Any]]:
    # Walking backwards reads the order in reverse, then the page is flipped back.
    sort = shape.ordering.expressions(model, shape.view)
    return [
        expression.desc()
        if shape.ordering.descending_at(index) != shape.backwards
        else expression.asc()
        for index, expression in enumerate(sort)
    ]


def _page(collected: _Collected, request: PageRequest) -> Page:
    rows, values = collected.rows, collected.values
    more = len(rows) > request.size
    rows, values = rows[: request.size], values[: request.size]
    if request.backwards:
        rows.reverse()
        values.reverse()
        return Page(rows, values, has_next=request.before is not None, has_previous=more)
    return Page(rows, values, has_next=more, has_previous=request.after is not None)


async def root_page(db: RequestDB, model: Any, request: PageRequest, only: Columns = None) -> Page:
    shape, params = _shape(request)
    columns = row_columns(model, only)

    def build() -> Select[Any]:
        sort = shape.ordering.expressions(model, shape.view)
        statement = _filtered(select(*columns, *sort), model, shape)
        return statement.order_by(*_sort_order(model, shape)).limit(bindparam("limit"))

    rows = await db.fetch(
        ("root page", model, shape, only),
        build,
        params,
        include_deleted=includes_deleted(shape.where),
    )
    collected = _Collected()
    width = len(columns)
    for row in rows:
        collected.rows.append(row)
        collected.values.append(tuple(row[width:]))
    return _page(collected, request)


async def count_root(db: RequestDB, model: Any, where: Where | None, view: ColumnView) -> int:
    bound_where, params = bound(where)
    bound_view = view.bound()

    def build() -> Select[Any]:
        statement = select(func.count()).select_from(model)
        if bound_where is not None:
            statement = statement.where(*bound_where.criteria(model, bound_view))
        return statement

    rows = await db.fetch(
        ("root count", model, bound_where, bound_view),
        build,
        params,
        include_deleted=includes_deleted(where),
    )
    return int(rows[0][0])


class PageOf(DataLoader[Any, Page]):
    """The same page of an edge for many parents at once: one statement per batch; `columns`
    narrows the rows' columns (see `row_columns`)."""

    def __init__(
        self, db: RequestDB, edge: Edge, request: PageRequest, columns: Columns = None
    ) -> None:
        super().__init__()
        self.db = db
        self.edge = edge
        self.request = request
        self.columns = columns

    @measured
    async def batch_load_fn(self, keys: list[Any]) -> list[Page]:
        edge, request, model = self.edge, self.request, self.edge.target
        shape, params = _shape(request)
        columns = row_columns(model, self.columns)
        width = len(shape.ordering.keys)

        def build() -> Select[Any]:
            sort = shape.ordering.expressions(model, shape.view)
            position = (
                func.row_number()
                .over(partition_by=edge.link, order_by=_sort_order(model, shape))
                .label("position")
            )
            sort_labels = [expression.label(f"sort_{i}") for i, expression in enumerate(sort)]
            inner = target_select(
                edge, *columns, edge.link.label("parent_key"), *sort_labels, position
            ).where(any_key(edge.link))
            ranked = _filtered(inner, model, shape).subquery()
            return (
                select(ranked)
                .where(ranked.c.position <= bindparam("limit"))
                .order_by(ranked.c.parent_key, ranked.c.position)
            )

        rows = await self.db.fetch(
            ("page of", edge, shape, self.columns),
            build,
            {**params, "keys": list(set(keys))},
            include_deleted=includes_deleted(shape.where),
        )
        # Each result row carries the model's columns (read by name), then parent, sort keys.
        first_sort = len(columns) + 1
        last_sort = first_sort + width
        collected: defaultdict[Any, _Collected] = defaultdict(_Collected)
        for result in rows:
            bucket = collected[value_of(result, "parent_key")]
            bucket.rows.append(result)
            bucket.values.append(tuple(result[first_sort:last_sort]))
        return [_page(collected.get(key, _Collected()), request) for key in keys]
