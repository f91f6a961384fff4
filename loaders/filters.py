"""Filter values (hashable, so equal filters share one loader) and the SQL criteria they mean."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar
from uuid import UUID

from sqlalchemy import ColumnElement, String, and_, bindparam, func, or_, select
from sqlalchemy.orm import aliased

from loaders.visibility import ColumnView
from models import Comment, ContentStatus, ContentTag, Difficulty, Role, Tag, UserStatus

# A search's text, bound in statements built once for every search (`loaders.visibility.bound`).
SEARCH_TEXT = bindparam("search_text", type_=String())


def text_query(text: Any) -> ColumnElement[Any]:
    return func.websearch_to_tsquery("english", text)


@dataclass(frozen=True, slots=True)
class ContentWhere:
    statuses: tuple[ContentStatus, ...] = ()
    difficulties: tuple[Difficulty, ...] = ()
    author_ids: tuple[UUID, ...] = ()
    tag_names: tuple[str, ...] = ()
    created_after: datetime | None = None
    created_before: datetime | None = None
    text: str | None = None

    def criteria(self, model: Any, view: ColumnView) -> list[ColumnElement[bool]]:
        criteria: list[ColumnElement[bool]] = []
        if self.statuses:
            criteria.append(view.column(model, "status").in_(self.statuses))
        if self.difficulties:
            criteria.append(view.column(model, "difficulty").in_(self.difficulties))
        if self.author_ids:
            criteria.append(view.column(model, "author_id").in_(self.author_ids))
        if self.tag_names:
            # Every listed tag must be on the content: one grouped subquery for any number.
            tagged = (
                select(ContentTag.content_id)
                .join(
                    Tag,
                    and_(
                        Tag.organization_id == ContentTag.organization_id,
                        Tag.id == ContentTag.tag_id,
                    ),
                )
                .where(view.column(Tag, "name_key").in_(self.tag_names))
                .group_by(ContentTag.content_id)
                .having(func.count() == len(self.tag_names))
            )
            criteria.append(model.id.in_(tagged))
        if self.created_after is not None:
            criteria.append(view.column(model, "created_at") >= self.created_after)
        if self.created_before is not None:
            criteria.append(view.column(model, "created_at") < self.created_before)
        if self.text:
            criteria.append(view.column(model, "search_vector").op("@@")(text_query(self.text)))
        return criteria


@dataclass(frozen=True, slots=True)
class UserWhere:
    roles: tuple[Role, ...] = ()
    statuses: tuple[UserStatus, ...] = ()
    text: str | None = None

    def criteria(self, model: Any, view: ColumnView) -> list[ColumnElement[bool]]:
        criteria: list[ColumnElement[bool]] = []
        if self.roles:
            criteria.append(view.column(model, "role").in_(self.roles))
        if self.statuses:
            criteria.append(view.column(model, "status").in_(self.statuses))
        if self.text:
            pattern = f"%{_escape_like(self.text)}%"
            criteria.append(
                or_(
                    *(
                        view.column(model, name).ilike(pattern, escape="\\")
                        for name in ("full_name", "email", "username")
                    )
                )
            )
        return criteria


@dataclass(frozen=True, slots=True)
class SearchWhere:
    """Full-text match; the rank ordering of `search` sorts the matches."""

    text: Any  # the text, or SEARCH_TEXT (`bind`)

    def criteria(self, model: Any, view: ColumnView) -> list[ColumnElement[bool]]:
        return [view.column(model, "search_vector").op("@@")(text_query(self.text))]

    def bind(self) -> tuple["SearchWhere", dict[str, Any]]:
        """The same match for any text, bound to SEARCH_TEXT; and this one's text."""
        return SearchWhere(SEARCH_TEXT), {"search_text": self.text}


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


_IN_THREAD: dict[Any, ColumnElement[bool]] = {}


def in_thread(model: Any) -> ColumnElement[bool]:
    """`_in_thread` for `model`, built once: a recursive CTE is costly to build per batch."""
    criterion = _IN_THREAD.get(model)
    if criterion is None:
        criterion = _IN_THREAD[model] = _in_thread(model)
    return criterion


def _in_thread(model: Any) -> ColumnElement[bool]:
    """A comment a thread shows: a live one, or a deleted one with a live reply somewhere below.

    The deleted ones are tombstones (the schema hides their body), so deleting a comment never
    cuts its live replies off the thread; a deleted comment with nothing live below it is gone.
    The walk down starts at the comment (correlated) and only continues through deleted replies.
    """
    first = aliased(Comment)
    below = (
        select(first.organization_id, first.id, first.deleted_at)
        .where(first.organization_id == model.organization_id, first.parent_id == model.id)
        .correlate(model)
        .cte("below", recursive=True, nesting=True)
    )
    deeper = aliased(Comment)
    below = below.union_all(
        select(deeper.organization_id, deeper.id, deeper.deleted_at).where(
            deeper.organization_id == below.c.organization_id,
            deeper.parent_id == below.c.id,
            below.c.deleted_at.is_not(None),
        )
    )
    live_below = select(below.c.id).where(below.c.deleted_at.is_(None)).exists()
    return or_(model.deleted_at.is_(None), live_below)


@dataclass(frozen=True, slots=True)
class ThreadStarts:
    """Comments that start a thread (replies are reached through `Comment.replies`)."""

    # Loaders lift the session's soft-delete criteria for it: `in_thread` decides instead.
    include_deleted: ClassVar[bool] = True

    def criteria(self, model: Any, view: ColumnView) -> list[ColumnElement[bool]]:
        return [model.parent_id.is_(None), in_thread(model)]  # structure: nothing to hide


@dataclass(frozen=True, slots=True)
class ThreadReplies:
    """The replies a thread shows under a comment, tombstones included."""

    include_deleted: ClassVar[bool] = True

    def criteria(self, model: Any, view: ColumnView) -> list[ColumnElement[bool]]:
        return [in_thread(model)]  # structure: nothing to hide
