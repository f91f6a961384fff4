"""What the planner knows of the schema's types: where their rows come from, which leaves are
computed from a row, which fields are relations.

Type modules declare what is not plain (`computed(...)`, next to their `from_row`); everything
else is derived: a leaf field reads the row's column of the same name (checked against the
model when the catalog is built), a `Node` type's `id` is the global id of the row's key (one
column or several), and the relations are the ones the types register for prefetching
(`schema.execution.prefetch.RELATIONS`).
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from graphql import GraphQLList, GraphQLNonNull, GraphQLObjectType, GraphQLSchema
from sqlalchemy import inspect
from strawberry.types.base import StrawberryObjectDefinition

from loaders import value_of
from loaders.statements import key_names
from schema.execution.plan import Catalog, Getter, reads

__all__ = ["Held", "build_catalog", "computed", "fields_of", "held_by", "reads", "row_key"]

# A relation names its parent's key by the Strawberry attribute; a row calls it by its column.
_ROW_KEYS = {"pk": "id"}


def row_key(key: str) -> str:
    """The row column holding a relation's key (`pk` on the Strawberry object is `id`)."""
    return _ROW_KEYS.get(key, key)


_COMPUTED: dict[str, dict[str, Getter]] = {}


def computed(type_name: str, **getters: Getter) -> None:
    """Leaves of `type_name` computed from its row (and the viewer), by GraphQL field name."""
    _COMPUTED.setdefault(type_name, {}).update(getters)


def computed_fields(type_name: str) -> frozenset[str]:
    """The fields of `type_name` whose values are computed from its row, not read from it."""
    return frozenset(_COMPUTED.get(type_name, ()))


@dataclass(frozen=True, slots=True)
class Held:
    """What the objects a root's fields return hold (mutation payloads): the types read by
    attribute, their object fields as `Attribute` relations, and the fields with a resolver of
    their own that no registered relation covers (`Catalog.resolved`)."""

    roots: frozenset[str]
    objects: frozenset[str]
    relations: dict[str, dict[str, Any]]
    resolved: dict[str, frozenset[str]]


def held_by(
    strawberry_schema: Any,
    root: str,
    *,
    rows: frozenset[str],
    registered: Mapping[str, Mapping[str, Any]],
    attribute: Callable[[str], Any],
) -> Held:
    """What the fields of the root type `root` return, as `Held`: `rows` are the types of rows
    (left to their own plans), `registered` the relations types register, `attribute(name)`
    the relation reading an attribute of its parent."""
    graphql = strawberry_schema._schema
    objects: set[str] = set()
    relations: dict[str, dict[str, Any]] = {}
    resolved: dict[str, frozenset[str]] = {}

    def visit(type_name: str) -> None:
        if type_name in rows or type_name in objects:
            return
        objects.add(type_name)
        graphql_type = graphql.get_type(type_name)
        own = registered.get(type_name, {})
        with_resolvers = set()
        for name, field in fields_of(strawberry_schema, type_name).items():
            named = _named(graphql_type.fields[name].type)
            if name in own:
                continue
            if field.base_resolver is not None:
                with_resolvers.add(name)
            elif isinstance(named, GraphQLObjectType):
                relations.setdefault(type_name, {})[name] = attribute(field.python_name)
                visit(named.name)
        resolved[type_name] = frozenset(with_resolvers)

    root_type = graphql.get_type(root)
    for field in root_type.fields.values() if root_type is not None else ():
        visit(_named(field.type).name)
    return Held(
        roots=frozenset(root_type.fields) if root_type is not None else frozenset(),
        objects=frozenset(objects),
        relations=relations,
        resolved=resolved,
    )


def fields_of(strawberry_schema: Any, type_name: str) -> dict[str, Any]:
    """The Strawberry fields of an object type, by GraphQL name (their `metadata` included)."""
    definition = strawberry_schema.get_type_by_name(type_name)
    assert isinstance(definition, StrawberryObjectDefinition), type_name
    names = strawberry_schema.config.name_converter
    return {names.get_graphql_name(field): field for field in definition.fields}


def _named(type_: Any) -> Any:
    while isinstance(type_, GraphQLNonNull | GraphQLList):
        type_ = type_.of_type
    return type_


def build_catalog(
    schema: GraphQLSchema,
    *,
    models: Mapping[str, type[Any]],
    objects: frozenset[str],
    relations: Mapping[str, Mapping[str, Any]],
    roots: frozenset[str],
    global_id: Any,
    mutations: frozenset[str] = frozenset(),
    resolved: Mapping[str, frozenset[str]] | None = None,
) -> Catalog:
    """`models`: GraphQL type name -> the model its rows are of; `objects`: types whose values
    are plain objects read by attribute (aggregates); `global_id(type_name, key)`."""
    columns: dict[str, frozenset[str] | None] = {
        name: frozenset(attribute.key for attribute in inspect(model).column_attrs)
        for name, model in models.items()
    }
    columns.update({name: None for name in objects})
    computed_by_type = {name: dict(getters) for name, getters in _COMPUTED.items()}
    for name in models:
        graphql_type = schema.get_type(name)
        if isinstance(graphql_type, GraphQLObjectType) and any(
            interface.name == "Node" for interface in graphql_type.interfaces
        ):
            computed_by_type.setdefault(name, {}).setdefault(
                "id", _global_id(global_id, name, models[name])
            )
    connections = frozenset(
        name
        for name, graphql_type in schema.type_map.items()
        if isinstance(graphql_type, GraphQLObjectType)
        and {"edges", "nodes", "pageInfo"} <= set(graphql_type.fields)
    )
    return Catalog(
        computed=computed_by_type,
        relations=relations,
        columns=columns,
        roots=roots,
        connections=connections,
        relation_reads={
            name: {field: _relation_reads(spec) for field, spec in fields.items()}
            for name, fields in relations.items()
        },
        mutations=mutations,
        resolved=resolved or {},
    )


def _relation_reads(spec: Any) -> frozenset[str] | None:
    """What a relation's load reads of its parent row: its key, and what `applies` reads."""
    key = frozenset({row_key(spec.key)})
    applies = getattr(spec, "applies", None)
    if applies is None:
        return key
    applies_reads: frozenset[str] | None = getattr(applies, "reads", None)
    return None if applies_reads is None else key | applies_reads


def _global_id(encode: Any, type_name: str, model: type[Any]) -> Getter:
    """The global id of a row of `model`, from its key columns (one, or several)."""
    names = key_names(model)
    if len(names) == 1:
        (name,) = names

        @reads(name)
        def get(row: Any, _viewer: Any) -> Any:
            return encode(type_name, value_of(row, name))

        return get

    @reads(*names)
    def get_compound(row: Any, _viewer: Any) -> Any:
        return encode(type_name, tuple(value_of(row, name) for name in names))

    return get_compound
