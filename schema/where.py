"""`where` inputs, one per listed type, derived from its schema type, its model and its relations.

A field of a type may be filtered on when it shows a column of its model as stored (same name),
or a column the read policy hides from some viewers (`schema.policy.HIDDEN_FIELDS`: filters read
it through the viewer's `ColumnView`, where it is NULL). A value the schema computes from its row
(a comment's `body`, null on a tombstone) is not the column, so it is not offered. A `Node`'s
`id` compares global ids. Relations registered for a type (`schema.prefetch.RELATIONS`) to
another listed type become nested filters: the related row for a to-one relation, `some`,
`every` or `none` of the related rows for a to-many one, under the same read policy as reads.

Imported once every type module is loaded (`schema.root`); type modules that take a `where`
argument name its type lazily (`strawberry.lazy("schema.where")`).
"""

from datetime import datetime
from enum import Enum
from typing import Any

import strawberry
from sqlalchemy import inspect
from strawberry.types.base import StrawberryOptional, get_object_definition
from strawberry.types.enum import StrawberryEnumDefinition

import models
from schema.comment import Comment
from schema.comparisons import (
    WHERE_SPECS,
    ColumnField,
    DateTimeComparison,
    IDComparison,
    IntComparison,
    RelationField,
    StringComparison,
    WhereSpec,
    as_is,
    checked_id,
    checked_text,
    checked_time,
    enum_comparison,
)
from schema.content import Attachment, Content, Rating
from schema.execution.catalog import computed_fields
from schema.execution.prefetch import RELATIONS
from schema.policy import HIDDEN_FIELDS
from schema.relations import Many, One, PageOfMany
from schema.tag import Tag
from schema.user import User, UserProfile

# GraphQL type name -> its schema type and model: the types a `where` input is made for.
FILTERABLE: dict[str, tuple[type[Any], type[Any]]] = {
    "Content": (Content, models.Content),
    "User": (User, models.User),
    "UserProfile": (UserProfile, models.UserProfile),
    "Tag": (Tag, models.Tag),
    "Comment": (Comment, models.Comment),
    "Attachment": (Attachment, models.Attachment),
    "Rating": (Rating, models.Rating),
}
_HIDDEN = {(hidden.column.class_, hidden.column.key) for hidden in HIDDEN_FIELDS}
TYPE_OF_MODEL = {model: name for name, (_, model) in FILTERABLE.items()}


def _comparison(python_type: Any) -> tuple[Any, Any] | None:
    """The comparison input for a field's Python type, and how its values are checked."""
    if isinstance(python_type, StrawberryOptional):
        python_type = python_type.of_type
    if isinstance(python_type, StrawberryEnumDefinition):
        python_type = python_type.wrapped_cls
    if python_type is str:
        return StringComparison, checked_text
    if python_type is int:
        return IntComparison, as_is
    if python_type is datetime:
        return DateTimeComparison, checked_time
    if isinstance(python_type, type) and issubclass(python_type, Enum):
        return enum_comparison(python_type), as_is
    return None


def column_fields(type_name: str) -> dict[str, tuple[Any, ColumnField, str]]:
    """The filterable column fields: attribute -> (comparison input, meaning, GraphQL name)."""
    schema_type, model = FILTERABLE[type_name]
    definition = get_object_definition(schema_type, strict=True)
    columns = {attribute.key for attribute in inspect(model).column_attrs}
    computed = computed_fields(type_name)
    found: dict[str, tuple[Any, ColumnField, str]] = {}
    for schema_field in definition.fields:
        name = schema_field.python_name
        graphql_name = schema_field.graphql_name or _camel(name)
        if name == "id" and "id" in columns:
            found[name] = (IDComparison, ColumnField("id", checked_id(type_name)), graphql_name)
            continue
        if name not in columns:
            continue
        hidden = (model, name) in _HIDDEN
        plain = schema_field.base_resolver is None and name not in computed
        comparison = _comparison(schema_field.type)
        if (hidden or plain) and comparison is not None:
            found[name] = (comparison[0], ColumnField(name, comparison[1]), graphql_name)
    return found


