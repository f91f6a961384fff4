"""Sort keys a client composes (`sort`): a column, a to-one relation's column, a to-many
relation's count, each read as the viewer reads it.

Each key is a frozen dataclass, so equal sorts are equal orderings (and share loaders and
compiled statements). A related value comes from a correlated subquery on an alias of the
related entity: the session's tenant, soft-delete and read-policy criteria apply to it, so a
row the viewer cannot see gives NULL (no author) or is not counted.
"""

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, func, inspect, select
from sqlalchemy.orm import aliased
from sqlalchemy.sql.util import ClauseAdapter

from loaders.edges import edge
from loaders.statements import live
from loaders.visibility import ColumnView


@dataclass(frozen=True, slots=True)
class ColumnKey:
    column: str

    def __call__(self, model: Any, view: ColumnView) -> ColumnElement[Any]:
        return view.column(model, self.column)


@dataclass(frozen=True, slots=True)
class RelatedKey:
    """A column of the row a to-one relation points at (`author.fullName`)."""

    relationship: str
    column: str

    def __call__(self, model: Any, view: ColumnView) -> ColumnElement[Any]:
        along = edge(getattr(inspect(model).mapper.class_, self.relationship))
        target = aliased(along.target)
        found = (
            select(view.column(target, self.column))
            .where(
                target.organization_id == model.organization_id,
                getattr(target, str(along.link.key)) == view.column(model, along.parent_key),
                *live(target),
            )
            .correlate(model)
            .scalar_subquery()
        )
        return found


@dataclass(frozen=True, slots=True)
class CountKey:
    """How many rows a to-many relation holds that the viewer may see (`comments.count`)."""

    relationship: str

    def __call__(self, model: Any, view: ColumnView) -> ColumnElement[Any]:
        along = edge(getattr(inspect(model).mapper.class_, self.relationship))
        target = aliased(along.target)
        counted = select(func.count()).select_from(target).where(*live(target))
        parent = view.column(model, along.parent_key)
        if along.secondary is not None:
            assert along.secondary_join is not None
            joined = ClauseAdapter(inspect(target).selectable).traverse(along.secondary_join)
            counted = counted.join(along.secondary, joined).where(
                along.secondary.c.organization_id == model.organization_id, along.link == parent
            )
        else:
            link = getattr(target, str(along.link.key))
            counted = counted.where(target.organization_id == model.organization_id, link == parent)
        return counted.correlate(model).scalar_subquery()
