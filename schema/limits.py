"""What one operation may ask for: depth, aliases, root fields, directives and cost.

One validation rule measures the operation to execute in a single walk (fragments followed, each
named fragment measured once) and reports every limit it exceeds. Every field counts, the
introspection fields (`__schema`, `__type`) and what is selected under them included.

- **Depth** counts object levels as a client sees them: a connection's `edges`, `nodes` and an
  edge's `node` are wrappers, not levels (`contents { edges { node { author { name } } } }` is
  3 deep), and neither is an introspection type reference's `ofType` chain.
- **Cost** prices an operation as what it can return: each object costs 1, and a list or
  connection multiplies its subtree by its `first`/`last` (or the default page size), so
  `contents(first: 100) { ... comments(first: 100) }` is priced at its 10,000 comments. A list
  fetched by ids (`nodes(ids:)`) is priced by the number of ids. Introspection is priced
  exactly: the schema is known, so its answer is counted object by object (`introspection_cost`).
  A `where` filter adds 1 per comparison and 10 per relation filter (`some`, `every`, `none`,
  a to-one row) it holds, to the field it narrows (so a nested list's, once per parent); a
  `sort` 1 per field key and 10 per key read from related rows (a relation's field, a count).
  A connection's `aggregate` is priced once per connection, whatever its page size.
  A subscription is priced as one event's answer: the limit applies to every event it delivers.
  `@skip`/`@include` are ignored: both branches are priced.

Page sizes may be variables (`first: $n`), which validation does not see: the rule class is bound
per request to the operation and its variables (`limits_rule`), so the check stays one validation
pass, before the tenant's transaction opens. It reads the request's raw JSON values: only Int page
sizes and id lists matter, and a value that coercion would refuse never reaches execution, so it
may count as the default. A size above the maximum counts as the maximum: the resolver refuses it
with a clearer error.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLField,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNamedType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    ListValueNode,
    OperationDefinitionNode,
    SchemaMetaFieldDef,
    SelectionSetNode,
    TypeMetaFieldDef,
    ValidationRule,
    ValueNode,
    VariableNode,
    get_named_type,
    is_composite_type,
    value_from_ast_untyped,
)

from schema.introspection_cost import introspection_cost

# Costs above this are all "too much"; it keeps the number a JSON (and JavaScript) integer.
COST_CEILING = 2**53 - 1
PAGE_ARGUMENTS = ("first", "last")
ID_LIST_ARGUMENT = "ids"  # a list field answering one item per id (`nodes(ids:)`)
META_FIELDS = {"__schema": SchemaMetaFieldDef, "__type": TypeMetaFieldDef}
# A `where` argument is priced by what it asks: 1 per comparison, and a relation filter (an
# EXISTS per row) RELATION_FILTER_COST more; nesting past MAX_FILTER_NESTING is refused when read.
FILTER_ARGUMENT = "where"
SORT_ARGUMENT = "sort"
# A connection's aggregate reads every row of its list whatever the page size: priced once per
# connection, not multiplied by its `first`/`last` as the nodes are.
AGGREGATE_FIELD = "aggregate"
RELATION_FILTER_COST = 10
MAX_FILTER_NESTING = 16
LOGICAL_FILTERS = frozenset({"and", "or", "not"})
QUANTIFIERS = frozenset({"some", "every", "none"})
# Fields that wrap a level without being one: on a connection, on its edges, in introspection.
CONNECTION_WRAPPERS = frozenset({"edges", "nodes"})
EDGE_WRAPPERS = frozenset({"node"})
TYPE_REFERENCE_WRAPPERS = frozenset({"ofType"})


class LimitCode(StrEnum):
    DEPTH_LIMIT_EXCEEDED = "DEPTH_LIMIT_EXCEEDED"
    ALIAS_LIMIT_EXCEEDED = "ALIAS_LIMIT_EXCEEDED"
    ROOT_FIELD_LIMIT_EXCEEDED = "ROOT_FIELD_LIMIT_EXCEEDED"
    DIRECTIVE_LIMIT_EXCEEDED = "DIRECTIVE_LIMIT_EXCEEDED"
    COST_LIMIT_EXCEEDED = "COST_LIMIT_EXCEEDED"
    TOKEN_LIMIT_EXCEEDED = "TOKEN_LIMIT_EXCEEDED"
    BATCH_LIMIT_EXCEEDED = "BATCH_LIMIT_EXCEEDED"
    PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"
    TIMEOUT = "TIMEOUT"


@dataclass(frozen=True, slots=True)
class QueryLimits:
    """One tenant's limits; the defaults are the settings' (`gql_server.tenant_limits`)."""

    max_depth: int
    max_aliases: int
    max_root_fields: int
    max_directives: int
    max_cost: int
    default_page_size: int
    max_page_size: int
    max_ids: int = 100  # ids of one `nodes(ids:)`


@dataclass(frozen=True, slots=True)
class Shape:
    """What a selection set asks for; `fields` counts its own fields (fragments included)."""

    depth: int = 0
    aliases: int = 0
    cost: int = 0
    fields: int = 0
    # Cost of a connection's own fields (its `aggregate`): once per connection, not per node.
    flat: int = 0


@dataclass(slots=True)
class Measurement:
    """Filled in by the bound rule while validation runs: what the operation asks for."""

    shape: Shape | None = None
    directives: int = 0


@dataclass(slots=True)
class _Walk:
    schema: GraphQLSchema
    fragments: Callable[[str], FragmentDefinitionNode | None]
    variables: Mapping[str, Any]
    variable_defaults: Mapping[str, ValueNode | None]
    limits: QueryLimits
    measured: dict[tuple[str, bool, frozenset[str]], Shape] = field(default_factory=dict)
    visiting: set[str] = field(default_factory=set)

    def selection_set(
        self,
        node: SelectionSetNode,
        parent: GraphQLNamedType | None,
        in_page: bool,
        wrappers: frozenset[str] = frozenset(),
    ) -> Shape:
        depth = aliases = cost = fields = flat = 0
        for selection in node.selections:
            if isinstance(selection, FieldNode):
                shape = self.field(selection, parent, in_page, wrappers)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                on = parent if condition is None else self.schema.get_type(condition.name.value)
                shape = self.selection_set(selection.selection_set, on, in_page, wrappers)
            elif isinstance(selection, FragmentSpreadNode):
                shape = self.fragment(selection.name.value, in_page, wrappers)
            else:  # pragma: no cover - the three kinds of selection
                continue
            depth = max(depth, shape.depth)
            aliases += shape.aliases
            cost = min(cost + shape.cost, COST_CEILING)
            fields += shape.fields
            flat = min(flat + shape.flat, COST_CEILING)
        return Shape(depth, aliases, cost, fields, flat)

    def fragment(self, name: str, in_page: bool, wrappers: frozenset[str]) -> Shape:
        key = (name, in_page, wrappers)
        if key in self.measured:
            return self.measured[key]
        definition = self.fragments(name)
        if definition is None or name in self.visiting:
            return Shape()  # unknown or cyclic: the spec's own rules reject the document
        self.visiting.add(name)
        on = self.schema.get_type(definition.type_condition.name.value)
        shape = self.selection_set(definition.selection_set, on, in_page, wrappers)
        self.visiting.discard(name)
        self.measured[key] = shape
        return shape

    def field(
        self,
        node: FieldNode,
        parent: GraphQLNamedType | None,
        in_page: bool,
        wrappers: frozenset[str],
    ) -> Shape:
        aliases = 0 if node.alias is None else 1
        name = node.name.value
        if name in META_FIELDS:
            return self.introspection(node, META_FIELDS[name], aliases)
        fields = (
            parent.fields if isinstance(parent, GraphQLObjectType | GraphQLInterfaceType) else {}
        )
        definition = fields.get(name)
        if definition is None:  # `__typename`, or a field the spec's rules refuse
            return Shape(0, aliases, 0, 0)
        level = 0 if name in wrappers else 1
        named = get_named_type(definition.type)
        if node.selection_set is None or not is_composite_type(named):
            return Shape(level, aliases, 0, 1)
        paged = any(argument in definition.args for argument in PAGE_ARGUMENTS)
        if paged:
            inner = CONNECTION_WRAPPERS
        elif name == "edges" and name in wrappers:
            inner = EDGE_WRAPPERS
        elif named.name.startswith("__"):
            inner = TYPE_REFERENCE_WRAPPERS
        else:
            inner = frozenset()
        child = self.selection_set(node.selection_set, named, paged, inner)
        if paged:
            multiplier = self.page_size(node)
        elif ID_LIST_ARGUMENT in definition.args:
            multiplier = self.id_count(node)
        elif _is_list(definition.type) and not in_page:
            multiplier = self.limits.default_page_size
        else:  # one object, or the edges of a page whose size is already counted
            multiplier = 1
        cost = multiplier * (1 + child.cost) + child.flat + self.filter_cost(node, definition)
        cost = min(cost, COST_CEILING)
        if name == AGGREGATE_FIELD and in_page and "pageInfo" in fields:
            return Shape(level + child.depth, aliases + child.aliases, 0, 1, flat=cost)
        return Shape(level + child.depth, aliases + child.aliases, cost, 1)

    def filter_cost(self, node: FieldNode, definition: GraphQLField) -> int:
        """What the field's `where` and `sort` arguments add: each comparison or field sort key
        1, each relation filter or related sort key RELATION_FILTER_COST (and what it holds)."""
        cost = 0
        for given in node.arguments or ():
            name = given.name.value
            argument = definition.args.get(name)
            if argument is None or name not in (FILTER_ARGUMENT, SORT_ARGUMENT):
                continue
            value = value_from_ast_untyped(given.value, dict(self.variables))
            if name == FILTER_ARGUMENT:
                cost += where_cost(get_named_type(argument.type), value, 0)
            else:
                cost += sort_cost(value)
        return min(cost, COST_CEILING)

    def introspection(self, node: FieldNode, definition: GraphQLField, aliases: int) -> Shape:
        """Depth and aliases as for any field; the cost counted on the schema's own answer."""
        named = get_named_type(definition.type)
        if node.selection_set is None:
            return Shape(1, aliases, 0, 1)
        child = self.selection_set(
            node.selection_set, named, in_page=True, wrappers=TYPE_REFERENCE_WRAPPERS
        )
        budget = self.limits.max_cost + 1  # past the limit, how far past does not matter
        cost = introspection_cost(self.schema, node, self.fragments, self.variables, budget)
        return Shape(1 + child.depth, aliases + child.aliases, cost, 1)

    def page_size(self, node: FieldNode) -> int:
        sizes = [
            self.int_value(argument.value)
            for argument in node.arguments or ()
            if argument.name.value in PAGE_ARGUMENTS
        ]
        given = [size for size in sizes if size is not None]
        # Above the maximum the resolver refuses the page size itself, with a clearer error.
        size = max(given) if given else self.limits.default_page_size
        return max(0, min(size, self.limits.max_page_size))

    def id_count(self, node: FieldNode) -> int:
        """The number of ids asked for; the most allowed when it cannot be read."""
        for argument in node.arguments or ():
            if argument.name.value == ID_LIST_ARGUMENT:
                count = self.list_length(argument.value)
                if count is not None:
                    return min(count, self.limits.max_ids)
        return self.limits.max_ids

    def list_length(self, value: ValueNode | None) -> int | None:
        if isinstance(value, VariableNode):
            name = value.name.value
            if name in self.variables:
                given = self.variables[name]
                return len(given) if isinstance(given, list) else 1
            return self.list_length(self.variable_defaults.get(name))
        if isinstance(value, ListValueNode):
            return len(value.values)
        return None if value is None else 1

    def int_value(self, value: ValueNode | None) -> int | None:
        if isinstance(value, VariableNode):
            name = value.name.value
            if name in self.variables:
                return _as_int(self.variables[name])
            return self.int_value(self.variable_defaults.get(name))
        if isinstance(value, IntValueNode):
            return int(value.value)
        return None  # null, absent, or not an Int: coercion refuses those before execution


