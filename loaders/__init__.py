"""Batch loaders, built fresh for every request and bound to its one session.

`Loaders` hands out one loader per distinct edge (and per distinct page request), created on
first use, so a whole level of a response (every parent's `author`, every parent's first ten
`comments`) becomes one statement.
"""

from typing import Any, overload
from uuid import UUID

from sqlalchemy.orm import InstrumentedAttribute

from loaders.aggregates import RatingByViewer, RatingStats, RatingSummaryByContent
from loaders.compiled import value_of
from loaders.edges import Edge, edge
from loaders.grouped import AggregateOf, AggregateRequest, Group, aggregate_root
from loaders.pages import Ordering, Page, PageOf, PageRequest, Where, count_root, root_page
from loaders.related import ByKey, CountRelated, Related
from loaders.session import INCLUDE_DELETED, RequestDB
from loaders.statements import Columns
from loaders.visibility import ColumnView


class Loaders:
    def __init__(self, db: RequestDB, viewer_id: UUID) -> None:
        self.db = db
        self.viewer_id = viewer_id
        self._loaders: dict[tuple[Any, ...], Any] = {}
        self.rating_summary = RatingSummaryByContent(db)
        self.viewer_rating = RatingByViewer(db, viewer_id)

    def clear(self) -> None:
        """Forget everything loaded so far (after a write, earlier answers may be stale)."""
        self._loaders.clear()
        self.rating_summary.clear_all()
        self.viewer_rating.clear_all()

    def _memo(self, key: tuple[Any, ...], build: Any) -> Any:
        loader = self._loaders.get(key)
        if loader is None:
            loader = self._loaders[key] = build()
        return loader

    # `columns`: only these columns of the rows (and their keys), for a selection that reads
    # no more; None: all of them. Loads of other columns are other loaders.

    def by_key(self, model: type[Any], columns: Columns = None) -> ByKey:
        return self._memo(  # type: ignore[no-any-return]
            ("key", model, columns), lambda: ByKey(self.db, model, columns)
        )

    def related(
        self,
        attribute: InstrumentedAttribute[Any],
        *,
        include_deleted: bool = False,
        columns: Columns = None,
    ) -> Related:
        found = edge(attribute)
        return self._memo(  # type: ignore[no-any-return]
            ("related", found, include_deleted, columns),
            lambda: Related(self.db, found, include_deleted=include_deleted, columns=columns),
        )

    def page(
        self, attribute: InstrumentedAttribute[Any], request: PageRequest, columns: Columns = None
    ) -> PageOf:
        found = edge(attribute)
        return self._memo(  # type: ignore[no-any-return]
            ("page", found, request, columns), lambda: PageOf(self.db, found, request, columns)
        )

    @overload
    def count(self, attribute: InstrumentedAttribute[Any]) -> CountRelated: ...
    @overload
    def count(
        self, attribute: InstrumentedAttribute[Any], where: Where | None, view: ColumnView
    ) -> CountRelated: ...
    def count(
        self,
        attribute: InstrumentedAttribute[Any],
        where: Where | None = None,
        view: ColumnView | None = None,
    ) -> CountRelated:
        """Children per parent along `attribute`; a filtered count, as the viewer sees them."""
        found = edge(attribute)
        return self._memo(  # type: ignore[no-any-return]
            ("count", found, where, view), lambda: CountRelated(self.db, found, where, view)
        )

    def aggregate(
        self, attribute: InstrumentedAttribute[Any], request: AggregateRequest
    ) -> AggregateOf:
        """Groups (or the one whole-list group) of an edge's list, per parent."""
        found = edge(attribute)
        return self._memo(  # type: ignore[no-any-return]
            ("aggregate", found, request), lambda: AggregateOf(self.db, found, request)
        )

    async def aggregate_root(self, model: type[Any], request: AggregateRequest) -> list[Group]:
        return await aggregate_root(self.db, model, request)

    async def root_page(
        self, model: type[Any], request: PageRequest, columns: Columns = None
    ) -> Page:
        return await root_page(self.db, model, request, columns)

    async def count_root(self, model: type[Any], where: Where | None, view: ColumnView) -> int:
        return await count_root(self.db, model, where, view)


__all__ = [
    "INCLUDE_DELETED",
    "ColumnView",
    "Columns",
    "Edge",
    "Loaders",
    "Ordering",
    "Page",
    "PageRequest",
    "RatingStats",
    "RequestDB",
    "Where",
    "edge",
    "value_of",
]
