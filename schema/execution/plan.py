"""Operations compiled into plans: what each selection level loads and how rows become the answer.

A plan is compiled once per document, operation and the values of the variables that `@skip`
and `@include` read (nothing else about the variables changes its shape), and cached. It is a
tree of `ObjectPlan`s, one per selection on a concrete type, whose fields are

- `Leaf`: a scalar or enum read from the source row (or computed from it) and serialized;
- `TypeName`: the constant `__typename`;
- `Relation`: a relationship field, loaded for every parent of the level in one batch through
  the request's loaders, with the plan of what is selected on the related objects;
- `RootField`: a field of the query root (`contents`, `node`, `viewer`, ...), or a mutation
  whose payload is planned (run one after another: `Plan.serial`).

Connections (`edges { cursor node }`, `nodes`, `pageInfo`, `totalCount`) are planned as
`ConnectionPlan`s on the relation or root field that returns them.

Whatever the planner does not know (introspection, a field without a plan) makes `compile`
answer None: that operation runs through standard execution, which stays the reference.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from graphql import (
    BooleanValueNode,
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLEnumType,
    GraphQLField,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLScalarType,
    GraphQLSchema,
    GraphQLUnionType,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    VariableNode,
)

# How a source row's value of a leaf field is read: (row, viewer) -> value.
Getter = Callable[[Any, Any], Any]


@dataclass(frozen=True, slots=True)
class Leaf:
    key: str
    name: str
    get: Getter
    serialize: Callable[[Any], Any]
    nullable: bool
    # String and ID write a `str` as it is: the runner skips `serialize` for one.
    passes_str: bool = False
    # A list of them (`UserError.field`): `serialize` writes each item.
    list_of: bool = False


@dataclass(frozen=True, slots=True)
class TypeName:
    key: str
    value: str


@dataclass(slots=True)
class ObjectPlan:
    """The selection on one concrete type; `fields` in the order the answer lists them, `reads`
    the row's columns they read (None: any of them)."""

    type_name: str
    fields: list[Any] = field(default_factory=list)
    reads: set[str] | None = field(default_factory=set)
    _relations: "tuple[Relation, ...] | None" = None

    @property
    def relations(self) -> "tuple[Relation, ...]":
        """The relation fields, in answer order (taken once the plan is complete)."""
        if self._relations is None:
            self._relations = tuple(f for f in self.fields if isinstance(f, Relation))
        return self._relations


@dataclass(slots=True)
class ConnectionPlan:
    """What is selected on a connection, its parts in answer order."""

    fields: list[Any] = field(default_factory=list)  # ConnectionPart
    edge_node: "Selection | None" = None  # what `edges { node }` selects
    nodes: "Selection | None" = None  # what `nodes` selects
    counted: bool = False  # totalCount selected
    paged: bool = False  # anything but totalCount selected: the page must be loaded


@dataclass(slots=True)
class ConnectionPart:
    """One field of a connection, an edge or pageInfo: `kind` says which."""

    key: str
    kind: str  # edges, nodes, pageInfo, totalCount, __typename; cursor, node; hasNextPage, ...
    nullable: bool = False
    parts: tuple["ConnectionPart", ...] = ()  # of `edges` and `pageInfo`
    value: str | None = None  # __typename's
    selection: "Selection | None" = None  # what `node` and `nodes` select


@dataclass(slots=True)
class Selection:
    """The selection on the objects of a field: one plan per concrete type they may have."""

    by_type: dict[str, ObjectPlan]
    list_of: bool = False
    items_nullable: bool = True


@dataclass(slots=True)
class Relation:
    key: str
    name: str
    parent_type: GraphQLObjectType
    definition: GraphQLField
    node: FieldNode
    relation: (
        Any  # the field's registered relation (schema.relations: One, Many, PageOfMany, Value)
    )
    nullable: bool
    selection: Selection | None = None  # objects' selection (One, Many, Value of objects)
    connection: ConnectionPlan | None = None  # PageOfMany
    leaf: Callable[[Any], Any] | None = None  # a Value that is a scalar (commentCount)


