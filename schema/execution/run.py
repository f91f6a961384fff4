"""Running a plan: a level at a time, one batch per relation and level, rows built into the answer.

The root fields load first; every object they return is written into the answer at once (its
leaves serialized, its relation fields left as placeholders, so keys keep the selection's order)
and queued with its row for the next level. Each level then loads every selected relation for
all its objects with one call of the relation's loader (one statement), and so on down. Errors
are collected with their paths; the specification's null propagation is applied at the end by
walking the plan along each error's path, so a response without errors pays nothing for it.
"""

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from graphql import FieldNode, GraphQLError, GraphQLField, located_error
from graphql.execution.values import VariableValues, get_argument_values
from strawberry.types.arguments import convert_arguments
from strawberry.types.field import StrawberryField
from strawberry.types.unset import UNSET

from loaders import Ordering, Page
from schema.execution.plan import (
    ConnectionPart,
    ConnectionPlan,
    Leaf,
    ObjectPlan,
    Plan,
    Relation,
    RootField,
    Selection,
    TypeName,
)

Path = tuple[str | int, ...]


@dataclass(slots=True)
class PageValue:
    """A page of a connection with what its cursors and `totalCount` need."""

    page: Page
    ordering: Ordering
    total: int | None = None


@dataclass(frozen=True, slots=True)
class Typed:
    """An object of an abstract field (`node`), with the concrete type it is."""

    type_name: str
    row: Any


# A relation's loader for the compiled path: (runner, relation plan, parent rows, arguments)
# -> one value per parent.
RelationLoader = Callable[["Runner", Relation, list[Any], dict[str, Any]], Awaitable[list[Any]]]
# A root field's loader: (runner, root plan, arguments) -> its value.
RootLoader = Callable[["Runner", RootField, dict[str, Any]], Awaitable[Any]]


