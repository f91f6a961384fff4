"""Aggregates over many parents in one `GROUP BY`: rating summaries and the viewer's own ratings."""

from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from uuid import UUID

from aiodataloader import DataLoader
from sqlalchemy import func, select

from loaders.metrics import measured
from loaders.session import RequestDB
from loaders.statements import any_of, row_columns
from models import Rating


@dataclass(frozen=True, slots=True)
class RatingStats:
    """How many ratings a content has, and their mean (None when it has none)."""

    count: int
    average: float | None


class RatingSummaryByContent(DataLoader[UUID, RatingStats]):
    def __init__(self, db: RequestDB) -> None:
        super().__init__()
        self.db = db

    @measured
    async def batch_load_fn(self, keys: list[UUID]) -> list[RatingStats]:
        statement = (
            select(Rating.content_id, func.count(), func.avg(Rating.score))
            .where(any_of(Rating.content_id, set(keys)))
            .group_by(Rating.content_id)
        )
        summaries = {
            content_id: RatingStats(count, float(round(Decimal(average), 4)))
            for content_id, count, average in await self.db.all(statement)
        }
        return [summaries.get(key, RatingStats(0, None)) for key in keys]


class RatingByViewer(DataLoader[UUID, Any]):
    """The viewer's own rating of each content (or None)."""

    def __init__(self, db: RequestDB, viewer_id: UUID) -> None:
        super().__init__()
        self.db = db
        self.viewer_id = viewer_id

    @measured
    async def batch_load_fn(self, keys: list[UUID]) -> list[Any]:
        statement = select(*row_columns(Rating)).where(
            Rating.user_id == self.viewer_id, any_of(Rating.content_id, set(keys))
        )
        by_content = {rating.content_id: rating for rating in await self.db.all(statement)}
        return [by_content.get(key) for key in keys]
