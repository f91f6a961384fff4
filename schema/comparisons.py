"""Typed comparison inputs, and a `where` argument read into a filter value (`loaders.where`).

The per-type `where` inputs (`schema.where`) are derived from the schema types and the models;
each registers here what its fields mean (`WhereSpec`), so reading any of them is one walk. The
walk checks what PostgreSQL would refuse (NUL in text, a time out of range, an id of another
type) and the bounds (nesting, number of conditions, list sizes): bad input is BAD_USER_INPUT
naming the argument's path, never a failed statement.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from functools import cache
from typing import Any

import strawberry

from loaders.pages import Where
from loaders.where import (
    AllOf,
    AnyOf,
    Both,
    Compare,
    Condition,
    Not,
    Operator,
    Quantifier,
    Related,
)
from loaders.where import Where as WhereValue
from schema.errors import BadUserInput
from schema.filters import plain_text, storable_time
from schema.node import expect_global_id

# `and`/`or`/`not` and relations nested deeper than this are refused, as are more conditions
# than MAX_CONDITIONS in one argument, or more values than MAX_VALUES in one `in` list.
MAX_DEPTH = 5
MAX_CONDITIONS = 50
MAX_VALUES = 100

_IN = "Matches a value equal to one of these."
_NOT_IN = "Matches a value equal to none of these (never a null value)."
_IS_NULL = "true: matches a null (or hidden) value; false: a value that is there."


@strawberry.input(
    description="Conditions on a text value; all given must hold. A null (or hidden) value"
    " matches none but `isNull`."
)
class StringComparison:
    eq: str | None = None
    neq: str | None = None
    in_: list[str] | None = strawberry.field(default=None, name="in", description=_IN)
    not_in: list[str] | None = strawberry.field(default=None, description=_NOT_IN)
    lt: str | None = None
    lte: str | None = None
    gt: str | None = None
    gte: str | None = None
    is_null: bool | None = strawberry.field(default=None, description=_IS_NULL)
    contains: str | None = strawberry.field(default=None, description="Part of it, any case.")
    starts_with: str | None = strawberry.field(default=None, description="Its beginning, any case.")


@strawberry.input(description="Conditions on a whole number; all given must hold.")
class IntComparison:
    eq: int | None = None
    neq: int | None = None
    in_: list[int] | None = strawberry.field(default=None, name="in", description=_IN)
    not_in: list[int] | None = strawberry.field(default=None, description=_NOT_IN)
    lt: int | None = None
    lte: int | None = None
    gt: int | None = None
    gte: int | None = None
    is_null: bool | None = strawberry.field(default=None, description=_IS_NULL)


@strawberry.input(description="Conditions on a time; all given must hold.")
class DateTimeComparison:
    eq: datetime | None = None
    neq: datetime | None = None
    in_: list[datetime] | None = strawberry.field(default=None, name="in", description=_IN)
    not_in: list[datetime] | None = strawberry.field(default=None, description=_NOT_IN)
    lt: datetime | None = None
    lte: datetime | None = None
    gt: datetime | None = None
    gte: datetime | None = None
    is_null: bool | None = strawberry.field(default=None, description=_IS_NULL)


@strawberry.input(description="Conditions on an object's global id; all given must hold.")
class IDComparison:
    eq: strawberry.ID | None = None
    neq: strawberry.ID | None = None
    in_: list[strawberry.ID] | None = strawberry.field(default=None, name="in", description=_IN)
    not_in: list[strawberry.ID] | None = strawberry.field(default=None, description=_NOT_IN)


@cache
def enum_comparison(enum: type[Enum]) -> type[Any]:
    """`<Enum>Comparison`: equality operators on one enum, built once per enum."""
    name = f"{enum.__name__}Comparison"
    namespace: dict[str, Any] = {
        "__annotations__": {
            "eq": enum | None,
            "neq": enum | None,
            "in_": list[enum] | None,  # type: ignore[valid-type]
            "not_in": list[enum] | None,  # type: ignore[valid-type]
            "is_null": bool | None,
        },
        "eq": None,
        "neq": None,
        "in_": strawberry.field(default=None, name="in", description=_IN),
        "not_in": strawberry.field(default=None, description=_NOT_IN),
        "is_null": strawberry.field(default=None, description=_IS_NULL),
        "__module__": __name__,
    }
    comparison = strawberry.input(
        type(name, (), namespace), name=name, description=f"Conditions on a {enum.__name__}."
    )
    ENUM_OF[comparison] = enum
    return comparison


# An enum comparison input -> the enum it compares.
ENUM_OF: dict[type[Any], type[Enum]] = {}


# Python attribute of a comparison input -> the operator it means.
OPERATORS = {
    "eq": Operator.EQ,
    "neq": Operator.NEQ,
    "in_": Operator.IN,
    "not_in": Operator.NOT_IN,
    "lt": Operator.LT,
    "lte": Operator.LTE,
    "gt": Operator.GT,
    "gte": Operator.GTE,
    "is_null": Operator.IS_NULL,
    "contains": Operator.CONTAINS,
    "starts_with": Operator.STARTS_WITH,
}


@dataclass(frozen=True, slots=True)
class ColumnField:
    """A field of a `where` input that compares a column: `check` makes a given value one
    the database accepts (or refuses it as the client's error)."""

    column: str
    check: Callable[[Any, str], Any]


@dataclass(frozen=True, slots=True)
class RelationField:
    """A field of a `where` input that filters by related rows."""

    relationship: str
    many: bool


@dataclass(slots=True)
class WhereSpec:
    """What each field of one `where` input means, by Python attribute name."""

    model: Any  # the model its rows are of
    fields: dict[str, ColumnField | RelationField] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)  # Python attribute -> GraphQL name


