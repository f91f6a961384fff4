"""Aggregates beside a list: `contentsAggregate(where:) { count sum avg min max groupBy }`.

Derived like the `where` inputs (`schema.where`), from the same filterable fields: whole numbers
are summed, averaged and compared, times compared; enums, whole numbers, times (truncated to a
day, week or month, in UTC) and to-one relations are group keys. Every aggregate reads what the
list reads: the same filter, the same read policy, hidden values as NULL (`loaders.grouped`). One
statement per aggregate field, whatever the number of parents (nested ones batch through a
loader).

Standard execution answers these fields; the planner leaves an operation that selects them to it.
"""

import dataclasses
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any

import strawberry

from loaders.grouped import MAX_GROUPS, Function, Group, GroupKey, Truncation
from schema.comparisons import ENUM_OF, DateTimeComparison, IntComparison
from schema.context import Info
from schema.policy import refuse_unreadable
from schema.source import Source
from schema.where import FILTERABLE, TYPE_OF_MODEL, WHERE_INPUTS, column_fields, relation_fields


@dataclass(frozen=True, slots=True)
class _Kinds:
    """One type's aggregatable fields: attribute -> GraphQL name, by what can be done."""

    numbers: dict[str, str]
    times: dict[str, str]
    enums: dict[str, tuple[str, type[Enum]]]
    relations: dict[str, tuple[str, str, str]]  # attribute -> (GraphQL name, target, FK column)


def _kinds(type_name: str) -> _Kinds:
    numbers, times, enums, relations = {}, {}, {}, {}
    for attribute, (comparison, _meaning, graphql_name) in column_fields(type_name).items():
        if comparison is IntComparison:
            numbers[attribute] = graphql_name
        elif comparison is DateTimeComparison:
            times[attribute] = graphql_name
        elif comparison in ENUM_OF:
            enums[attribute] = (graphql_name, ENUM_OF[comparison])
    model = FILTERABLE[type_name][1]
    for graphql_name, (target, relation) in relation_fields(type_name).items():
        if relation.many:
            continue
        prop = getattr(model, relation.relationship).property
        (local,) = [c for c in prop.local_columns if c.name != "organization_id"]
        if local.key != "id":  # keyed by this row's foreign key (not a profile keyed by us)
            relations[relation.relationship] = (graphql_name, target, local.key)
    return _Kinds(numbers, times, enums, relations)


def _measures(kinds: _Kinds) -> tuple[tuple[Function, str], ...]:
    measures = [(f, column) for column in kinds.numbers for f in Function]
    measures += [(f, column) for column in kinds.times for f in (Function.MIN, Function.MAX)]
    return tuple(measures)


def _object(name: str, description: str, fields: dict[str, Any]) -> type[Any]:
    """A Strawberry type with plain fields (attribute -> (annotation, GraphQL name))."""
    namespace: dict[str, Any] = {"__module__": __name__, "__annotations__": {}}
    for attribute, (annotation, graphql_name) in fields.items():
        namespace["__annotations__"][attribute] = annotation
        namespace[attribute] = strawberry.field(name=graphql_name)
    return strawberry.type(type(name, (), namespace), name=name, description=description)


