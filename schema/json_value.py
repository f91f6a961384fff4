"""JSON values the API stores and answers (`UserProfile.preferences`): how deep they may nest,
and what survives a trip through jsonb and back into a response.

Every response is written by orjson, which refuses nesting past 255 levels counted from the
response's root: one value nested that deep breaks the whole answer. So no JSON value is taken
nested deeper than `MAX_DEPTH`, and one stored deeper before that limit existed errors its own
field (the `JSON` scalar's serialize), never the response.
"""

import math
from typing import Any

import strawberry

MAX_DEPTH = 32
# jsonb keeps numbers as decimals and gives 1e300 back as a 301-digit integer, which no JSON
# encoder of ours writes: numbers stay within what a 64-bit integer holds.
NUMBER_LIMIT = 2**63


class UnrepresentableValue(ValueError):
    """A stored JSON value that no response can carry."""


def problem(value: object) -> str | None:
    """Why `value` is not a JSON value this API keeps, or None. Walks without recursion, so
    input of any depth is answered, not a RecursionError."""
    pending: list[tuple[object, int]] = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict | list):
            if depth > MAX_DEPTH:
                return f"must not nest more than {MAX_DEPTH} levels deep"
            if isinstance(item, dict):
                pending.extend((key, depth) for key in item)
                pending.extend((child, depth + 1) for child in item.values())
            else:
                pending.extend((child, depth + 1) for child in item)
        elif why := _scalar_problem(item):
            return why
    return None


def _scalar_problem(item: object) -> str | None:
    if item is None or isinstance(item, bool):
        return None
    if isinstance(item, str):
        # PostgreSQL text, jsonb included, cannot hold it.
        return "must not contain NUL characters" if "\x00" in item else None
    if isinstance(item, int | float):
        if math.isfinite(item) and abs(item) < NUMBER_LIMIT:
            return None
        return "must hold only numbers between -2^63 and 2^63"
    return "must hold only JSON values"


def _serialize(value: Any) -> Any:
    if why := problem(value):
        raise UnrepresentableValue(f"this stored JSON value cannot be returned: it {why}")
    return value


# Strawberry's own JSON scalar (same name, description and URL, so the SDL is unchanged), with a
# serialize that refuses what a response cannot carry.
JSONScalar = strawberry.scalar(
    name="JSON",
    description=(
        "The `JSON` scalar type represents JSON values as specified by "
        "[ECMA-404]"
        "(https://ecma-international.org/wp-content/uploads/ECMA-404_2nd_edition_december_2017.pdf)."
    ),
    specified_by_url=(
        "https://ecma-international.org/wp-content/uploads/ECMA-404_2nd_edition_december_2017.pdf"
    ),
    serialize=_serialize,
    parse_value=lambda value: value,
)