# Each generated `where` input class -> its spec (filled by `schema.where`).
WHERE_SPECS: dict[type[Any], WhereSpec] = {}
LOGICAL = ("and_", "or_", "not_")


def checked_text(value: Any, path: str) -> Any:
    return plain_text(value, path)


def checked_time(value: Any, path: str) -> Any:
    return storable_time(value, path)


def as_is(value: Any, _path: str) -> Any:
    return value


def checked_id(type_name: str) -> Callable[[Any, str], Any]:
    def check(value: Any, path: str) -> Any:
        try:
            return expect_global_id(value, type_name)
        except BadUserInput as error:
            raise BadUserInput(f"`{path}`: {error.message}", argument=path) from None

    return check


@dataclass(slots=True)
class _Walk:
    conditions: int = 0
    reads: list[tuple[Any, str, str]] = field(default_factory=list)

    def where(self, value: Any, path: str, depth: int) -> Condition:
        if depth > MAX_DEPTH:
            raise BadUserInput(
                f"`{path}` nests filters {depth} deep, over the limit of {MAX_DEPTH}",
                argument=path,
            )
        spec = WHERE_SPECS[type(value)]
        parts: list[Condition] = []
        for attribute, meaning in spec.fields.items():
            given = getattr(value, attribute)
            if given is None:
                continue
            at = f"{path}.{spec.names[attribute]}"
            if isinstance(meaning, ColumnField):
                self.reads.append((spec.model, meaning.column, at))
                parts.extend(self.comparisons(given, meaning, at))
            elif meaning.many:
                parts.extend(self.quantified(given, meaning, at, depth))
            else:
                inner = self.where(given, at, depth + 1)
                parts.append(Related(meaning.relationship, Quantifier.ONE, inner))
        if value.and_ is not None:
            parts.append(AllOf(self.each(value.and_, f"{path}.and", depth)))
        if value.or_ is not None:
            parts.append(AnyOf(self.each(value.or_, f"{path}.or", depth)))
        if value.not_ is not None:
            parts.append(Not(self.where(value.not_, f"{path}.not", depth + 1)))
        return parts[0] if len(parts) == 1 else AllOf(tuple(parts))

    def each(self, values: list[Any], path: str, depth: int) -> tuple[Condition, ...]:
        return tuple(self.where(v, f"{path}.{i}", depth + 1) for i, v in enumerate(values))

    def quantified(
        self, given: Any, meaning: RelationField, path: str, depth: int
    ) -> list[Condition]:
        parts: list[Condition] = []
        for quantifier in Quantifier:
            inner = getattr(given, quantifier.value, None)
            if quantifier is not Quantifier.ONE and inner is not None:
                at = f"{path}.{quantifier.value}"
                condition = self.where(inner, at, depth + 1)
                parts.append(Related(meaning.relationship, quantifier, condition))
        return parts

    def comparisons(self, given: Any, meaning: ColumnField, path: str) -> list[Condition]:
        parts: list[Condition] = []
        for attribute, operator in OPERATORS.items():
            value = getattr(given, attribute, None)
            if value is None:
                continue
            at = f"{path}.{operator.value}"
            self.conditions += 1
            if self.conditions > MAX_CONDITIONS:
                raise BadUserInput(
                    f"a filter may hold at most {MAX_CONDITIONS} conditions", argument=at
                )
            if operator is Operator.IS_NULL:
                checked: Any = bool(value)
            elif operator in (Operator.IN, Operator.NOT_IN):
                if len(value) > MAX_VALUES:
                    raise BadUserInput(
                        f"`{at}` lists {len(value)} values, over the limit of {MAX_VALUES}",
                        argument=at,
                    )
                checked = tuple(meaning.check(item, at) for item in value)
            else:
                checked = meaning.check(value, at)
            parts.append(Compare(meaning.column, operator, checked))
        return parts


def where_value(given: Any, argument: str = "where") -> WhereValue | None:
    """The filter a `where` argument means (None when not given)."""
    if given is None:
        return None
    walk = _Walk()
    condition = walk.where(given, argument, 1)
    return WhereValue(condition, tuple(walk.reads))


def narrowed(args: dict[str, Any], old: Where | None = None) -> Where | None:
    """A list's filter: its `where` argument, with what an older argument (`filter`) means."""
    new = where_value(args.get("where"))
    if old is None or new is None:
        return new or old
    return Both(old, new)
