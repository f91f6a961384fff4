"""Batch loaders for plain edges, one class per kind of edge, all derived from `edges.edge`."""

from collections import defaultdict
from typing import Any
from uuid import UUID

from aiodataloader import DataLoader
from sqlalchemy import func

from loaders.edges import Edge
from loaders.metrics import measured
from loaders.session import RequestDB
from loaders.statements import (
    INCLUDE_DELETED,
    by_key_statement,
    edge_select,
    related_statement,
    where_options,
)
from loaders.visibility import ColumnView


class ByKey(DataLoader[UUID, Any | None]):
    """Rows of one model by primary key (`node(id)`, `nodes(ids)`, and loaders' own lookups)."""

    def __init__(self, db: RequestDB, model: type[Any]) -> None:
        super().__init__()
        self.db = db
        self.model = model

    @measured
    async def batch_load_fn(self, keys: list[UUID]) -> list[Any | None]:
        rows = await self.db.all(by_key_statement(self.model), {"keys": keys})
        by_id = {row.id: row for row in rows}
        return [by_id.get(key) for key in keys]


class Related(DataLoader[Any, Any]):
    """Any edge: to-one edges load `row | None`, to-many edges load a list, per parent key.

    `include_deleted` also loads soft-deleted targets (a reply's parent that is a tombstone).
    """

    def __init__(self, db: RequestDB, edge: Edge, *, include_deleted: bool = False) -> None:
        super().__init__()
        self.db = db
        self.edge = edge
        self.options = {INCLUDE_DELETED: True} if include_deleted else {}

    @measured
    async def batch_load_fn(self, keys: list[Any]) -> list[Any]:
        wanted = list({key for key in keys if key is not None})
        grouped: defaultdict[Any, list[Any]] = defaultdict(list)
        if wanted:
            statement = related_statement(self.edge)
            for row in await self.db.all(statement, {"keys": wanted}, **self.options):
                grouped[row.parent_key].append(row)
        if self.edge.many:
            return [grouped.get(key, []) for key in keys]
        return [next(iter(grouped.get(key, ())), None) for key in keys]


class CountRelated(DataLoader[Any, int]):
    """How many targets each parent has along an edge, in one `GROUP BY`."""

    def __init__(
        self, db: RequestDB, edge: Edge, where: Any = None, view: ColumnView | None = None
    ) -> None:
        super().__init__()
        self.db = db
        self.edge = edge
        self.where = where
        self.view = view

    @measured
    async def batch_load_fn(self, keys: list[Any]) -> list[int]:
        statement = edge_select(self.edge, list(set(keys)), self.edge.link, func.count()).group_by(
            self.edge.link
        )
        if self.where is not None:
            assert self.view is not None, "a filter is applied as some viewer sees the rows"
            statement = statement.where(*self.where.criteria(self.edge.target, self.view))
        counts = dict(await self.db.all(statement, **where_options(self.where)))
        return [counts.get(key, 0) for key in keys]
