"""Batch loaders for plain edges, one class per kind of edge, all derived from `edges.edge`."""

from collections import defaultdict
from typing import Any

from aiodataloader import DataLoader
from sqlalchemy import Select, func

from loaders.compiled import value_of
from loaders.edges import Edge
from loaders.metrics import measured
from loaders.session import RequestDB
from loaders.statements import (
    Columns,
    any_key,
    by_key_statement,
    includes_deleted,
    key_of,
    key_params,
    related_statement,
    target_select,
)
from loaders.visibility import ColumnView, bound


class ByKey(DataLoader[Any, Any | None]):
    """Rows of one model by key within the tenant (`node(id)`, `nodes(ids)`, and loaders' own
    lookups), with all its columns or only `columns` (and its keys). A key is a uuid, or a
    tuple of them for a model keyed by several columns (`statements.key_names`)."""

    def __init__(self, db: RequestDB, model: type[Any], columns: Columns = None) -> None:
        super().__init__()
        self.db = db
        self.model = model
        self.columns = columns

    @measured
    async def batch_load_fn(self, keys: list[Any]) -> list[Any | None]:
        model: Any = self.model
        columns = self.columns
        rows = await self.db.fetch(
            ("by key", model, columns),
            lambda: by_key_statement(model, columns),
            key_params(model, keys),
        )
        by_key = {key_of(model, row): row for row in rows}
        return [by_key.get(key) for key in keys]


class Related(DataLoader[Any, Any]):
    """Any edge: to-one edges load `row | None`, to-many edges load a list, per parent key.

    `include_deleted` also loads soft-deleted targets (a reply's parent that is a tombstone);
    `columns` narrows the targets' columns (see `row_columns`).
    """

    def __init__(
        self, db: RequestDB, edge: Edge, *, include_deleted: bool = False, columns: Columns = None
    ) -> None:
        super().__init__()
        self.db = db
        self.edge = edge
        self.include_deleted = include_deleted
        self.columns = columns

    @measured
    async def batch_load_fn(self, keys: list[Any]) -> list[Any]:
        wanted = list({key for key in keys if key is not None})
        grouped: defaultdict[Any, list[Any]] = defaultdict(list)
        if wanted:
            edge, columns = self.edge, self.columns
            rows = await self.db.fetch(
                ("related", edge, columns),
                lambda: related_statement(edge, columns),
                {"keys": wanted},
                include_deleted=self.include_deleted,
            )
            for row in rows:
                grouped[value_of(row, "parent_key")].append(row)
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
        edge = self.edge
        where, params = bound(self.where)
        view = None if self.view is None else self.view.bound()

        def build() -> Select[Any]:
            statement = target_select(edge, edge.link, func.count()).where(any_key(edge.link))
            if where is not None:
                assert view is not None, "a filter is applied as some viewer sees the rows"
                statement = statement.where(*where.criteria(edge.target, view))
            return statement.group_by(edge.link)

        rows = await self.db.fetch(
            ("count", edge, where, view),
            build,
            {**params, "keys": list(set(keys))},
            include_deleted=includes_deleted(where),
        )
        counts = {row[0]: row[1] for row in rows}
        return [counts.get(key, 0) for key in keys]