def sort_cost(value: Any) -> int:
    items = value if isinstance(value, list) else [value]
    cost = 0
    for item in items:
        if isinstance(item, dict):
            for given in item.values():
                cost += RELATION_FILTER_COST if isinstance(given, dict) else 1
    return cost


def where_cost(input_type: Any, value: Any, depth: int) -> int:
    if not isinstance(input_type, GraphQLInputObjectType) or not isinstance(value, dict):
        return 0
    if depth > MAX_FILTER_NESTING:  # refused when read: price it out of reach meanwhile
        return COST_CEILING
    if "eq" in input_type.fields:  # a comparison: one per operator given
        return sum(1 for given in value.values() if given is not None)
    cost = 0
    for name, given in value.items():
        input_field = input_type.fields.get(name)
        if input_field is None or given is None:
            continue
        named = get_named_type(input_field.type)
        fields = getattr(named, "fields", {})
        if set(fields) >= QUANTIFIERS and isinstance(given, dict):  # a to-many relation
            target = get_named_type(fields["some"].type)
            for quantified in (given.get(q) for q in QUANTIFIERS):
                if quantified is not None:
                    cost += RELATION_FILTER_COST + where_cost(target, quantified, depth + 1)
            continue
        parts = given if isinstance(given, list) else [given]
        cost += sum(where_cost(named, part, depth + 1) for part in parts)
        if name not in LOGICAL_FILTERS and "eq" not in fields:  # a to-one relation
            cost += RELATION_FILTER_COST
    return min(cost, COST_CEILING)


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _is_list(type_: GraphQLOutputType) -> bool:
    if isinstance(type_, GraphQLNonNull):
        type_ = type_.of_type
    return isinstance(type_, GraphQLList)


