"""The exact cost of an introspection selection: the objects its answer holds.

An introspection answer depends on the schema alone, so instead of guessing list sizes (which
would price GraphiQL's own introspection query far over any sensible limit, or let 30 aliased
`types` lists through as cheap) the selection is walked over the schema itself, with
graphql-core's own introspection resolvers, counting every object it would return. The walk
stops as soon as the count passes `budget`: an oversized selection costs no more to refuse than
the limit allows.
"""

from collections.abc import Callable, Iterable, Iterator, Mapping
from types import SimpleNamespace
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLField,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    SchemaMetaFieldDef,
    SelectionSetNode,
    TypeMetaFieldDef,
    get_named_type,
)
from graphql.execution.values import VariableValues, get_argument_values

_ROOTS = {"__schema": SchemaMetaFieldDef, "__type": TypeMetaFieldDef}


class _OverBudget(Exception):
    pass


def introspection_cost(
    schema: GraphQLSchema,
    node: FieldNode,
    fragments: Callable[[str], FragmentDefinitionNode | None],
    variables: Mapping[str, Any],
    budget: int,
) -> int:
    """Objects in the answer to `node` (`__schema` or `__type` on the query root), at most
    `budget`: a larger answer counts as `budget`."""
    counter = _Counter(schema, fragments, dict(variables), budget)
    try:
        counter.field(node, _ROOTS[node.name.value], schema)
    except _OverBudget:
        return budget
    return counter.count


class _Counter:
    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: Callable[[str], FragmentDefinitionNode | None],
        variables: dict[str, Any],
        budget: int,
    ) -> None:
        self.schema = schema
        self.fragments = fragments
        self.variables = VariableValues(sources={}, coerced=variables)
        self.budget = budget
        self.count = 0
        self.info = SimpleNamespace(schema=schema)  # what the resolvers read of `info`

    def field(self, node: FieldNode, definition: GraphQLField, source: Any) -> None:
        if node.selection_set is None:
            return
        value = self.resolve(node, definition, source)
        items = value if _is_list(value) else [value]
        object_type = get_named_type(definition.type)
        for item in items:
            if item is None:
                continue
            self.count += 1
            if self.count > self.budget:
                raise _OverBudget
            if isinstance(object_type, GraphQLObjectType):
                self.selection_set(node.selection_set, object_type, item)

    def selection_set(
        self, selection_set: SelectionSetNode, object_type: GraphQLObjectType, source: Any
    ) -> None:
        for child in self.fields(selection_set, object_type, set()):
            definition = object_type.fields.get(child.name.value)
            if definition is not None:
                self.field(child, definition, source)

    def fields(
        self, selection_set: SelectionSetNode, object_type: GraphQLObjectType, seen: set[str]
    ) -> Iterator[FieldNode]:
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                yield selection
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                if condition is None or condition.name.value == object_type.name:
                    yield from self.fields(selection.selection_set, object_type, seen)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = self.fragments(name)
                if fragment is None or name in seen:
                    continue
                seen.add(name)
                if fragment.type_condition.name.value == object_type.name:
                    yield from self.fields(fragment.selection_set, object_type, seen)

    def resolve(self, node: FieldNode, definition: GraphQLField, source: Any) -> Any:
        try:
            arguments = get_argument_values(definition, node, self.variables)
        except GraphQLError:
            arguments = {}  # the spec's rules or variable coercion refuse such a document
        if definition.resolve is None:
            return getattr(source, node.name.value, None)
        try:
            return definition.resolve(source, self.info, **arguments)
        except (GraphQLError, TypeError, KeyError):
            return None


def _is_list(value: Any) -> bool:
    """Introspection resolvers answer lists as lists, tuples or dict views."""
    return isinstance(value, Iterable) and not isinstance(value, str | bytes | Mapping)