def relation_fields(type_name: str) -> dict[str, tuple[str, RelationField]]:
    """Relation fields to other listed types: GraphQL name -> (target type, meaning)."""
    found: dict[str, tuple[str, RelationField]] = {}
    for graphql_name, relation in RELATIONS.get(type_name, {}).items():
        if not isinstance(relation, One | Many | PageOfMany):
            continue  # computed values (counts, summaries) are not relations
        if isinstance(relation, One) and relation.include_deleted:
            continue  # reads rows the session's criteria hide: no filter would agree
        prop = relation.attribute.property
        target = TYPE_OF_MODEL.get(prop.mapper.class_)
        if target is not None:
            found[graphql_name] = (target, RelationField(prop.key, bool(prop.uselist)))
    return found


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name)


def _logical_fields() -> dict[str, Any]:
    """`and`, `or`, `not`: new fields for each input (Strawberry's fields belong to one type)."""
    return {
        "and_": strawberry.field(default=None, name="and", description="All of these match."),
        "or_": strawberry.field(default=None, name="or", description="One of these matches."),
        "not_": strawberry.field(default=None, name="not", description="This does not match."),
    }


def _build() -> dict[str, type[Any]]:
    # Classes first, fields next: the inputs refer to each other (content -> comments -> content).
    wheres = {name: type(f"{name}Where", (), {"__module__": __name__}) for name in FILTERABLE}
    lists: dict[str, type[Any]] = {}

    def list_where(target: str) -> type[Any]:
        if target not in lists:
            inner = wheres[target] | None
            cls = type(
                f"{target}ListWhere",
                (),
                {
                    "__module__": __name__,
                    "__annotations__": {"some": inner, "every": inner, "none": inner},
                    "some": strawberry.field(default=None, description="At least one matches."),
                    "every": strawberry.field(
                        default=None, description="All match (true when there are none)."
                    ),
                    "none": strawberry.field(default=None, description="None matches."),
                },
            )
            lists[target] = strawberry.input(
                cls,
                name=f"{target}ListWhere",
                description=f"Conditions on related {target} rows the viewer may see.",
            )
        return lists[target]

    for name, cls in wheres.items():
        spec = WhereSpec(FILTERABLE[name][1])
        annotations: dict[str, Any] = {}
        for attribute, (comparison, meaning, graphql_name) in column_fields(name).items():
            annotations[attribute] = comparison | None
            setattr(cls, attribute, strawberry.field(default=None, name=graphql_name))
            spec.fields[attribute], spec.names[attribute] = meaning, graphql_name
        for graphql_name, (target, relation) in relation_fields(name).items():
            attribute = _snake(graphql_name)
            kind = list_where(target) if relation.many else wheres[target]
            annotations[attribute] = kind | None
            setattr(cls, attribute, strawberry.field(default=None, name=graphql_name))
            spec.fields[attribute], spec.names[attribute] = relation, graphql_name
        annotations |= {"and_": list[cls] | None, "or_": list[cls] | None, "not_": cls | None}  # type: ignore[valid-type]
        for attribute, logical in _logical_fields().items():
            setattr(cls, attribute, logical)
        cls.__annotations__ = annotations
        WHERE_SPECS[cls] = spec
    for name, cls in wheres.items():
        strawberry.input(
            cls,
            name=f"{name}Where",
            description=f"Conditions on {name} rows; all given must hold. A field hidden from"
            " the viewer reads as null.",
        )
    return wheres


WHERE_INPUTS = _build()
ContentWhere = WHERE_INPUTS["Content"]
UserWhere = WHERE_INPUTS["User"]
TagWhere = WHERE_INPUTS["Tag"]
CommentWhere = WHERE_INPUTS["Comment"]
RatingWhere = WHERE_INPUTS["Rating"]
