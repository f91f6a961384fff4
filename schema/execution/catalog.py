"""What the planner knows of the schema's types: where their rows come from, which leaves are
computed from a row, which fields are relations.

Type modules declare what is not plain (`computed(...)`, next to their `from_row`); everything
else is derived: a leaf field reads the row's column of the same name (checked against the
model when the catalog is built), a `Node` type's `id` is the global id of the row's key (one
column or several), and the relations are the ones the types register for prefetching
(`schema.execution.prefetch.RELATIONS`).
"""

from collections.abc import Mapping
from typing import Any

from graphql import GraphQLObjectType, GraphQLSchema
from sqlalchemy import inspect

from loaders import value_of
from loaders.statements import key_names
from schema.execution.plan import Catalog, Getter, reads

__all__ = ["build_catalog", "computed", "reads", "row_key"]

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


def build_catalog(
    schema: GraphQLSchema,
    *,
    models: Mapping[str, type[Any]],
    objects: frozenset[str],
    relations: Mapping[str, Mapping[str, Any]],
    roots: frozenset[str],
    global_id: Any,
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
