"""Plans cached per operation, and run for a request or a subscription event.

Plans are keyed by the operation (its parsed document is cached by text at the door, so a
document sent again is the same object) and the values of the variables `@skip`/`@include`
read: variables and page sizes do not multiply them. The cache is bounded; a document that
cannot be planned is remembered as such, so it goes straight to standard execution.

A subscription's plan is of what it selects on each event's value: every event of every
subscriber of that document runs the same plan on the value its event gave.
"""

from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from graphql import FragmentDefinitionNode, GraphQLError, OperationDefinitionNode
from graphql.execution.values import VariableValues, get_variable_values
from strawberry.types import ExecutionResult
from strawberry.types.field import StrawberryField

from schema.execution.loading import RELATION_LOADERS
from schema.execution.operation import Operation
from schema.execution.plan import (
    Catalog,
    Plan,
    RootField,
    compile_operation,
    directive_variables,
    fragments_of,
)
from schema.execution.run import RootLoader, Runner
from schema.pagination import encode_cursor

CACHED_PLANS = 1024
_UNPLANNED = object()


class Planner:
    def __init__(self, schema: Any, catalog: Catalog, roots: dict[str, RootLoader]) -> None:
        self.schema = schema
        self.catalog = catalog
        self.roots = roots
        # (id of the operation's definition, conditions) -> (what keeps that id alive, plan)
        self._plans: OrderedDict[tuple[Any, ...], tuple[Any, Any]] = OrderedDict()
        self._operations: dict[int, tuple[Any, dict[str, FragmentDefinitionNode], tuple[str, ...]]]
        self._operations = {}
        self._fields: dict[tuple[str, str], StrawberryField | None] = {}

    def plan(self, operation: Operation) -> Plan | None:
        """The plan of an admitted query (None: it runs the standard way)."""
        return self._plan(
            operation.definition, operation.document, operation.variables, coerced=None
        )

    def plan_event(
        self,
        definition: OperationDefinitionNode,
        fragments: Mapping[str, FragmentDefinitionNode],
        variables: VariableValues,
    ) -> Plan | None:
        """The plan of what a subscription selects on each event (None: the standard way)."""
        return self._plan(definition, fragments, None, coerced=variables)

    def _plan(
        self,
        definition: OperationDefinitionNode,
        source: Any,  # the document, or the fragments of an executing operation
        raw: dict[str, Any] | None,
        coerced: VariableValues | None,
    ) -> Plan | None:
        fragments, names = self._shape(definition, source)
        conditions: dict[str, bool] = {}
        if names:  # the values `@skip`/`@include` read, defaults included
            values = coerced if coerced is not None else self._coerce(definition, raw)
            if isinstance(values, list):
                return None  # the door checked them: not reached
            conditions = {name: bool(values.coerced.get(name)) for name in names}
        key = (id(definition), *conditions.values())
        known = self._plans.get(key)
        if known is not None and known[0] is definition:
            self._plans.move_to_end(key)
            return None if known[1] is _UNPLANNED else known[1]
        plan = compile_operation(
            self.schema._schema, self.catalog, fragments, definition, conditions
        )
        # The definition is kept with its plan, so its id cannot be reused meanwhile.
        self._plans[key] = (definition, _UNPLANNED if plan is None else plan)
        if len(self._plans) > CACHED_PLANS:
            self._plans.popitem(last=False)
        return plan

    def _shape(
        self, definition: OperationDefinitionNode, source: Any
    ) -> tuple[Mapping[str, FragmentDefinitionNode], tuple[str, ...]]:
        """The operation's fragments and the variables its directives read, once per operation."""
        known = self._operations.get(id(definition))
        if known is not None and known[0] is definition:
            return known[1], known[2]
        fragments = dict(source) if isinstance(source, Mapping) else fragments_of(source)
        names = directive_variables(definition, fragments)
        if len(self._operations) > CACHED_PLANS:
            self._operations.clear()
        self._operations[id(definition)] = (definition, fragments, names)
        return fragments, names

    def _coerce(
        self, definition: OperationDefinitionNode, raw: dict[str, Any] | None
    ) -> VariableValues | list[GraphQLError]:
        return get_variable_values(
            self.schema._schema, definition.variable_definitions or (), raw or {}
        )

    async def run(self, plan: Plan, operation: Operation, context: Any) -> ExecutionResult:
        coerced = self._coerce(operation.definition, operation.variables)
        if isinstance(coerced, list):  # the door checked them: this is not reached
            return ExecutionResult(data=None, errors=coerced)
        return await self._run(plan, context, coerced, self.roots)

    async def run_event(
        self, plan: Plan, context: Any, variables: VariableValues, value: Any
    ) -> ExecutionResult:
        """A subscription event's answer: the plan run on the value the event gave."""

        async def given(_runner: Runner, _field: RootField, _args: dict[str, Any]) -> Any:
            return value

        roots: dict[str, RootLoader] = {
            field.name: given for field in plan.root if isinstance(field, RootField)
        }
        return await self._run(plan, context, variables, roots)

    async def _run(
        self, plan: Plan, context: Any, variables: VariableValues, roots: dict[str, RootLoader]
    ) -> ExecutionResult:
        runner = Runner(
            plan,
            context,
            variables,
            arguments_of=self._strawberry_field,
            scalar_registry=self.schema.schema_converter.scalar_registry,
            config=self.schema.config,
            relation_loaders=RELATION_LOADERS,
            root_loaders=roots,
            encode_cursor=encode_cursor,
        )
        data, errors = await runner.run()
        return ExecutionResult(data=data, errors=errors or None)

    def _strawberry_field(self, type_name: str, field_name: str) -> StrawberryField | None:
        key = (type_name, field_name)
        if key not in self._fields:
            definition = self.schema.get_type_by_name(type_name)
            names = self.schema.config.name_converter
            self._fields[key] = next(
                (
                    field
                    for field in getattr(definition, "fields", ())
                    if names.get_graphql_name(field) == field_name
                ),
                None,
            )
        return self._fields[key]


__all__ = ["GraphQLError", "Planner"]
