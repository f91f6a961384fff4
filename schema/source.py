"""Where the rows of a list come from, for its aggregate: a root list, or an edge's list under
one parent, with the list's filter. A connection holds its own (`Connection.aggregate_source`),
so its `aggregate` reads the rows it lists, not its page."""

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import InstrumentedAttribute

from loaders import Where
from loaders.grouped import AggregateRequest, Group, GroupKey
from loaders.where import reads_of
from schema.context import Info
from schema.policy import refuse_unreadable, visible_columns


@dataclass(frozen=True, slots=True)
class Source:
    """A root list (`model`), or the list along `attribute` under the parent `parent_key`."""

    model: type[Any]
    where: Where | None
    attribute: InstrumentedAttribute[Any] | None = None
    parent_key: Any = None

    async def groups(self, info: Info, measures: Any, keys: tuple[GroupKey, ...]) -> list[Group]:
        view = visible_columns(info.context.viewer)
        refuse_unreadable(view.role, reads_of(self.where))
        request = AggregateRequest(measures, view, self.where, keys)
        loaders = info.context.loaders
        if self.attribute is None:
            return await loaders.aggregate_root(self.model, request)
        # Every parent's aggregate waits on this loader together: one statement for them all.
        found: list[Group] = await loaders.aggregate(self.attribute, request).load(self.parent_key)
        return found
