"""The Strawberry schema class the server builds: it executes admitted documents as they are.

Strawberry's `execute`/`stream` take an operation's text and parse and validate it in their
extension lifecycle (`_prepare_operation_async`). That work is skipped when the execution
context already holds a document and `pre_execution_errors` is set; so the context made for an
`AdmittedQuery` holds its admitted document and no errors. The lifecycle hooks (parsing,
validation, execution, OpenTelemetry's spans among them) still run around it.
"""

from collections.abc import AsyncGenerator, Iterable
from typing import TYPE_CHECKING, Any

import strawberry
from graphql import ASTValidationRule, GraphQLError
from strawberry.schema.validation_rules.maybe_null import MaybeNullValidationRule
from strawberry.schema.validation_rules.one_of import OneOfInputValidationRule
from strawberry.types import ExecutionContext, ExecutionResult
from strawberry.types.execution import PreExecutionError
from strawberry.types.graphql import OperationType

from schema.execution.operation import AdmittedQuery, Operation

if TYPE_CHECKING:
    from schema.execution.planner import Planner


def validation_rules() -> tuple[type[ASTValidationRule], ...]:
    """The rules Strawberry adds to the specification's for this schema's directives."""
    return (MaybeNullValidationRule, OneOfInputValidationRule)


class Schema(strawberry.Schema):
    # Set once the types are all built (schema.root): None runs everything the standard way.
    planner: "Planner | None" = None
    # OpenTelemetry's tracer while tracing is on (gql_server.tracing): the compiled path's span.
    tracer: Any = None

    async def execute_operation(self, operation: Operation, context: Any) -> ExecutionResult:
        """A query or mutation the door admitted: compiled when it can be planned, else by
        standard execution (the reference), with the same answer."""
        planner = self.planner
        if planner is not None and context is not None:
            plan = planner.plan(operation)
            if plan is not None:
                if self.tracer is None:
                    return await planner.run(plan, operation, context)
                kind = operation.kind.value.capitalize()
                with self.tracer.start_as_current_span(f"GraphQL {kind}: {operation.name}"):
                    return await planner.run(plan, operation, context)
        return await self.execute_standard(operation, context)

    async def execute_standard(self, operation: Operation, context: Any) -> ExecutionResult:
        """Standard execution (graphql-core's walk with Strawberry's resolvers), for what the
        planner does not cover and as the reference the compiled path is tested against."""
        return await self.execute(
            AdmittedQuery(operation),
            variable_values=operation.variables,
            context_value=context,
            operation_name=operation.name,
            allowed_operation_types=(OperationType.QUERY, OperationType.MUTATION),
        )

    async def subscribe_operation(
        self, operation: Operation, context: Any
    ) -> AsyncGenerator[ExecutionResult | PreExecutionError, None]:
        """A subscription the door admitted: its events' results, as Strawberry streams them."""
        return await self.subscribe(
            AdmittedQuery(operation),
            variable_values=operation.variables,
            context_value=context,
            operation_name=operation.name,
        )

    def _create_execution_context(
        self,
        query: str | None,
        allowed_operation_types: Iterable[OperationType],
        variable_values: dict[str, Any] | None = None,
        context_value: Any | None = None,
        root_value: Any | None = None,
        operation_name: str | None = None,
        operation_extensions: dict[str, Any] | None = None,
    ) -> ExecutionContext:
        context = super()._create_execution_context(
            query,
            allowed_operation_types,
            variable_values,
            context_value,
            root_value,
            operation_name,
            operation_extensions,
        )
        if isinstance(query, AdmittedQuery):
            context.graphql_document = query.document
            context.pre_execution_errors = []  # validated at the door, with every rule
        return context

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        # The door classifies every error and logs the unexpected ones, once, with the request
        # id (gql_server.errors); Strawberry's own logging of them would say it all again.
        return
