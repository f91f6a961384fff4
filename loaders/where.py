"""`where` filters as values: comparisons of columns, `and`/`or`/`not`, and relation filters.

A filter is a tree of frozen dataclasses, hashable, so equal filters share loaders. Its SQL is
built on the model as the viewer sees it (`ColumnView`: a hidden value is NULL there), and a
relation filter is an `EXISTS` over the related entity, aliased, so the session's tenant,
soft-delete and read-policy criteria apply to the related rows as they do to any read: a row
the viewer cannot see never makes another match.

Every comparison is two-valued: it never matches a null (`isNull` does), and `not` and `every`
treat "unknown" as "does not match", so a value hidden from the viewer matches nothing, negated
or not, and the same filter means the same thing in SQL and in a reference written in Python.

`bind()` turns every value into a named parameter: a statement is then built and compiled once
per filter *shape* (fields, operators, nesting), and run with each request's values.
"""

from dataclasses import dataclass, field
from enum import Enum, StrEnum
from functools import cache
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Integer,
    Select,
    String,
    all_,
    and_,
    any_,
    bindparam,
    false,
    inspect,
    literal_column,
    not_,
    or_,
    select,
    true,
)
from sqlalchemy import Enum as EnumType
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import aliased
from sqlalchemy.sql.util import ClauseAdapter

from loaders.edges import edge
from loaders.statements import includes_deleted, live
from loaders.visibility import ColumnView, bound


class Operator(StrEnum):
    EQ = "eq"
    NEQ = "neq"
    IN = "in"
    NOT_IN = "notIn"
    LT = "lt"
    LTE = "lte"
    GT = "gt"
    GTE = "gte"
    IS_NULL = "isNull"
    CONTAINS = "contains"
    STARTS_WITH = "startsWith"


class Quantifier(StrEnum):
    SOME = "some"
    EVERY = "every"
    NONE = "none"
    ONE = "one"  # a to-one relation: the related row exists and matches


@dataclass(frozen=True, slots=True)
class Slot:
    """A value bound as the parameter `name` (`bind`)."""

    name: str


@dataclass(frozen=True, slots=True)
class Compare:
    column: str
    operator: Operator
    value: Any  # hashable: a tuple for `in`/`notIn`; a Slot once bound

    def criterion(self, model: Any, view: ColumnView) -> ColumnElement[bool]:
        column = view.column(model, self.column)
        operator = self.operator
        if operator is Operator.IS_NULL:
            return column.is_(None) if self.value else column.is_not(None)
        value = self.value if isinstance(self.value, Slot) else self.parameter()
        if operator in (Operator.IN, Operator.NOT_IN):
            values = _array(column.type, value)
            if operator is Operator.IN:
                return column == any_(values)
            return and_(column.is_not(None), column != all_(values))
        value = _value(column.type, value)
        if operator in (Operator.CONTAINS, Operator.STARTS_WITH):
            return column.ilike(value, escape="\\")
        compared: ColumnElement[bool] = _COMPARED[operator](column, value)
        return compared

    def parameter(self) -> Any:
        """The value as it is bound: `in` lists as lists, text patterns escaped."""
        if self.operator is Operator.CONTAINS:
            return f"%{escape_like(self.value)}%"
        if self.operator is Operator.STARTS_WITH:
            return f"{escape_like(self.value)}%"
        if self.operator in (Operator.IN, Operator.NOT_IN):
            return [_plain(item) for item in self.value]
        return self.value


_COMPARED = {
    Operator.EQ: lambda column, value: column == value,
    Operator.NEQ: lambda column, value: column != value,
    Operator.LT: lambda column, value: column < value,
    Operator.LTE: lambda column, value: column <= value,
    Operator.GT: lambda column, value: column > value,
    Operator.GTE: lambda column, value: column >= value,
}


def _plain(value: Any) -> Any:
    return value.value if isinstance(value, Enum) else value


def _value(column_type: Any, value: Any) -> Any:
    # Any whole number a client sends compares with a smaller integer column (no overflow).
    column_type = BigInteger() if isinstance(column_type, Integer) else column_type
    if isinstance(value, Slot):
        return bindparam(value.name, type_=column_type)
    return bindparam(None, value, type_=column_type)


def _array(column_type: Any, value: Any) -> Any:
    # An enum column is text underneath (`models.base.str_enum`): its values go as text.
    item = String() if isinstance(column_type, EnumType) else column_type
    item = BigInteger() if isinstance(item, Integer) else item
    if isinstance(value, Slot):
        return bindparam(value.name, type_=_array_of(item))
    return bindparam(None, value, type_=_array_of(item))


@cache
def _array_of(item: Any) -> ARRAY[Any]:
    return ARRAY(item)


def escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


@dataclass(frozen=True, slots=True)
class AllOf:
    parts: tuple["Condition", ...]

    def criterion(self, model: Any, view: ColumnView) -> ColumnElement[bool]:
        return and_(true(), *(part.criterion(model, view) for part in self.parts))


