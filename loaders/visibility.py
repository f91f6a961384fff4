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
