"""What a viewer may read of a row's columns, in the SQL its filters and orders are built from.

The read policy hides whole rows (the session's criteria); a `ColumnView` hides single values: a
column the viewer may not read on a row reads as NULL there, so no filter, search or order can
match it or sort by it. Every column a `Where` matches and every column a sort key sorts by is
read through the view it is given; the columns that only relate rows (keys, links) are not.
"""

from typing import Any, Protocol

from sqlalchemy import ColumnElement


class ColumnView(Protocol):
    """Hashable, so equal views share loaders."""

    def column(self, model: Any, name: str) -> ColumnElement[Any]:
        """`model.<name>` as the viewer sees it: the column, or NULL where it may not read it."""
        ...

    def bound(self) -> "ColumnView":
        """The same view for every viewer like this one, the viewer's id bound to
        `loaders.compiled.VIEWER_ID`: what a statement built once for them all reads through."""
        ...


def bound(value: Any) -> tuple[Any, dict[str, Any]]:
    """A filter or sort key for a statement built once for every request of its shape: with its
    values bound as parameters, and those values (`bind()`); a value without any, as it is."""
    binding = getattr(value, "bind", None)
    return binding() if binding is not None else (value, {})
