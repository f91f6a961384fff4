"""Plans cached per operation, and run for a request.

Plans are keyed by the operation (its parsed document is cached by text at the door, so a
document sent again is the same object) and the values of the variables `@skip`/`@include`
read: variables and page sizes do not multiply them. The cache is bounded; a document that
cannot be planned is remembered as such, so it goes straight to standard execution.
"""

from collections import OrderedDict
from typing import Any

from graphql import GraphQLError
from graphql.execution.values import get_variable_values
from strawberry.types import ExecutionResult
from strawberry.types.field import StrawberryField

from schema.execution.loading import RELATION_LOADERS
from schema.execution.operation import Operation
from schema.execution.plan import Catalog, Plan, compile_operation, directive_variables
from schema.execution.run import RootLoader, Runner
from schema.pagination import encode_cursor

CACHED_PLANS = 1024
_UNPLANNED = object()


class Planner:
    def __init__(self, schema: Any, catalog: Catalog, roots: dict[str, RootLoader]) -> None:
        self.schema = schema
        self.catalog = catalog
        self.roots = roots
        self._plans: OrderedDict[tuple[Any, ...], tuple[Any, Any]] = OrderedDict()
        self._conditions: dict[int, tuple[Any, tuple[str, ...]]] = {}
        self._fields: dict[tuple[str, str], StrawberryField | None] = {}

    def plan(self, operation: Operation) -> Plan | None:
        graphql_schema = self.schema._schema
        names = self._directive_variables(operation)
        values = operation.variables or {}
        key = (id(operation.definition), *(bool(values.get(name)) for name in names))
        known = self._plans.get(key)
        if known is not None and known[0] is operation.document:
            self._plans.move_to_end(key)
            return None if known[1] is _UNPLANNED else known[1]
        conditions = {name: bool(values.get(name)) for name in names}
        plan = compile_operation(
            graphql_schema, self.catalog, operation.document, operation.definition, conditions
        )
        # The document is kept with its plan, so its id cannot be reused meanwhile.
        self._plans[key] = (operation.document, _UNPLANNED if plan is None else plan)
        if len(self._plans) > CACHED_PLANS:
            self._plans.popitem(last=False)
        return plan

    async def run(self, plan: Plan, operation: Operation, context: Any) -> ExecutionResult:
        coerced = get_variable_values(
            self.schema._schema,
            operation.definition.variable_definitions or (),
            operation.variables or {},
        )
        if isinstance(coerced, list):  # the door checked them: this is not reached
            return ExecutionResult(data=None, errors=coerced)
        runner = Runner(
            plan,
            context,
            coerced,
            arguments_of=self._strawberry_field,
            scalar_registry=self.schema.schema_converter.scalar_registry,
            config=self.schema.config,
            relation_loaders=RELATION_LOADERS,
            root_loaders=self.roots,
            encode_cursor=encode_cursor,
        )
        data, errors = await runner.run()
        return ExecutionResult(data=data, errors=errors or None)

    def _directive_variables(self, operation: Operation) -> tuple[str, ...]:
        known = self._conditions.get(id(operation.definition))
        if known is not None and known[0] is operation.document:
            return known[1]
        names = directive_variables(operation.definition, operation.document)
        if len(self._conditions) > CACHED_PLANS:
            self._conditions.clear()
        self._conditions[id(operation.definition)] = (operation.document, names)
        return names

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
