"""Level-at-a-time loading of relationship fields.

graphql-core resolves a response field by field: an awaitable per relationship field per object,
thousands of them for a 50-item nested page, and that bookkeeping (not SQL) is where a request's
time goes. So whoever produces a list of objects (a root connection, `node(s)`, `viewer`) looks
ahead at what the query selects on them and loads every selected relation for the whole list at
once, one batch per relation and level, recursively. The relation fields then find their value
already on the object and resolve synchronously. A field the look-ahead does not cover (an
argument it cannot read, an error) falls back to its loader, which still batches per level.
"""

from collections.abc import Generator, Iterable, Sequence
from typing import Any, Protocol

from graphql import (
    FieldNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    SelectionSetNode,
    VariableNode,
)
from graphql.execution.values import VariableValues, get_argument_values
from strawberry.types.arguments import convert_arguments
from strawberry.types.base import get_object_definition
from strawberry.types.field import StrawberryField
from strawberry.types.unset import UNSET

from schema.context import Info

# Where prefetched values live on a GraphQL object: response key (alias or name) -> value.
# Within one selection a response key always means the same field with the same arguments.
PREFETCHED = "prefetched"
_MISSING = object()


class Relation(Protocol):
    """A relationship field that can be loaded for many parent objects at once."""

    async def fetch(
        self, info: Info, parents: Sequence[Any], args: dict[str, Any], nodes: list[FieldNode]
    ) -> list[Any]:
        """One value per parent, in order."""

    def children(self, values: Sequence[Any]) -> Iterable[Any]:
        """The GraphQL objects inside the values, whose own relations come next."""

    def child_selections(self, nodes: list[FieldNode]) -> list[SelectionSetNode]:
        """The selection sets that apply to those children."""


# GraphQL type name -> GraphQL field name -> relation. Filled by the type modules.
RELATIONS: dict[str, dict[str, Relation]] = {}


def register(type_name: str, relations: dict[str, Relation]) -> None:
    RELATIONS.setdefault(type_name, {}).update(relations)


def resolve(obj: Any, info: Info, relation: Relation, args: dict[str, Any]) -> Any:
    """The prefetched value of this field, or an awaitable that loads it."""
    value = getattr(obj, PREFETCHED).get(info.path.key, _MISSING)
    if value is not _MISSING:
        return value
    return _Later(obj, info, relation, args)


class _Later:
    """The field's own load, started only when awaited: an execution cancelled before it got
    there leaves no coroutine behind that was never awaited."""

    __slots__ = ("args",)

    def __init__(self, *args: Any) -> None:
        self.args = args

    def __await__(self) -> Generator[Any, None, Any]:
        return _fetch_one(*self.args).__await__()


async def _fetch_one(obj: Any, info: Info, relation: Relation, args: dict[str, Any]) -> Any:
    (value,) = await relation.fetch(info, [obj], args, field_nodes(info))
    return value


def field_nodes(info: Info) -> list[FieldNode]:
    """The nodes of the field being resolved (graphql-core's info, under Strawberry's)."""
    return list(info._raw_info.field_nodes)


def subselections(nodes: Iterable[FieldNode], *path: str) -> list[SelectionSetNode]:
    """Selection sets reached from `nodes` by following field names (`edges`, `node`).

    Fragment spreads on the way are left in the returned sets: `prefetch` expands them.
    Spreads directly inside a connection wrapper (`edges`, `nodes`) are not followed here, so
    their relations simply resolve through the fallback path.
    """
    current = [node.selection_set for node in nodes if node.selection_set is not None]
    for name in path:
        current = [
            field.selection_set
            for selection_set in current
            for field in _fields_named(selection_set, name)
            if field.selection_set is not None
        ]
    return current


def _fields_named(selection_set: SelectionSetNode, name: str) -> Iterable[FieldNode]:
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            if selection.name.value == name:
                yield selection
        elif isinstance(selection, InlineFragmentNode):
            yield from _fields_named(selection.selection_set, name)


def selected_names(info: Info, nodes: Iterable[FieldNode]) -> set[str]:
    """Field names selected under `nodes`, through fragments; `*` when one cannot be read."""
    fragments = info._raw_info.fragments
    names: set[str] = set()

    def visit(selection_set: SelectionSetNode, seen: frozenset[str]) -> None:
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                names.add(selection.name.value)
            elif isinstance(selection, InlineFragmentNode):
                visit(selection.selection_set, seen)
            elif isinstance(selection, FragmentSpreadNode):
                fragment = fragments.get(selection.name.value)
                if fragment is None or selection.name.value in seen:
                    names.add("*")
                else:
                    visit(fragment.selection_set, seen | {selection.name.value})

    for node in nodes:
        if node.selection_set is not None:
            visit(node.selection_set, frozenset())
    return names


