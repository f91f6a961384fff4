"""Field resolution without Strawberry's per-field wrapper where it has nothing to add.

Strawberry wraps every field's resolver (arguments, `Info`, extensions, permissions). For a
plain attribute, and for a relation whose value `schema.execution.prefetch` already put on the
object, that wrapper is most of what the field costs, and a 50-item nested response has thousands of
them. So once the schema is built, those fields get graphql-core resolvers of their own: an
attribute read, or a look-up of the prefetched value that falls back to Strawberry's resolver
when there is none. Fields with arguments, permissions or extensions keep Strawberry's.
"""

from collections.abc import Callable
from typing import Any

from graphql import GraphQLObjectType, GraphQLResolveInfo
from strawberry import Schema
from strawberry.types.base import StrawberryObjectDefinition

from schema.execution.prefetch import PREFETCHED, RELATIONS
from schema.node import to_global_id

GraphQLResolver = Callable[..., Any]
_MISSING = object()


def install(schema: Schema) -> None:
    names = schema.config.name_converter
    for type_name, graphql_type in schema._schema.type_map.items():
        if type_name.startswith("__") or not isinstance(graphql_type, GraphQLObjectType):
            continue
        definition = schema.get_type_by_name(type_name)
        if not isinstance(definition, StrawberryObjectDefinition):
            continue
        relations = RELATIONS.get(type_name, {})
        for field in definition.fields:
            graphql_name = names.get_graphql_name(field)
            graphql_field = graphql_type.fields.get(graphql_name)
            if graphql_field is None or field.extensions or field.permission_classes:
                continue  # a private attribute, or a field that needs Strawberry's wrapper
            if graphql_name == "id" and any(
                interface.name == "Node" for interface in graphql_type.interfaces
            ):
                graphql_field.resolve = _global_id(type_name)
            elif field.base_resolver is None:
                graphql_field.resolve = _attribute(field.python_name)
            elif graphql_name in relations and graphql_field.resolve is not None:
                graphql_field.resolve = _prefetched_or(graphql_field.resolve)


def _attribute(name: str) -> GraphQLResolver:
    def resolve(source: Any, _info: GraphQLResolveInfo[Any]) -> Any:
        return getattr(source, name)

    return resolve


def _global_id(type_name: str) -> GraphQLResolver:
    def resolve(source: Any, _info: GraphQLResolveInfo[Any]) -> Any:
        return to_global_id(type_name, source.pk)

    return resolve


def _prefetched_or(strawberry_resolver: GraphQLResolver) -> GraphQLResolver:
    def resolve(source: Any, info: GraphQLResolveInfo[Any], **args: Any) -> Any:
        value = getattr(source, PREFETCHED).get(info.path.key, _MISSING)
        if value is not _MISSING:
            return value
        return strawberry_resolver(source, info, **args)

    return resolve