@dataclass(slots=True)
class RootField:
    key: str
    name: str
    definition: GraphQLField
    node: FieldNode
    nullable: bool
    selection: Selection | None = None
    connection: ConnectionPlan | None = None
    leaf: Callable[[Any], Any] | None = None
    root_type: str = "Query"  # or "Subscription": what each event's value is planned for


@dataclass(slots=True)
class Plan:
    root: list[Any]  # RootField | TypeName
    # The columns the plan reads of each type's rows, over all its selections (None: all of
    # them): every load of a type's rows selects these, so one load still serves them all.
    columns: dict[str, frozenset[str] | None] = field(default_factory=dict)

    # A mutation's root fields run one after another, each with everything below it, as the
    # specification's serial execution: what a payload reads is what its mutation left.
    serial: bool = False

    def columns_of(self, type_name: str) -> frozenset[str] | None:
        return self.columns.get(type_name, frozenset())


class Unplanned(Exception):
    """The operation holds something the planner does not cover."""


@dataclass(frozen=True, slots=True)
class Catalog:
    """What the planner knows of the schema's types, given by `schema.execution.catalog`."""

    # GraphQL type name -> field name -> getter, for leaves computed from the row.
    computed: Mapping[str, Mapping[str, Getter]]
    # GraphQL type name -> field name -> registered relation.
    relations: Mapping[str, Mapping[str, Any]]
    # GraphQL type name -> the column names its rows carry (None: an object, read by attribute).
    columns: Mapping[str, frozenset[str] | None]
    # Query root fields the runner knows.
    roots: frozenset[str]
    # GraphQL names of connection and edge types.
    connections: frozenset[str]
    # GraphQL type name -> relation field name -> the columns of the parent row its load reads
    # (its key, what decides whether it applies); None: any.
    relation_reads: Mapping[str, Mapping[str, frozenset[str] | None]] = field(default_factory=dict)
    # Mutation root fields the runner knows (each runs its mutation, then plans its payload).
    mutations: frozenset[str] = frozenset()
    # GraphQL type name -> fields of objects read by attribute that have a resolver of their
    # own: an operation selecting one runs the standard way.
    resolved: Mapping[str, frozenset[str]] = field(default_factory=dict)


def compile_operation(
    schema: GraphQLSchema,
    catalog: Catalog,
    fragments: Mapping[str, FragmentDefinitionNode],
    operation: OperationDefinitionNode,
    conditions: Mapping[str, bool],
) -> Plan | None:
    """The plan of a query, of a mutation's payloads (performed in order, each then read), or of
    what a subscription selects on each event's value; None when it holds something only
    standard execution covers."""
    if operation.operation is OperationType.QUERY:
        root_type, known = schema.query_type, catalog.roots
    elif operation.operation is OperationType.MUTATION:
        root_type, known = schema.mutation_type, catalog.mutations
    elif operation.operation is OperationType.SUBSCRIPTION:
        # An event's value is given (`Runner` is handed it), whatever the root field.
        root_type = schema.subscription_type
        known = frozenset(root_type.fields) if root_type is not None else frozenset()
    else:
        return None
    assert root_type is not None
    planner = _Planner(schema, catalog, fragments, conditions)
    try:
        root = planner.root(root_type, known, operation.selection_set)
    except Unplanned:
        return None
    serial = operation.operation is OperationType.MUTATION
    return Plan(root, _columns(planner.objects, catalog), serial=serial)


def _columns(objects: list[ObjectPlan], catalog: Catalog) -> dict[str, frozenset[str] | None]:
    """Per type of rows, the union of what its selections read."""
    columns: dict[str, set[str] | None] = {}
    for planned in objects:
        if catalog.columns.get(planned.type_name) is None:
            continue  # plain objects, not rows
        known = columns.setdefault(planned.type_name, set())
        if known is None:
            continue
        if planned.reads is None:
            columns[planned.type_name] = None
        else:
            known.update(planned.reads)
    return {name: None if reads is None else frozenset(reads) for name, reads in columns.items()}