class LimitsRule(ValidationRule):
    """Reports each limit the operation exceeds; use a class bound by `limits_rule`."""

    limits: ClassVar[QueryLimits]
    operation: ClassVar[OperationDefinitionNode]
    variables: ClassVar[Mapping[str, Any]]
    measurement: ClassVar[Measurement]

    def enter_directive(self, *_args: object) -> None:
        self.measurement.directives += 1

    def leave_document(self, *_args: object) -> None:
        limits, context, operation = self.limits, self.context, self.operation
        walk = _Walk(
            schema=context.schema,
            fragments=context.get_fragment,
            variables=self.variables,
            variable_defaults={
                definition.variable.name.value: definition.default_value
                for definition in operation.variable_definitions or ()
            },
            limits=limits,
        )
        root = context.schema.get_root_type(operation.operation)
        shape = walk.selection_set(operation.selection_set, root, in_page=False)
        self.measurement.shape = shape
        checks = (
            ("depth", shape.depth, limits.max_depth, LimitCode.DEPTH_LIMIT_EXCEEDED),
            ("aliases", shape.aliases, limits.max_aliases, LimitCode.ALIAS_LIMIT_EXCEEDED),
            (
                "rootFields",
                shape.fields,
                limits.max_root_fields,
                LimitCode.ROOT_FIELD_LIMIT_EXCEEDED,
            ),
            (
                "directives",
                self.measurement.directives,
                limits.max_directives,
                LimitCode.DIRECTIVE_LIMIT_EXCEEDED,
            ),
            ("cost", shape.cost, limits.max_cost, LimitCode.COST_LIMIT_EXCEEDED),
        )
        for what, value, limit, code in checks:
            if value > limit:
                self.report_error(
                    GraphQLError(
                        _MESSAGES[what].format(value=value, limit=limit),
                        operation,
                        extensions={"code": code.value, what: value, "limit": limit},
                    )
                )


_MESSAGES = {
    "depth": "the operation is nested {value} levels deep, over the limit of {limit}",
    "aliases": "the operation uses {value} aliases, over the limit of {limit}",
    "rootFields": "the operation selects {value} root fields, over the limit of {limit}",
    "directives": "the document has {value} directives, over the limit of {limit}",
    "cost": "the operation costs {value}, over the limit of {limit}",
}


def limits_rule(
    limits: QueryLimits,
    operation: OperationDefinitionNode,
    variables: Mapping[str, Any] | None,
    measurement: Measurement,
) -> type[LimitsRule]:
    """`LimitsRule` bound to one request: its limits, operation and variables."""
    namespace = {
        "limits": limits,
        "operation": operation,
        "variables": variables or {},
        "measurement": measurement,
    }
    return type("BoundLimitsRule", (LimitsRule,), namespace)