@dataclass(frozen=True, slots=True)
class AnyOf:
    parts: tuple["Condition", ...]

    def criterion(self, model: Any, view: ColumnView) -> ColumnElement[bool]:
        if not self.parts:
            return false()
        return or_(*(part.criterion(model, view) for part in self.parts))


@dataclass(frozen=True, slots=True)
class Not:
    part: "Condition"

    def criterion(self, model: Any, view: ColumnView) -> ColumnElement[bool]:
        return not_(_known(self.part.criterion(model, view)))


def _known(criterion: ColumnElement[bool]) -> ColumnElement[bool]:
    """True where it holds, false where it does not or is unknown (a NULL compared)."""
    return criterion.is_(True)


@dataclass(frozen=True, slots=True)
class Related:
    """Rows related through the relationship `name` of the model: `some`, `every` or `none` of
    a to-many relation match `where`, or the one row of a to-one relation does."""

    name: str
    quantifier: Quantifier
    where: "Condition"

    def criterion(self, model: Any, view: ColumnView) -> ColumnElement[bool]:
        relationship = getattr(inspect(model).mapper.class_, self.name)
        along = edge(relationship)
        target = aliased(along.target)
        link = getattr(target, str(along.link.key)) if along.secondary is None else along.link
        parent = view.column(model, along.parent_key)
        related: Select[Any] = select(literal_column("1")).select_from(target).where(*live(target))
        if along.secondary is not None:
            assert along.secondary_join is not None
            related = related.join(along.secondary, _on_alias(along, target))
            related = related.where(
                along.secondary.c.organization_id == model.organization_id, link == parent
            )
        else:
            related = related.where(target.organization_id == model.organization_id, link == parent)
        matching = self.where.criterion(target, view)
        if self.quantifier is Quantifier.EVERY:
            return not_(related.where(not_(_known(matching))).exists())
        found = related.where(matching).exists()
        return not_(found) if self.quantifier is Quantifier.NONE else found


def _on_alias(along: Any, target: Any) -> ColumnElement[bool]:
    """The link table's join to the target, on the alias: the mapping's join adapted."""
    return ClauseAdapter(inspect(target).selectable).traverse(along.secondary_join)  # type: ignore[no-any-return]


Condition = Compare | AllOf | AnyOf | Not | Related


@dataclass(frozen=True, slots=True)
class Where:
    """A whole `where` argument: a `loaders.pages.Where`."""

    condition: Condition
    # The fields it compares, each (model, column, argument path), for the read policy to check
    # against a viewer (`schema.policy.refuse_unreadable`); not part of the filter's SQL.
    reads: tuple[tuple[Any, str, str], ...] = field(default=(), compare=False)

    def criteria(self, model: Any, view: ColumnView) -> list[ColumnElement[bool]]:
        return [self.condition.criterion(model, view)]

    def bind(self) -> tuple["Where", dict[str, Any]]:
        """The same filter with its values as named parameters; and those values."""
        params: dict[str, Any] = {}
        return Where(_bound(self.condition, params)), params


def _bound(condition: Condition, params: dict[str, Any]) -> Condition:
    if isinstance(condition, Compare):
        if condition.operator is Operator.IS_NULL:
            return condition  # its value is the SQL's shape
        name = f"where_{len(params)}"
        params[name] = condition.parameter()
        return Compare(condition.column, condition.operator, Slot(name))
    if isinstance(condition, AllOf):
        return AllOf(tuple(_bound(part, params) for part in condition.parts))
    if isinstance(condition, AnyOf):
        return AnyOf(tuple(_bound(part, params) for part in condition.parts))
    if isinstance(condition, Not):
        return Not(_bound(condition.part, params))
    return Related(condition.name, condition.quantifier, _bound(condition.where, params))


@dataclass(frozen=True, slots=True)
class Both:
    """Two filters that must both match (an old `filter` argument next to `where`)."""

    first: Any
    second: Any

    @property
    def reads(self) -> tuple[tuple[Any, str, str], ...]:
        return reads_of(self.first) + reads_of(self.second)

    @property
    def include_deleted(self) -> bool:
        """A list that decides about deleted rows itself (comment threads) still does."""
        return includes_deleted(self.first) or includes_deleted(self.second)

    def criteria(self, model: Any, view: ColumnView) -> list[ColumnElement[bool]]:
        return [*self.first.criteria(model, view), *self.second.criteria(model, view)]

    def bind(self) -> tuple["Both", dict[str, Any]]:
        first, params = bound(self.first)
        second, more = bound(self.second)
        overlap = params.keys() & more.keys()
        assert not overlap, overlap
        return Both(first, second), {**params, **more}


def reads_of(where: Any) -> tuple[tuple[Any, str, str], ...]:
    """The fields a filter compares (`Where.reads`); none for a list's own filters."""
    reads: tuple[tuple[Any, str, str], ...] = getattr(where, "reads", ())
    return reads
