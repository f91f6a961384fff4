"""The list orders the API offers, as sort keys over the models (each backed by an index)."""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from sqlalchemy import ColumnElement, Numeric, func, select
from sqlalchemy.orm import aliased

from loaders.filters import SEARCH_TEXT, text_query
from loaders.pages import Ordering, SortKey
from loaders.visibility import ColumnView
from models import Rating


def _column(name: str) -> SortKey:
    def key(model: Any, view: ColumnView) -> ColumnElement[Any]:
        return view.column(model, name)

    return key


_id = _column("id")
_rated_content = _column("content_id")
_created_at = _column("created_at")
_title = _column("title")
_full_name = _column("full_name")
_name_key = _column("name_key")


def _published_at(model: Any, view: ColumnView) -> ColumnElement[Any]:
    # Drafts have no publication date; they sort as if published when created.
    return func.coalesce(view.column(model, "published_at"), view.column(model, "created_at"))


def average_rating(model: Any, view: ColumnView) -> ColumnElement[Any]:
    rating = aliased(Rating)
    # PostgreSQL's avg of a smallint is numeric; SQLAlchemy would type it as the column, and a
    # cursor's 3.5 would then be bound as the smallint 3.
    mean = func.avg(view.column(rating, "score"), type_=Numeric())
    average = (
        select(func.coalesce(mean, 0, type_=Numeric()))
        .where(rating.content_id == model.id)
        .correlate(model)
        .scalar_subquery()
    )
    return average


def _both(name: str, key: Any, kind: type, tiebreak: Any = _id) -> dict[str, Ordering]:
    keys, types = (key, tiebreak), (kind, UUID)
    return {
        f"{name}_ASC": Ordering(f"{name}_ASC", keys, types),
        f"{name}_DESC": Ordering(f"{name}_DESC", keys, types, descending=True),
    }


CONTENT_ORDERINGS: dict[str, Ordering] = {
    **_both("CREATED_AT", _created_at, datetime),
    **_both("TITLE", _title, str),
    **_both("PUBLISHED_AT", _published_at, datetime),
    **_both("RATING", average_rating, Decimal),
}
USER_ORDERINGS: dict[str, Ordering] = {
    **_both("CREATED_AT", _created_at, datetime),
    **_both("FULL_NAME", _full_name, str),
}
TAG_ORDERINGS: dict[str, Ordering] = {**_both("NAME", _name_key, str)}
COMMENT_ORDERINGS: dict[str, Ordering] = {**_both("CREATED_AT", _created_at, datetime)}
# Ratings have no `id` of their own: one per user and content, so the content breaks ties.
RATING_ORDERINGS: dict[str, Ordering] = {
    **_both("CREATED_AT", _created_at, datetime, tiebreak=_rated_content)
}


@dataclass(frozen=True, slots=True)
class _SearchRank:
    text: Any  # the text, or SEARCH_TEXT (`bind`)

    def __call__(self, model: Any, view: ColumnView) -> ColumnElement[Any]:
        return func.ts_rank(view.column(model, "search_vector"), text_query(self.text))

    def bind(self) -> tuple["_SearchRank", dict[str, Any]]:
        return _SearchRank(SEARCH_TEXT), {"search_text": self.text}


def search_ordering(text: str) -> Ordering:
    """Best match first; equal ranks by id. Hashable by value, so equal searches share a loader."""
    return Ordering("RANK", (_SearchRank(text), _id), (float, UUID), descending=True)