def reads(*columns: str) -> Callable[[Any], Any]:
    """Marks a getter (or a relation's `applies`) with the row columns it reads; a getter that
    is not marked may read any of them."""

    def mark(getter: Any) -> Any:
        getter.reads = frozenset(columns)
        return getter

    return mark


def _add_reads(planned: ObjectPlan, columns: frozenset[str] | None) -> None:
    if planned.reads is None:
        return
    if columns is None:
        planned.reads = None
    else:
        planned.reads.update(columns)


def fragments_of(document: DocumentNode) -> dict[str, FragmentDefinitionNode]:
    return {
        definition.name.value: definition
        for definition in document.definitions
        if isinstance(definition, FragmentDefinitionNode)
    }


def directive_variables(
    operation: OperationDefinitionNode, fragments: Mapping[str, FragmentDefinitionNode]
) -> tuple[str, ...]:
    """Variables that `@skip`/`@include` read anywhere in the operation (they shape the plan)."""
    names: set[str] = set()

    def visit(selection_set: SelectionSetNode | None) -> None:
        if selection_set is None:
            return
        for selection in selection_set.selections:
            for directive in selection.directives or ():
                for argument in directive.arguments or ():
                    if isinstance(argument.value, VariableNode):
                        names.add(argument.value.name.value)
            visit(getattr(selection, "selection_set", None))

    visit(operation.selection_set)
    for definition in fragments.values():
        visit(definition.selection_set)
    return tuple(sorted(names))


