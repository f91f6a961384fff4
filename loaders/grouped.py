"""Aggregates of a filtered list, whole or grouped: of a root list in one statement, or of the
same list under many parents in one (`GROUP BY` the parent's key).

A statement selects from the mapped entity, so the session's tenant, soft-delete and read-policy
criteria apply as to any read, and every column is read through the viewer's `ColumnView`: a
hidden value is NULL, which no aggregate counts. Dates are truncated in UTC.
"""

from collections import defaultdict
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from aiodataloader import DataLoader
from sqlalchemy import ColumnElement, Select, func, select

from loaders.edges import Edge
from loaders.metrics import measured
from loaders.pages import Where
from loaders.session import RequestDB
from loaders.statements import any_key, includes_deleted, target_select
from loaders.visibility import ColumnView, bound

# Groups one statement returns at most (per parent): enough for any screen, bounded for memory.
MAX_GROUPS = 1000


class Function(StrEnum):
    SUM = "sum"
    AVG = "avg"
    MIN = "min"
    MAX = "max"


class Truncation(StrEnum):
    DAY = "day"
    WEEK = "week"
    MONTH = "month"


@dataclass(frozen=True, slots=True)
class GroupKey:
    """A column to group by, truncated to a day, week or month when it is a time."""

    column: str
    truncation: Truncation | None = None

    def expression(self, model: Any, view: ColumnView) -> ColumnElement[Any]:
        column = view.column(model, self.column)
        if self.truncation is None:
            return column
        return func.date_trunc(self.truncation.value, column, "UTC")

    @property
    def label(self) -> str:
        return self.column if self.truncation is None else f"{self.column}_{self.truncation}"


@dataclass(frozen=True, slots=True)
class AggregateRequest:
    """`measures`: (function, column) pairs besides the count; `keys`: what to group by."""

    measures: tuple[tuple[Function, str], ...]
    view: ColumnView
    where: Where | None = None
    keys: tuple[GroupKey, ...] = ()


@dataclass(frozen=True, slots=True)
class Group:
    """One group's key values (by `GroupKey.label`), its count and its measures."""

    keys: dict[str, Any]
    count: int
    values: dict[tuple[Function, str], Any]


def _columns(
    model: Any, request: AggregateRequest, view: ColumnView
) -> tuple[list[ColumnElement[Any]], list[Any]]:
    """The group keys, and every column selected after them: the count and the measures."""
    keys = [key.expression(model, view) for key in request.keys]
    measures = [
        getattr(func, function.value)(view.column(model, column)).label(f"m_{i}")
        for i, (function, column) in enumerate(request.measures)
    ]
    labelled = [key.label(f"key_{i}") for i, key in enumerate(keys)]
    return keys, [*labelled, func.count().label("count"), *measures]


def _group(row: Any, request: AggregateRequest) -> Group:
    keys = {key.label: getattr(row, f"key_{i}") for i, key in enumerate(request.keys)}
    values = {measure: getattr(row, f"m_{i}") for i, measure in enumerate(request.measures)}
    return Group(keys, int(row.count), values)


def _narrowed(statement: Select[Any], model: Any, view: ColumnView, where: Any) -> Select[Any]:
    return statement if where is None else statement.where(*where.criteria(model, view))


async def aggregate_root(db: RequestDB, model: Any, request: AggregateRequest) -> list[Group]:
    """The groups of a root list (one group, keyed by nothing, when no key is given)."""
    where, params = bound(request.where)
    view = request.view.bound()

    def build() -> Select[Any]:
        keys, columns = _columns(model, request, view)
        statement = _narrowed(select(*columns).select_from(model), model, view, where)
        if keys:
            statement = statement.group_by(*keys).order_by(*keys).limit(MAX_GROUPS)
        return statement

    shape = (request.measures, request.keys, where, view)
    rows = await db.fetch(
        ("aggregate", model, shape), build, params, include_deleted=includes_deleted(where)
    )
    groups = [_group(row, request) for row in rows]
    if not groups and not request.keys:  # no row at all: a count of zero
        groups = [Group({}, 0, {measure: None for measure in request.measures})]
    return groups


class AggregateOf(DataLoader[Any, list[Group]]):
    """The groups of an edge's list for many parents at once: one statement per batch."""

    def __init__(self, db: RequestDB, edge: Edge, request: AggregateRequest) -> None:
        super().__init__()
        self.db = db
        self.edge = edge
        self.request = request

    @measured
    async def batch_load_fn(self, keys: list[Any]) -> list[list[Group]]:
        edge, request, model = self.edge, self.request, self.edge.target
        where, params = bound(request.where)
        view = request.view.bound()

        def build() -> Select[Any]:
            keys, columns = _columns(model, request, view)
            parent = edge.link.label("parent_key")
            statement = target_select(edge, parent, *columns).where(any_key(edge.link))
            statement = _narrowed(statement, model, view, where)
            return statement.group_by(edge.link, *keys).order_by(edge.link, *keys)

        rows = await self.db.fetch(
            ("aggregate of", edge, request.measures, request.keys, where, view),
            build,
            {**params, "keys": list(set(keys))},
            include_deleted=includes_deleted(where),
        )
        grouped: defaultdict[Any, list[Group]] = defaultdict(list)
        for row in rows:
            found = grouped[row.parent_key]
            if len(found) < MAX_GROUPS:
                found.append(_group(row, request))
        empty = [] if request.keys else [Group({}, 0, dict.fromkeys(request.measures))]
        return [grouped.get(key) or list(empty) for key in keys]