class Runner:
    """One request's run of a plan (see the module's note)."""

    def __init__(
        self,
        plan: Plan,
        context: Any,
        variables: VariableValues,
        *,
        arguments_of: Callable[[str, str], StrawberryField | None],
        scalar_registry: Any,
        config: Any,
        relation_loaders: dict[type, RelationLoader],
        root_loaders: dict[str, RootLoader],
        encode_cursor: Callable[[Ordering, Sequence[Any]], str],
    ) -> None:
        self.plan = plan
        self.context = context
        self.viewer = getattr(context, "viewer", None)
        self.variables = variables
        self.arguments_of = arguments_of
        self.scalar_registry = scalar_registry
        self.config = config
        self.relation_loaders = relation_loaders
        self.root_loaders = root_loaders
        self.encode_cursor = encode_cursor
        self.errors: list[tuple[GraphQLError, Path]] = []
        # The next level: ObjectPlan id -> (plan, [(answer dict, row, path)]).
        self.pending: dict[int, tuple[ObjectPlan, list[tuple[dict[str, Any], Any, Path]]]] = {}

    async def run(self) -> tuple[dict[str, Any] | None, list[GraphQLError]]:
        data: dict[str, Any] = {}
        serial = self.plan.serial
        for field in self.plan.root:
            if isinstance(field, TypeName):
                data[field.key] = field.value
                continue
            data[field.key] = None
            path: Path = (field.key,)
            try:
                arguments = self.arguments(
                    field.root_type, field.name, field.definition, field.node
                )
                value = await self.root_loaders[field.name](self, field, arguments)
            except Exception as error:  # as graphql-core does: every failure errs its field
                self.fail(error, field.node, path)
            else:
                data[field.key] = self.complete(field, value, path)
            if serial:
                # Its payload is read before the next mutation runs; one whose error nulls the
                # whole answer ends the operation: the mutations after it never run.
                await self.drain()
                if self.errors and self._nulls_answer():
                    return self.propagate(data), [error for error, _ in self.errors]
        if self.errors and self._fatal_at_root():
            # The answer is null whatever lies below: nothing more runs (as in standard
            # execution, where a root field that fails before any I/O ends the operation).
            return self.propagate(data), [error for error, _ in self.errors]
        await self.drain()
        if not self.errors:
            return data, []
        return self.propagate(data), [error for error, _ in self.errors]

    async def drain(self) -> None:
        """Run the queued levels, a level at a time, until nothing more is selected."""
        while self.pending:
            level, self.pending = self.pending, {}
            for plan, items in level.values():
                await self.level(plan, items)

    def _nulls_answer(self) -> bool:
        """Whether an error's null reaches the root: no field on its path may be null."""
        return any(not any(_walk(self.plan, path)[1]) for _, path in self.errors)

    def _fatal_at_root(self) -> bool:
        """Whether a root field that may not be null failed (or is null)."""
        nullable: dict[str | int, bool] = {
            field.key: field.nullable for field in self.plan.root if isinstance(field, RootField)
        }
        return any(len(path) == 1 and not nullable.get(path[0], True) for _, path in self.errors)

    # --- a level ---------------------------------------------------------------------------

    async def level(self, plan: ObjectPlan, items: list[tuple[dict[str, Any], Any, Path]]) -> None:
        viewer = self.viewer
        fields = plan.fields
        for answer, row, path in items:
            for field in fields:
                field_type = type(field)
                if field_type is Leaf:
                    try:
                        value = field.get(row, viewer)
                        if value is None:
                            answer[field.key] = None
                            if not field.nullable:
                                error = _null_error(plan.type_name, field.name)
                                self.fail(error, None, (*path, field.key))
                        elif field.passes_str and type(value) is str:
                            answer[field.key] = value
                        elif field.list_of:
                            serialize = field.serialize
                            answer[field.key] = [
                                None if item is None else serialize(item) for item in value
                            ]
                        else:
                            answer[field.key] = field.serialize(value)
                    except Exception as error:  # a value that cannot be written errs its field
                        answer[field.key] = None
                        self.fail(error, None, (*path, field.key))
                elif field_type is TypeName:
                    answer[field.key] = field.value
                else:
                    answer[field.key] = None
        relations = plan.relations
        rows = [row for _, row, _ in items]
        for relation in relations:
            try:
                arguments = self.arguments(
                    plan.type_name, relation.name, relation.definition, relation.node
                )
                loader = self.relation_loaders[type(relation.relation)]
                values = await loader(self, relation, rows, arguments)
            except Exception as error:  # as graphql-core does: every failure errs its field
                for _, _, path in items:
                    self.fail(error, relation.node, (*path, relation.key))
                continue
            key = relation.key
            for (answer, _, path), value in zip(items, values, strict=True):
                answer[key] = self.complete(relation, value, (*path, key))

    # --- values ------------------------------------------------------------------------------

    def complete(self, field: RootField | Relation, value: Any, path: Path) -> Any:
        """The answer for a field's value; objects in it are queued for the next level."""
        if value is None:
            if not field.nullable:
                self.fail(_null_error(_parent_name(field), field.name), field.node, path)
            return None
        if field.leaf is not None:
            return field.leaf(value)
        if field.connection is not None:
            return self.connection(field.connection, value, path)
        assert field.selection is not None
        return self.objects(field.selection, value, path)

    def objects(self, selection: Selection, value: Any, path: Path) -> Any:
        if not selection.list_of:
            return self.object(selection, value, path)
        answers: list[Any] = []
        for index, item in enumerate(value):
            answers.append(None if item is None else self.object(selection, item, (*path, index)))
        return answers

    def object(self, selection: Selection, value: Any, path: Path) -> dict[str, Any] | None:
        if isinstance(value, Typed):
            plan = selection.by_type.get(value.type_name)
            row = value.row
        else:
            (plan,) = selection.by_type.values()
            row = value
        if plan is None:
            return None
        answer: dict[str, Any] = {}
        queued = self.pending.get(id(plan))
        if queued is None:
            queued = self.pending[id(plan)] = (plan, [])
        queued[1].append((answer, row, path))
        return answer

    def connection(self, plan: ConnectionPlan, value: PageValue, path: Path) -> dict[str, Any]:
        page = value.page
        answer: dict[str, Any] = {}
        for part in plan.fields:
            kind = part.kind
            if kind == "edges":
                edges = []
                for index, (row, sort_values) in enumerate(
                    zip(page.rows, page.sort_values, strict=True)
                ):
                    edge: dict[str, Any] = {}
                    for edge_part in part.parts:
                        if edge_part.kind == "cursor":
                            edge[edge_part.key] = self.encode_cursor(value.ordering, sort_values)
                        elif edge_part.kind == "node":
                            assert edge_part.selection is not None
                            edge[edge_part.key] = self.object(
                                edge_part.selection, row, (*path, part.key, index, edge_part.key)
                            )
                        else:
                            edge[edge_part.key] = edge_part.value
                    edges.append(edge)
                answer[part.key] = edges
            elif kind == "nodes":
                assert plan.nodes is not None
                answer[part.key] = [
                    self.object(plan.nodes, row, (*path, part.key, index))
                    for index, row in enumerate(page.rows)
                ]
            elif kind == "pageInfo":
                answer[part.key] = self.page_info(part, value)
            elif kind == "totalCount":
                answer[part.key] = value.total
            else:
                answer[part.key] = part.value
        return answer

    def page_info(self, part: ConnectionPart, value: PageValue) -> dict[str, Any]:
        page = value.page
        info: dict[str, Any] = {}
        for info_part in part.parts:
            kind = info_part.kind
            if kind == "hasNextPage":
                info[info_part.key] = page.has_next
            elif kind == "hasPreviousPage":
                info[info_part.key] = page.has_previous
            elif kind == "startCursor":
                values = page.sort_values
                info[info_part.key] = (
                    self.encode_cursor(value.ordering, values[0]) if values else None
                )
            elif kind == "endCursor":
                values = page.sort_values
                info[info_part.key] = (
                    self.encode_cursor(value.ordering, values[-1]) if values else None
                )
            else:
                info[info_part.key] = info_part.value
        return info

    # --- arguments ----------------------------------------------------------------------------

    def arguments(
        self, type_name: str, field_name: str, definition: GraphQLField, node: FieldNode
    ) -> dict[str, Any]:
        """The field's arguments as its Strawberry resolver would receive them."""
        if not definition.args:
            return {}
        raw = get_argument_values(definition, node, self.variables)
        field = self.arguments_of(type_name, field_name)
        if field is None:
            return raw
        converted: dict[str, Any] = convert_arguments(
            raw,
            field.arguments,
            scalar_registry=self.scalar_registry,
            config=self.config,
        )
        for argument in field.arguments:
            if argument.python_name not in converted and argument.default is not UNSET:
                converted[argument.python_name] = argument.default
        return converted

    # --- errors -----------------------------------------------------------------------------

    def fail(self, error: Exception, node: FieldNode | None, path: Path) -> None:
        located = located_error(error, [node] if node is not None else None, list(path))
        self.errors.append((located, path))

    def propagate(self, data: dict[str, Any]) -> dict[str, Any] | None:
        """The specification's null propagation, and the errors to report.

        Errors are taken in document order. Each error's null goes up to the nearest field that
        may be null; when that nulls an object above the failed field, the rest of that object
        is abandoned, as standard execution abandons it: errors after it inside are dropped.
        When it nulls the whole answer, every later error is dropped.
        """
        walked = sorted(
            ((_walk(self.plan, path), error, path) for error, path in self.errors),
            key=lambda item: item[0][0],
        )
        abandoned: list[Path] = []
        kept: list[tuple[GraphQLError, Path]] = []
        for (_, nullable), error, path in walked:
            if any(path[: len(scope)] == scope for scope in abandoned):
                continue
            kept.append((error, path))
            depth = next((d for d in range(len(path), 0, -1) if nullable[d - 1]), 0)
            if depth == 0:
                self.errors = kept
                return None
            _set_null(data, path[:depth])
            if depth < len(path):
                abandoned.append(path[:depth])
        self.errors = kept
        return data