class _Planner:
    def __init__(
        self,
        schema: GraphQLSchema,
        catalog: Catalog,
        fragments: Mapping[str, FragmentDefinitionNode],
        conditions: Mapping[str, bool],
    ) -> None:
        self.schema = schema
        self.catalog = catalog
        self.fragments = fragments
        self.conditions = conditions
        self.objects: list[ObjectPlan] = []

    def root(
        self, root_type: GraphQLObjectType, known: frozenset[str], selection_set: SelectionSetNode
    ) -> list[Any]:
        planned: list[Any] = []
        for key, nodes in self.collect(root_type, [selection_set]).items():
            name = nodes[0].name.value
            if name == "__typename":
                planned.append(TypeName(key, root_type.name))
                continue
            if name not in known:
                raise Unplanned(name)
            definition = root_type.fields[name]
            nullable = _nullable(definition.type)
            root = RootField(key, name, definition, nodes[0], nullable, root_type=root_type.name)
            self.shape(root, definition.type, nodes)
            planned.append(root)
        return planned

    def shape(self, planned: Any, type_: GraphQLOutputType, nodes: list[FieldNode]) -> None:
        """Fill in what is selected on the field's objects: a connection, objects, or a leaf."""
        named = _named(type_)
        if isinstance(named, GraphQLScalarType | GraphQLEnumType):
            planned.leaf = serializer(named)
            return
        if named.name in self.catalog.connections:
            planned.connection = self.connection(named, nodes)
            return
        planned.selection = self.selection(type_, nodes)

    def selection(self, type_: GraphQLOutputType, nodes: list[FieldNode]) -> Selection:
        named = _named(type_)
        inner = type_.of_type if isinstance(type_, GraphQLNonNull) else type_
        list_of = isinstance(inner, GraphQLList)
        items = inner.of_type if isinstance(inner, GraphQLList) else inner
        if isinstance(named, GraphQLInterfaceType | GraphQLUnionType):
            concrete = list(self.schema.get_possible_types(named))
        elif isinstance(named, GraphQLObjectType):
            concrete = [named]
        else:
            raise Unplanned(named.name)
        sets = [node.selection_set for node in nodes if node.selection_set is not None]
        return Selection(
            {object_type.name: self.object(object_type, sets) for object_type in concrete},
            list_of=list_of,
            items_nullable=not isinstance(items, GraphQLNonNull),
        )

    def object(self, object_type: GraphQLObjectType, sets: list[SelectionSetNode]) -> ObjectPlan:
        name = object_type.name
        if name not in self.catalog.columns:
            raise Unplanned(name)
        columns = self.catalog.columns[name]
        computed = self.catalog.computed.get(name, {})
        relations = self.catalog.relations.get(name, {})
        relation_reads = self.catalog.relation_reads.get(name, {})
        resolved = self.catalog.resolved.get(name, frozenset())
        planned = ObjectPlan(name)
        self.objects.append(planned)
        for key, nodes in self.collect(object_type, sets).items():
            field_name = nodes[0].name.value
            if field_name == "__typename":
                planned.fields.append(TypeName(key, name))
                continue
            definition = object_type.fields[field_name]
            nullable = _nullable(definition.type)
            if field_name in relations:
                relation = Relation(
                    key,
                    field_name,
                    object_type,
                    definition,
                    nodes[0],
                    relations[field_name],
                    nullable,
                )
                self.shape(relation, definition.type, nodes)
                planned.fields.append(relation)
                _add_reads(planned, relation_reads.get(field_name))
                continue
            named = _named(definition.type)
            if not isinstance(named, GraphQLScalarType | GraphQLEnumType):
                raise Unplanned(f"{name}.{field_name}")
            if field_name in resolved:
                raise Unplanned(f"{name}.{field_name}")
            if field_name in computed:
                getter = computed[field_name]
                _add_reads(planned, getattr(getter, "reads", None))
            elif columns is None:
                getter = _attribute(_python_name(field_name))
            elif _python_name(field_name) in columns:
                getter = _column(_python_name(field_name))
                _add_reads(planned, frozenset({_python_name(field_name)}))
            else:
                raise Unplanned(f"{name}.{field_name}")
            passes_str = named.name in ("String", "ID")
            list_of = _is_list(definition.type)
            leaf = Leaf(key, field_name, getter, serializer(named), nullable, passes_str, list_of)
            planned.fields.append(leaf)
        return planned

    def connection(self, connection_type: Any, nodes: list[FieldNode]) -> ConnectionPlan:
        planned = ConnectionPlan()
        node_type = connection_type.fields["nodes"].type
        for key, fields in self.collect(connection_type, _sets(nodes)).items():
            name = fields[0].name.value
            if name == "__typename":
                planned.fields.append(ConnectionPart(key, name, value=connection_type.name))
                continue
            if name not in connection_type.fields:
                raise Unplanned(f"{connection_type.name}.{name}")
            nullable = _nullable(connection_type.fields[name].type)
            if name == "edges":
                parts = self.parts(_named(connection_type.fields["edges"].type), fields)
                planned.fields.append(ConnectionPart(key, name, nullable, parts))
                node = next((part for part in parts if part.kind == "node"), None)
                if node is not None:
                    planned.edge_node = node.selection
            elif name == "nodes":
                selection = self.selection(node_type, fields)
                planned.fields.append(ConnectionPart(key, name, nullable, selection=selection))
                planned.nodes = selection
            elif name == "pageInfo":
                info_type = _named(connection_type.fields["pageInfo"].type)
                planned.fields.append(
                    ConnectionPart(key, name, nullable, self.parts(info_type, fields))
                )
            elif name == "totalCount":
                planned.counted = True
                planned.fields.append(ConnectionPart(key, name, nullable))
            else:
                raise Unplanned(f"{connection_type.name}.{name}")
            if name != "totalCount":
                planned.paged = True
        return planned

    def parts(self, object_type: Any, nodes: list[FieldNode]) -> tuple[ConnectionPart, ...]:
        """The fields of an edge or of pageInfo."""
        parts = []
        for key, fields in self.collect(object_type, _sets(nodes)).items():
            name = fields[0].name.value
            if name == "__typename":
                parts.append(ConnectionPart(key, name, value=object_type.name))
                continue
            if name not in object_type.fields:
                raise Unplanned(f"{object_type.name}.{name}")
            nullable = _nullable(object_type.fields[name].type)
            field_type = object_type.fields[name].type
            selection = self.selection(field_type, fields) if name == "node" else None
            parts.append(ConnectionPart(key, name, nullable, selection=selection))
        return tuple(parts)

    def collect(self, object_type: Any, sets: list[SelectionSetNode]) -> dict[str, list[FieldNode]]:
        """The fields selected on `object_type`, by response key, as the spec's CollectFields."""
        fields: dict[str, list[FieldNode]] = {}
        seen: set[str] = set()

        def visit(selection_set: SelectionSetNode) -> None:
            for selection in selection_set.selections:
                if not self.included(selection):
                    continue
                if isinstance(selection, FieldNode):
                    key = selection.alias.value if selection.alias else selection.name.value
                    fields.setdefault(key, []).append(selection)
                elif isinstance(selection, InlineFragmentNode):
                    condition = selection.type_condition
                    if condition is None or self.applies(condition.name.value, object_type):
                        visit(selection.selection_set)
                elif isinstance(selection, FragmentSpreadNode):
                    name = selection.name.value
                    fragment = self.fragments.get(name)
                    if fragment is None or name in seen:
                        continue
                    seen.add(name)
                    if self.applies(fragment.type_condition.name.value, object_type):
                        visit(fragment.selection_set)

        for selection_set in sets:
            visit(selection_set)
        return fields

    def applies(self, condition: str, object_type: Any) -> bool:
        if condition == object_type.name:
            return True
        abstract = self.schema.get_type(condition)
        return (
            isinstance(abstract, GraphQLInterfaceType | GraphQLUnionType)
            and isinstance(object_type, GraphQLObjectType)
            and self.schema.is_sub_type(abstract, object_type)
        )

    def included(self, selection: Any) -> bool:
        for directive in selection.directives or ():
            name = directive.name.value
            if name not in ("skip", "include"):
                continue
            (argument,) = directive.arguments
            value = argument.value
            if isinstance(value, VariableNode):
                condition = self.conditions.get(value.name.value, False)
            elif isinstance(value, BooleanValueNode):
                condition = value.value
            else:  # validation refuses anything else
                raise Unplanned("@" + name)
            if (name == "skip") == condition:
                return False
        return True