def _build(type_name: str) -> type[Any]:
    kinds = _kinds(type_name)
    measures = _measures(kinds)
    sums = avgs = extremes = None
    if kinds.numbers:
        numbers = {a: (float | None, n) for a, n in kinds.numbers.items()}
        sums = _object(f"{type_name}Sums", "Sums of the rows' values (null: no value).", numbers)
        avgs = _object(f"{type_name}Averages", "Means of the rows' values.", numbers)
    if kinds.numbers or kinds.times:
        extremes = _object(
            f"{type_name}Extremes",
            "The least or greatest of the rows' values (null: no value).",
            {a: (int | None, n) for a, n in kinds.numbers.items()}
            | {a: (datetime | None, n) for a, n in kinds.times.items()},
        )

    keys: dict[str, GroupKey] = {}
    for attribute, (graphql_name, _enum) in kinds.enums.items():
        keys[_constant(graphql_name)] = GroupKey(attribute)
    for attribute, graphql_name in kinds.numbers.items():  # a rating's score, a version
        keys[_constant(graphql_name)] = GroupKey(attribute)
    for graphql_name, _target, column in kinds.relations.values():
        keys[_constant(graphql_name)] = GroupKey(column)
    for attribute, graphql_name in kinds.times.items():
        for truncation in Truncation:
            keys[f"{_constant(graphql_name)}_{truncation.name}"] = GroupKey(attribute, truncation)
    key_names: Any = Enum(f"{type_name}GroupKey", {name: name for name in keys})  # type: ignore[misc]  # built from the model
    key_enum = strawberry.enum(
        key_names, description=f"What groups of {type_name} rows may be keyed by."
    )

    value_fields: dict[str, Any] = {}
    for attribute, (graphql_name, enum) in kinds.enums.items():
        value_fields[attribute] = (enum | None, graphql_name)
    for attribute, graphql_name in kinds.numbers.items():
        value_fields[attribute] = (int | None, graphql_name)
    for attribute, graphql_name in kinds.times.items():
        for truncation in Truncation:
            label = GroupKey(attribute, truncation).label
            value_fields[label] = (datetime | None, f"{graphql_name}{truncation.name.title()}")
    group_values_namespace: dict[str, Any] = {
        "__module__": __name__,
        "__annotations__": {a: t for a, (t, _) in value_fields.items()},
        **{a: strawberry.field(name=n, default=None) for a, (_, n) in value_fields.items()},
    }
    group_values_namespace["__annotations__"]["related"] = strawberry.Private[dict[str, Any]]
    group_values_namespace["related"] = dataclasses.field(default_factory=dict)
    for attribute, (graphql_name, target, column) in kinds.relations.items():
        group_values_namespace[attribute] = strawberry.field(
            resolver=_related_resolver(target, column), name=graphql_name
        )
    group_values = strawberry.type(
        type(f"{type_name}GroupValues", (), group_values_namespace),
        name=f"{type_name}GroupValues",
        description=f"The keys of a group of {type_name} rows (null: not grouped by it).",
    )

    def parts(group: Group) -> dict[str, Any]:
        found: dict[str, Any] = {"count": group.count}
        if sums is not None and avgs is not None:
            found["sum"] = sums(
                **{c: _float(group.values[(Function.SUM, c)]) for c in kinds.numbers}
            )
            found["avg"] = avgs(
                **{c: _float(group.values[(Function.AVG, c)]) for c in kinds.numbers}
            )
        if extremes is not None:
            for name, function in (("min", Function.MIN), ("max", Function.MAX)):
                found[name] = extremes(
                    **{c: group.values[(function, c)] for c in (*kinds.numbers, *kinds.times)}
                )
        return found

    measured_fields: dict[str, Any] = {"count": (int, "count")}
    if sums is not None:
        measured_fields |= {"sum": (sums, "sum"), "avg": (avgs, "avg")}
    if extremes is not None:
        measured_fields |= {"min": (extremes, "min"), "max": (extremes, "max")}
    group_fields = {"key": (group_values, "key"), **measured_fields}
    group_type = _object(f"{type_name}Group", f"A group of {type_name} rows.", group_fields)

    async def group_by(self: Any, info: Info, by: list[Any]) -> list[Any]:
        model = self.source.model
        given = [(model, keys[key.value].column, f"by.{i}") for i, key in enumerate(by)]
        refuse_unreadable(info.context.viewer.role, given)
        chosen = tuple(dict.fromkeys(keys[key.value] for key in by))
        groups = await self.source.groups(info, measures, chosen)
        return [
            group_type(key=_values(group_values, group, chosen), **parts(group)) for group in groups
        ]

    group_by.__annotations__ = {"info": Info, "by": list[key_enum], "return": list[group_type]}  # type: ignore[valid-type]
    namespace: dict[str, Any] = {
        "__module__": __name__,
        "__annotations__": {
            **{a: t for a, (t, _) in measured_fields.items()},
            "source": strawberry.Private[Source],
        },
        **{a: strawberry.field(name=n) for a, (_, n) in measured_fields.items()},
        "group_by": strawberry.field(
            resolver=group_by,
            name="groupBy",
            description=f"The rows in groups by the keys given, at most {MAX_GROUPS} groups.",
        ),
    }
    aggregate = strawberry.type(
        type(f"{type_name}Aggregate", (), namespace),
        name=f"{type_name}Aggregate",
        description=f"Aggregates of the {type_name} rows a list holds, as the viewer sees them.",
    )
    _MAKERS[aggregate] = lambda source, whole: aggregate(source=source, **parts(whole))
    _MEASURES[aggregate] = measures
    return aggregate


_MAKERS: dict[type[Any], Callable[[Source, Group], Any]] = {}
_MEASURES: dict[type[Any], Any] = {}


def _values(group_values: type[Any], group: Group, chosen: tuple[GroupKey, ...]) -> Any:
    given = {key.label: group.keys[key.label] for key in chosen}
    plain = {k: v for k, v in given.items() if k in group_values.__annotations__}
    related = {k: v for k, v in given.items() if k not in plain}
    return group_values(**plain, related=related)


def _related_resolver(target: str, column: str) -> Callable[..., Awaitable[Any]]:
    schema_type, model = FILTERABLE[target]

    async def resolve(self: Any, info: Info) -> Any:
        key = self.related.get(column)
        if key is None:
            return None
        row = await info.context.loaders.by_key(model).load(key)
        return None if row is None else schema_type.from_row(row)

    resolve.__annotations__ = {"info": Info, "return": schema_type | None}
    return resolve


def _constant(graphql_name: str) -> str:
    return "".join(f"_{c}" if c.isupper() else c.upper() for c in graphql_name)


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


# Every type a connection lists (`schema.connections`).
AGGREGATES = {name: _build(name) for name in ("Content", "User", "Tag", "Comment", "Rating")}
ContentAggregate = AGGREGATES["Content"]
UserAggregate = AGGREGATES["User"]


async def aggregate_along(info: Info, relation: Any, parent_key: Any, args: dict[str, Any]) -> Any:
    """The aggregate of a nested list (a `PageOfMany` relation) under one parent; the loader
    batches every parent's into one statement."""
    model = relation.attribute.property.mapper.class_
    source = Source(model, relation.where(args), relation.attribute, parent_key)
    return await aggregate_of(info, TYPE_OF_MODEL[model], source)


async def aggregate_of(info: Info, type_name: str, source: Source) -> Any:
    """The aggregate object for `source`: its whole-list measures loaded, `groupBy` on demand."""
    aggregate = AGGREGATES[type_name]
    (whole,) = await source.groups(info, _MEASURES[aggregate], ())
    return _MAKERS[aggregate](source, whole)


__all__ = ["WHERE_INPUTS", "ContentAggregate", "Source", "UserAggregate", "aggregate_of"]
