"""What a relationship means for a loader, read from the SQLAlchemy mapping (never written by hand).

Every tenant table carries `organization_id` in its keys; within one tenant's session that column
is fixed, so an edge is keyed by the remaining column: `Content.author` by `author_id`,
`Content.comments` by `Comment.content_id`, `Content.tags` through `content_tags.content_id`.
"""

from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import Column, ColumnElement, FromClause
from sqlalchemy.orm import InstrumentedAttribute, RelationshipProperty

TENANT_COLUMN = "organization_id"


@dataclass(frozen=True, slots=True)
class Edge:
    """A relationship reduced to what a batch query needs.

    `parent_key` is the attribute of the parent object whose value keys the loader; `link` is
    the column the batch filters with `IN (keys)` and groups the results by. `order` is the order
    of a to-many edge's plain list: the relationship's `order_by`, else oldest first, ties broken
    by the primary key, so a list reads the same on every request.
    """

    name: str
    target: type[Any]
    parent_key: str
    link: ColumnElement[Any]
    many: bool
    secondary: FromClause | None
    secondary_join: ColumnElement[bool] | None
    order: tuple[ColumnElement[Any], ...]


def _without_tenant(pairs: Any) -> list[tuple[Column[Any], Column[Any]]]:
    return [(local, remote) for local, remote in pairs if local.name != TENANT_COLUMN]


@cache
def edge(attribute: InstrumentedAttribute[Any]) -> Edge:
    prop = attribute.property
    if not isinstance(prop, RelationshipProperty):
        raise TypeError(f"{attribute} is not a relationship")
    target = prop.mapper.class_
    name = f"{prop.parent.class_.__name__}.{prop.key}"
    pairs = _without_tenant(prop.local_remote_pairs or ())

    if prop.secondary is not None:
        to_target = set(_without_tenant(prop.secondary_synchronize_pairs or ()))
        ((parent_column, link),) = [pair for pair in pairs if pair not in to_target]
        return Edge(
            name=name,
            target=target,
            parent_key=_attribute_name(prop.parent, parent_column),
            link=link,
            many=True,
            secondary=prop.secondary,
            secondary_join=prop.secondaryjoin,
            order=_order(prop, target),
        )

    # Many-to-one: the parent's foreign key finds the target's key. One-to-many and one-to-one:
    # the parent's key finds the targets' foreign key. Either way one pair, local -> remote.
    ((local, remote),) = pairs
    return Edge(
        name=name,
        target=target,
        parent_key=_attribute_name(prop.parent, local),
        link=getattr(target, _attribute_name(prop.mapper, remote)),
        many=bool(prop.uselist),
        secondary=None,
        secondary_join=None,
        order=_order(prop, target) if prop.uselist else (),
    )


def _order(prop: RelationshipProperty[Any], target: type[Any]) -> tuple[ColumnElement[Any], ...]:
    declared = tuple(prop.order_by or ())
    oldest_first = (target.created_at,) if hasattr(target, "created_at") else ()
    return (*(declared or oldest_first), *prop.mapper.primary_key)


def _attribute_name(mapper: Any, column: Column[Any]) -> str:
    return str(mapper.get_property_by_column(column).key)
