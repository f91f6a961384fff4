"""Relay connections over keyset pages: `first/after/last/before`, `pageInfo`, lazy `totalCount`.

A cursor is base64url JSON of the order's name and the row's sort-key values, so a cursor only
works with the order it came from, and is checked against that order's types before use.
"""

import base64
import binascii
import math
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Generic, TypeVar
from uuid import UUID

import orjson
import strawberry

from loaders import Ordering, Page, PageRequest, Where
from loaders.where import reads_of
from schema.context import PageLimits
from schema.errors import BadUserInput
from schema.policy import ViewerColumns, refuse_unreadable
from schema.source import Source

T = TypeVar("T")


@strawberry.type
class Edge(Generic[T]):
    node: T
    ordering: strawberry.Private[Ordering]
    sort_values: strawberry.Private[tuple[Any, ...]]

    @strawberry.field(description="Pass as `after`/`before` to continue from this edge.")
    def cursor(self) -> str:
        # Encoded only when asked for: most nested pages never show their cursors.
        return encode_cursor(self.ordering, self.sort_values)


@strawberry.type(description="Where a page sits in its list (Relay cursor connections).")
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    first_edge: strawberry.Private[Edge[Any] | None]
    last_edge: strawberry.Private[Edge[Any] | None]

    @strawberry.field
    def start_cursor(self) -> str | None:
        return None if self.first_edge is None else self.first_edge.cursor()

    @strawberry.field
    def end_cursor(self) -> str | None:
        return None if self.last_edge is None else self.last_edge.cursor()


@strawberry.type
class Connection(Generic[T]):
    edges: list[Edge[T]]
    page_info: PageInfo
    count_total: strawberry.Private[Callable[[], Awaitable[int]]]
    total: strawberry.Private[int | None] = None  # set when counted ahead for a whole level
    # The rows the list holds (not its page), for its `aggregate` (`schema.connections`).
    aggregate_source: strawberry.Private[Source | None] = None

    @strawberry.field(description="The nodes of this page, without their edges.")
    def nodes(self) -> list[T]:
        return [edge.node for edge in self.edges]

    @strawberry.field(
        description="How many items the whole list has. Costs a count: ask only when shown."
    )
    def total_count(self) -> int:
        return _now_or_later(self.total, self.count_total)


def _now_or_later(value: int | None, later: Callable[[], Awaitable[int]]) -> Any:
    return value if value is not None else later()


def _encode_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (UUID, Decimal)):
        return str(value)
    return value


# A cursor comes back from the client: every value is checked to be one the database accepts
# (a string without NUL, a time with its offset and in range, a finite number), so a forged
# cursor is the client's error, never a failed statement.
def _text(raw: Any) -> str:
    if not isinstance(raw, str) or "\x00" in raw:
        raise ValueError("not a text value")
    return raw


def _datetime(raw: Any) -> datetime:
    value = datetime.fromisoformat(_text(raw))
    if value.tzinfo is None:
        raise ValueError("a time without its offset")
    value.astimezone(UTC)  # OverflowError when out of range
    return value


def _decimal(raw: Any) -> Decimal:
    value = Decimal(_text(raw))
    if not value.is_finite() or abs(value.adjusted()) > 1000:
        raise ValueError("not a finite number")
    return value


def _float(raw: Any) -> float:
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw):
        raise ValueError("not a finite number")
    return float(raw)


def _int(raw: Any) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int):
        raise ValueError("not an integer")
    return raw


_DECODERS: dict[type, Callable[[Any], Any]] = {
    datetime: _datetime,
    UUID: lambda raw: UUID(_text(raw)),
    Decimal: _decimal,
    str: _text,
    float: _float,
    int: _int,
}


def encode_cursor(ordering: Ordering, values: Sequence[Any]) -> str:
    payload = orjson.dumps({"o": ordering.name, "v": [_encode_value(v) for v in values]})
    return base64.urlsafe_b64encode(payload).decode().rstrip("=")


def decode_cursor(cursor: str, ordering: Ordering, argument: str) -> tuple[Any, ...]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        payload = orjson.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
        if payload["o"] != ordering.name:
            raise BadUserInput(
                f"`{argument}` is a cursor of another order ({payload['o']}, not {ordering.name})",
                argument=argument,
            )
        raw_values = payload["v"]
        if len(raw_values) != len(ordering.types):
            raise ValueError("wrong length")
        nullable = ordering.nullable or (False,) * len(ordering.types)
        return tuple(
            None if raw is None and may_be_null else _DECODERS[kind](raw)
            for kind, raw, may_be_null in zip(ordering.types, raw_values, nullable, strict=True)
        )
    except BadUserInput:
        raise
    except (
        ValueError,
        TypeError,
        KeyError,
        OverflowError,
        UnicodeError,
        binascii.Error,
        InvalidOperation,
    ):
        raise BadUserInput(f"`{argument}` is not a valid cursor", argument=argument) from None


def page_request(
    ordering: Ordering,
    limits: PageLimits,
    view: ViewerColumns,
    *,
    first: int | None,
    after: str | None,
    last: int | None,
    before: str | None,
    where: Where | None = None,
) -> PageRequest:
    if first is not None and last is not None:
        raise BadUserInput("pass `first` or `last`, not both")
    for name, size in (("first", first), ("last", last)):
        if size is not None and not 0 <= size <= limits.max_size:
            raise BadUserInput(
                f"`{name}` must be between 0 and {limits.max_size}, got {size}",
                argument=name,
                maximum=limits.max_size,
            )
    refuse_unreadable(view.role, (*reads_of(where), *ordering.reads))
    return PageRequest(
        ordering=ordering,
        view=view,
        first=first,
        last=last,
        after=None if after is None else decode_cursor(after, ordering, "after"),
        before=None if before is None else decode_cursor(before, ordering, "before"),
        where=where,
        default_size=limits.default_size,
    )


def connection(
    page: Page,
    ordering: Ordering,
    to_node: Callable[[Any], T],
    count_total: Callable[[], Awaitable[int]],
    total: int | None = None,
    source: Source | None = None,
) -> Connection[T]:
    edges = [
        Edge(node=to_node(row), ordering=ordering, sort_values=values)
        for row, values in zip(page.rows, page.sort_values, strict=True)
    ]
    return Connection(
        edges=edges,
        page_info=PageInfo(
            has_next_page=page.has_next,
            has_previous_page=page.has_previous,
            first_edge=edges[0] if edges else None,
            last_edge=edges[-1] if edges else None,
        ),
        count_total=count_total,
        total=total,
        aggregate_source=source,
    )
