"""Connections, one per listed type (`ContentConnection`, `CommentConnection`, ...): the pages of
`schema.pagination` with `aggregate`, the aggregates of the rows the list holds (its filters, not
its page), derived from the type like its `where` input (`schema.aggregates`).

Imported once every type module is loaded (`schema.root`); type modules name these lazily
(`strawberry.lazy("schema.connections")`).
"""

import types
from typing import Any

import strawberry

from schema.aggregates import AGGREGATES, aggregate_of
from schema.context import Info
from schema.pagination import Connection
from schema.where import FILTERABLE


def _build(type_name: str) -> type[Any]:
    async def aggregate(self: Connection[Any], info: Info) -> Any:
        source = self.aggregate_source
        assert source is not None, "every list sets where its rows come from"
        return await aggregate_of(info, type_name, source)

    aggregate.__annotations__ = {"info": Info, "return": AGGREGATES[type_name]}

    def body(namespace: dict[str, Any]) -> None:
        namespace["__module__"] = __name__
        namespace["aggregate"] = strawberry.field(
            resolver=aggregate,
            description="Aggregates of every row the list holds (its filters, not its page),"
            " as the viewer sees them.",
        )

    name = f"{type_name}Connection"
    # `new_class`: the base is a generic alias, which `type()` would not resolve.
    base = Connection[FILTERABLE[type_name][0]]  # type: ignore[misc,valid-type]  # derived per type
    cls = types.new_class(name, (base,), exec_body=body)
    return strawberry.type(cls, name=name, description=f"A page of a list of {type_name} rows.")


CONNECTIONS = {name: _build(name) for name in AGGREGATES}
ContentConnection = CONNECTIONS["Content"]
UserConnection = CONNECTIONS["User"]
TagConnection = CONNECTIONS["Tag"]
CommentConnection = CONNECTIONS["Comment"]
RatingConnection = CONNECTIONS["Rating"]

__all__ = [
    "CommentConnection",
    "ContentConnection",
    "RatingConnection",
    "TagConnection",
    "UserConnection",
]
