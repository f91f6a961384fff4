"""Tags, and the contents that carry them."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated
from uuid import UUID

import strawberry

import models
from loaders.orderings import CONTENT_ORDERINGS
from schema.comparisons import narrowed
from schema.context import Info
from schema.execution.prefetch import register, resolve
from schema.filters import ContentFilter, ContentOrder, content_where, sorted_by
from schema.node import Node
from schema.relations import PageOfMany

if TYPE_CHECKING:
    from schema.aggregates import ContentAggregate
    from schema.connections import ContentConnection
    from schema.sorting import ContentSort
    from schema.where import ContentWhere


@strawberry.type(description="A label on contents; names are unique per organization, any case.")
class Tag(Node):
    name: str
    created_at: datetime
    pk: strawberry.Private[UUID]

    @classmethod
    def from_row(cls, row: models.Tag) -> Tag:
        return cls(
            name=row.name,
            created_at=row.created_at,
            pk=row.id,
            row=row,
        )

    @strawberry.field(description="Contents with this tag that the viewer may see.")
    def contents(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
        order_by: ContentOrder = ContentOrder.CREATED_AT_DESC,
        filter: ContentFilter | None = None,
        where: Annotated[ContentWhere, strawberry.lazy("schema.where")] | None = None,  # type: ignore[valid-type]
        sort: list[Annotated[ContentSort, strawberry.lazy("schema.sorting")]] | None = None,  # type: ignore[valid-type]
    ) -> Annotated[ContentConnection, strawberry.lazy("schema.connections")]:  # type: ignore[valid-type]
        args = {"first": first, "after": after, "last": last, "before": before}
        narrowing = {"order_by": order_by, "filter": filter, "where": where, "sort": sort}
        return resolve(self, info, TAG_CONTENTS, {**args, **narrowing})

    @strawberry.field(
        description="Aggregates of what `contents` lists, with the same filters.",
        deprecation_reason="Use `contents(...) { aggregate { ... } }`: the same, on the list.",
    )
    async def contents_aggregate(
        self,
        info: Info,
        filter: ContentFilter | None = None,
        where: Annotated[ContentWhere, strawberry.lazy("schema.where")] | None = None,  # type: ignore[valid-type]
    ) -> Annotated[ContentAggregate, strawberry.lazy("schema.aggregates")]:  # type: ignore[valid-type]
        # Imported when asked: the aggregate types are derived from every type module.
        from schema.aggregates import aggregate_along

        args = {"filter": filter, "where": where}
        return await aggregate_along(info, TAG_CONTENTS, self.pk, args)


from schema.content import Content  # noqa: E402

TAG_CONTENTS = PageOfMany(
    models.Tag.contents,
    "pk",
    Content.from_row,
    ordering=lambda args: sorted_by("Content", args, CONTENT_ORDERINGS[args["order_by"].value]),
    where=lambda args: narrowed(args, content_where(args.get("filter"))),
)

register("Tag", {"contents": TAG_CONTENTS})