def _null_error(type_name: str, field_name: str) -> TypeError:
    return TypeError(f"Cannot return null for non-nullable field {type_name}.{field_name}.")


def _parent_name(field: RootField | Relation) -> str:
    return field.parent_type.name if isinstance(field, Relation) else field.root_type


def _set_null(data: Any, path: Path) -> None:
    container = data
    for step in path[:-1]:
        container = container[step]
        if container is None:
            return  # an ancestor is null already
    container[path[-1]] = None


def _walk(plan: Plan, path: Path) -> tuple[tuple[int, ...], list[bool]]:
    """Where `path` is in document order (the position of each step), and whether each step
    may be null, read from the plan along it."""
    positions: list[int] = []
    flags: list[bool] = []
    fields: list[Any] = plan.root
    index = 0
    while index < len(path):
        position, field = next((i, f) for i, f in enumerate(fields) if f.key == path[index])
        positions.append(position)
        flags.append(not isinstance(field, TypeName) and field.nullable)
        index += 1
        selection = getattr(field, "selection", None)
        connection = getattr(field, "connection", None)
        if isinstance(field, ConnectionPart) and field.kind == "edges":
            if index < len(path):
                positions.append(int(path[index]))
                flags.append(False)  # [XEdge!]!
                index += 1
            fields = list(field.parts)
        elif connection is not None:
            fields = connection.fields
        elif isinstance(field, ConnectionPart) and field.parts:
            fields = list(field.parts)
        elif selection is not None:
            if selection.list_of and index < len(path):
                positions.append(int(path[index]))
                flags.append(selection.items_nullable)
                index += 1
            fields = _fields_of(selection, path, index)
        else:
            fields = []
    return tuple(positions), flags


def _fields_of(selection: Selection, path: Path, index: int) -> list[Any]:
    """The plan's fields of the object at `path[:index]` (of whichever concrete type has the
    next key: a response key's nullability is the same in every type that selects it)."""
    if index >= len(path):
        return []
    key = path[index]
    for plan in selection.by_type.values():
        if any(f.key == key for f in plan.fields):
            return plan.fields
    return []
