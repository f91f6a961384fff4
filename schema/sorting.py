"""`sort` arguments: a list of keys, each a field, a to-one relation's field or a to-many
relation's count, ascending or descending; derived like the `where` inputs (`schema.where`).

A list sorted this way pages by keyset like any other (`loaders.pages`): its cursors hold every
key's value and the primary key, which breaks ties, and NULLs sort last ascending, first
descending. `sort`, when given, replaces `orderBy`.
"""

from decimal import Decimal
from enum import Enum
from typing import Any
from uuid import UUID

import strawberry
from sqlalchemy import Enum as EnumType
from sqlalchemy import inspect

from loaders import Ordering
from loaders.orderings import average_rating
from loaders.sorting import ColumnKey, CountKey, RelatedKey
from schema.errors import BadUserInput
from schema.policy import Read, hidden_field
from schema.where import FILTERABLE, column_fields, relation_fields

MAX_SORT_KEYS = 5


@strawberry.enum(description="Which way a sort key runs.")
class SortDirection(Enum):
    ASC = "ASC"
    DESC = "DESC"


@strawberry.input(description="Sorts by how many related rows the viewer may see there are.")
class CountSort:
    count: SortDirection


def _input(name: str, description: str, fields: dict[str, tuple[Any, str]]) -> type[Any]:
    namespace: dict[str, Any] = {
        "__module__": __name__,
        "__annotations__": {a: t | None for a, (t, _) in fields.items()},
        **{a: strawberry.field(default=None, name=n) for a, (_, n) in fields.items()},
    }
    return strawberry.input(type(name, (), namespace), name=name, description=description)


def _sortable_columns(type_name: str) -> dict[str, str]:
    return {
        attribute: graphql_name
        for attribute, (_, _, graphql_name) in column_fields(type_name).items()
        if attribute != "id"  # the tie breaker, always last (`sort_ordering`)
    }


_FIELD_SORTS: dict[str, type[Any]] = {}


def field_sort(type_name: str) -> type[Any]:
    """`<Type>FieldSort`: one of the type's own fields (what a relation's key may be)."""
    if type_name not in _FIELD_SORTS:
        fields = {a: (SortDirection, n) for a, n in _sortable_columns(type_name).items()}
        _FIELD_SORTS[type_name] = _input(
            f"{type_name}FieldSort", f"One field of {type_name} to sort by.", fields
        )
    return _FIELD_SORTS[type_name]


# Sort keys that are no field of the type: name -> (key, cursor type, description).
EXTRA_KEYS: dict[str, dict[str, tuple[Any, type]]] = {
    "Content": {"average_rating": (average_rating, Decimal)},
}


def _build(type_name: str) -> type[Any]:
    fields: dict[str, tuple[Any, str]] = {
        a: (SortDirection, n) for a, n in _sortable_columns(type_name).items()
    }
    for graphql_name, (target, relation) in relation_fields(type_name).items():
        attribute = relation.relationship
        if relation.many:
            fields[attribute] = (CountSort, graphql_name)
        elif target in FILTERABLE and _sortable_columns(target):
            fields[attribute] = (field_sort(target), graphql_name)
    for name in EXTRA_KEYS.get(type_name, {}):
        fields[name] = (SortDirection, _camel(name))
    return _input(
        f"{type_name}Sort",
        f"One key to sort {type_name} rows by: give exactly one field.",
        fields,
    )


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _cursor_type(column: Any) -> type:
    if isinstance(column.type, EnumType):
        return str  # stored as text (`models.base.str_enum`)
    python_type: type = column.type.python_type
    return python_type


def _one(item: Any, path: str) -> tuple[str, Any]:
    given = [(name, value) for name, value in vars(item).items() if value is not None]
    if len(given) != 1:
        raise BadUserInput(f"`{path}` must give exactly one field", argument=path)
    return given[0]


def sort_ordering(type_name: str, items: list[Any], argument: str = "sort") -> Ordering:
    """The ordering a `sort` argument asks for, its primary key last."""
    if not items:
        raise BadUserInput(f"`{argument}` must list at least one key", argument=argument)
    if len(items) > MAX_SORT_KEYS:
        raise BadUserInput(f"`{argument}` may list at most {MAX_SORT_KEYS} keys", argument=argument)
    model = FILTERABLE[type_name][1]
    mapper = inspect(model)
    keys: list[Any] = []
    types: list[type] = []
    directions: list[bool] = []
    nullable: list[bool] = []
    names: list[str] = []
    reads: list[Read] = []  # checked against the viewer with the page (`page_request`)
    for index, item in enumerate(items):
        path = f"{argument}.{index}"
        name, value = _one(item, path)
        if isinstance(value, SortDirection):
            direction = value
            if name in EXTRA_KEYS.get(type_name, {}):
                key, kind = EXTRA_KEYS[type_name][name]
                keys.append(key)
                types.append(kind)
                nullable.append(True)
            else:
                column = mapper.columns[name]
                keys.append(ColumnKey(name))
                types.append(_cursor_type(column))
                nullable.append(bool(column.nullable) or hidden_field(model, name) is not None)
                reads.append((model, name, f"{path}.{_camel(name)}"))
            names.append(name)
        elif isinstance(value, CountSort):
            direction = value.count
            keys.append(CountKey(name))
            types.append(int)
            nullable.append(False)
            names.append(f"{name}.count")
        else:
            inner, direction = _one(value, f"{path}.{name}")
            target = getattr(model, name).property.mapper
            keys.append(RelatedKey(name, inner))
            reads.append((target.class_, inner, f"{path}.{_camel(name)}.{_camel(inner)}"))
            types.append(_cursor_type(target.columns[inner]))
            nullable.append(True)  # no related row, or one the viewer may not see
            names.append(f"{name}.{inner}")
        directions.append(direction is SortDirection.DESC)
        names[-1] += f" {direction.value}"
    # The primary key breaks ties (a rating's is its content and its user: it has no id).
    ties = [mapper.get_property_by_column(c).key for c in mapper.primary_key]
    ties = [name for name in ties if name != "organization_id"]
    return Ordering(
        f"SORT({', '.join(names)})",
        (*keys, *(ColumnKey(name) for name in ties)),
        (*types, *(UUID for _ in ties)),
        directions=(*directions, *(False for _ in ties)),
        nullable=(*nullable, *(False for _ in ties)),
        reads=tuple(reads),
    )


SORT_INPUTS = {name: _build(name) for name in ("Content", "User", "Tag", "Comment", "Rating")}
ContentSort = SORT_INPUTS["Content"]
UserSort = SORT_INPUTS["User"]
TagSort = SORT_INPUTS["Tag"]
CommentSort = SORT_INPUTS["Comment"]
RatingSort = SORT_INPUTS["Rating"]


__all__ = [
    "CommentSort",
    "ContentSort",
    "RatingSort",
    "SortDirection",
    "TagSort",
    "UserSort",
    "sort_ordering",
]