async def prefetch(info: Info, objects: Sequence[Any], selections: list[SelectionSetNode]) -> None:
    """Load every registered relation that `selections` ask of `objects`, level by level."""
    if not objects or not selections:
        return
    by_type: dict[str, list[Any]] = {}
    for obj in objects:
        definition = get_object_definition(obj)
        if definition is not None:
            by_type.setdefault(definition.name, []).append(obj)
    raw = info._raw_info
    for type_name, group in by_type.items():
        relations = RELATIONS.get(type_name)
        if not relations:
            continue
        graphql_type = raw.schema.get_type(type_name)
        assert isinstance(graphql_type, GraphQLObjectType)
        fields = _collect(raw.schema, raw.fragments, _coerced(raw), graphql_type, selections)
        for response_key, nodes in fields.items():
            relation = relations.get(nodes[0].name.value)
            if relation is None:
                continue
            try:
                args = _arguments(info, graphql_type, group[0], nodes[0])
                values = await relation.fetch(info, group, args, nodes)
            except GraphQLError:
                continue  # the field's own resolver reports it, at its own path
            for obj, value in zip(group, values, strict=True):
                getattr(obj, PREFETCHED)[response_key] = value
            await prefetch(info, list(relation.children(values)), relation.child_selections(nodes))


def _coerced(raw: Any) -> dict[str, Any]:
    variables = raw.variable_values
    return variables.coerced if isinstance(variables, VariableValues) else dict(variables)


def _arguments(
    info: Info, graphql_type: GraphQLObjectType, obj: Any, node: FieldNode
) -> dict[str, Any]:
    """The field's arguments as its resolver would receive them: Python names, types, defaults."""
    raw = info._raw_info
    variables = raw.variable_values  # resolvers see the coerced dict; arguments need the tuple
    if not isinstance(variables, VariableValues):
        variables = VariableValues(sources={}, coerced=variables)
    graphql_args = get_argument_values(graphql_type.fields[node.name.value], node, variables)
    field = _field_index(info, obj)[node.name.value]
    converter = info.schema.schema_converter
    args = convert_arguments(
        graphql_args,
        field.arguments,
        scalar_registry=converter.scalar_registry,
        config=info.schema.config,
    )
    for argument in field.arguments:
        if argument.python_name not in args and argument.default is not UNSET:
            args[argument.python_name] = argument.default
    return args


_FIELDS: dict[str, dict[str, StrawberryField]] = {}


def _field_index(info: Info, obj: Any) -> dict[str, StrawberryField]:
    definition = get_object_definition(obj)
    assert definition is not None
    index = _FIELDS.get(definition.name)
    if index is None:
        names = info.schema.config.name_converter
        index = _FIELDS[definition.name] = {
            names.get_graphql_name(field): field for field in definition.fields
        }
    return index


def _collect(
    schema: GraphQLSchema,
    fragments: dict[str, Any],
    variables: dict[str, Any],
    graphql_type: GraphQLObjectType,
    selection_sets: list[SelectionSetNode],
) -> dict[str, list[FieldNode]]:
    """The fields selected on `graphql_type`, by response key (fragments and @skip/@include)."""
    fields: dict[str, list[FieldNode]] = {}
    seen_fragments: set[str] = set()

    def visit(selection_set: SelectionSetNode) -> None:
        for selection in selection_set.selections:
            if not _included(selection, variables):
                continue
            if isinstance(selection, FieldNode):
                key = selection.alias.value if selection.alias else selection.name.value
                fields.setdefault(key, []).append(selection)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                if condition is None or _applies(schema, condition.name.value, graphql_type):
                    visit(selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = fragments.get(name)
                if fragment is None or name in seen_fragments:
                    continue
                seen_fragments.add(name)
                if _applies(schema, fragment.type_condition.name.value, graphql_type):
                    visit(fragment.selection_set)

    for selection_set in selection_sets:
        visit(selection_set)
    return fields


def _applies(schema: GraphQLSchema, condition: str, graphql_type: GraphQLObjectType) -> bool:
    if condition == graphql_type.name:
        return True
    abstract = schema.get_type(condition)
    return abstract is not None and schema.is_sub_type(abstract, graphql_type)  # type: ignore[arg-type]


def _included(selection: Any, variables: dict[str, Any]) -> bool:
    for directive in selection.directives or ():
        name = directive.name.value
        if name not in ("skip", "include"):
            continue
        condition = next((arg.value for arg in directive.arguments if arg.name.value == "if"), None)
        if condition is None:
            continue
        value = (
            variables.get(condition.name.value)
            if isinstance(condition, VariableNode)
            else getattr(condition, "value", None)
        )
        if (name == "skip") == bool(value):
            return False
    return True
