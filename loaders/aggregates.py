"""Aggregates over many parents in one `GROUP BY`: rating summaries and the viewer's own ratings."""

from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from uuid import UUID

from aiodataloader import DataLoader
from sqlalchemy import Select, bindparam, func, select

from loaders.metrics import measured
from loaders.session import RequestDB
from loaders.statements import any_key, row_columns
from models import Rating


@dataclass(frozen=True, slots=True)
class RatingStats:
    """How many ratings a content has, and their mean (None when it has none)."""

    content_id: UUID
    count: int
    average: float | None


class RatingSummaryByContent(DataLoader[UUID, RatingStats]):
    def __init__(self, db: RequestDB) -> None:
        super().__init__()
        self.db = db

    @measured
    async def batch_load_fn(self, keys: list[UUID]) -> list[RatingStats]:
        rows = await self.db.fetch(
            "rating stats", _rating_stats_statement, {"keys": list(set(keys))}
        )
        summaries = {
            content_id: RatingStats(content_id, count, float(round(Decimal(average), 4)))
            for content_id, count, average in rows
        }
        return [summaries.get(key, RatingStats(key, 0, None)) for key in keys]


class RatingByViewer(DataLoader[UUID, Any]):
    """The viewer's own rating of each content (or None)."""

    def __init__(self, db: RequestDB, viewer_id: UUID) -> None:
        super().__init__()
        self.db = db
        self.viewer_id = viewer_id

    @measured
    async def batch_load_fn(self, keys: list[UUID]) -> list[Any]:
        rows = await self.db.fetch(
            "viewer rating",
            _viewer_rating_statement,
            {"keys": list(set(keys)), "rater_id": self.viewer_id},
        )
        by_content = {rating.content_id: rating for rating in rows}
        return [by_content.get(key) for key in keys]


def _rating_stats_statement() -> Select[Any]:
    return (
        select(Rating.content_id, func.count(), func.avg(Rating.score))
        .where(any_key(Rating.content_id))
        .group_by(Rating.content_id)
    )


def _viewer_rating_statement() -> Select[Any]:
    return select(*row_columns(Rating)).where(
        Rating.user_id == bindparam("rater_id", type_=Rating.user_id.type),
        any_key(Rating.content_id),
    )