def _sets(nodes: list[FieldNode]) -> list[SelectionSetNode]:
    return [node.selection_set for node in nodes if node.selection_set is not None]


def _named(type_: Any) -> Any:
    while isinstance(type_, GraphQLNonNull | GraphQLList):
        type_ = type_.of_type
    return type_


def _is_list(type_: GraphQLOutputType) -> bool:
    inner = type_.of_type if isinstance(type_, GraphQLNonNull) else type_
    return isinstance(inner, GraphQLList)


def _nullable(type_: GraphQLOutputType) -> bool:
    return not isinstance(type_, GraphQLNonNull)


def _python_name(graphql_name: str) -> str:
    """`createdAt` -> `created_at`, as Strawberry names fields."""
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in graphql_name)


def _column(name: str) -> Getter:
    def get(row: Any, _viewer: Any) -> Any:
        try:
            return row[name]  # an asyncpg record: by key, without a Python attribute hook
        except (KeyError, TypeError):
            return getattr(row, name)  # SQLAlchemy's rows, model objects

    return get


def _attribute(name: str) -> Getter:
    def get(row: Any, _viewer: Any) -> Any:
        return getattr(row, name)

    return get


_SERIALIZERS: dict[str, Callable[[Any], Any]] = {}


def serializer(type_: GraphQLScalarType | GraphQLEnumType) -> Callable[[Any], Any]:
    """How a value of the type is written into the answer, as graphql-core would write it."""
    found = _SERIALIZERS.get(type_.name)
    if found is not None:
        return found
    if isinstance(type_, GraphQLEnumType):
        names: dict[Any, str] = {}
        for name, value in type_.values.items():
            names[value.value] = name
            if isinstance(value.value, Enum):
                names[value.value.value] = name

        def enum_name(value: Any) -> str:  # a member, or its value (a row's text)
            found = names.get(value)
            return names[value.value] if found is None else found

        found = enum_name
    elif type_.name in ("String", "Boolean", "Int", "ID"):
        found = type_.serialize
    else:
        found = type_.serialize
    _SERIALIZERS[type_.name] = found
    return found
