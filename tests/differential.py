"""Differential execution: every planned query the suite sends, and every subscription event
answered by a plan, also runs through standard execution (graphql-core's walk with Strawberry's
resolvers, the reference) in the same scope, and any difference in data (key order included),
errors or error paths is recorded.

`tests/conftest.py` turns it on for the whole suite; a test fails when a request it made was
answered differently by the two paths.
"""

from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import orjson
from graphql import print_ast
from sqlalchemy.exc import DBAPIError
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.types import ExecutionResult

from gql_server.tenancy import STATEMENTS
from schema import schema
from schema.execution import Delivery, EventExecutor, Operation

Execute = Callable[[Operation, Any], Awaitable[ExecutionResult]]


def _errors(result: ExecutionResult) -> list[Any]:
    return sorted(
        (
            (error.path or [], error.message, (error.extensions or {}).get("code"))
            for error in result.errors or ()
        ),
        key=orjson.dumps,
    )


def _from_the_database(error: BaseException | None) -> bool:
    return isinstance(error, DBAPIError | asyncpg.PostgresError | asyncpg.InterfaceError)


def difference(compiled: ExecutionResult, reference: ExecutionResult) -> str | None:
    """What differs between the two answers, or None."""
    ours, theirs = orjson.dumps(compiled.data), orjson.dumps(reference.data)
    if ours != theirs:
        return f"data: compiled {ours[:2000]!r} != standard {theirs[:2000]!r}"
    if _errors(compiled) != _errors(reference):
        return f"errors: compiled {_errors(compiled)} != standard {_errors(reference)}"
    return None


class Differential:
    def __init__(self, execute: Execute) -> None:
        self.execute = execute
        self.mismatches: list[str] = []
        self.compared = 0
        self.running_reference = False  # while the standard path runs a request again
        self.compared_events = 0

    async def __call__(self, operation: Operation, context: Any) -> ExecutionResult:
        compiled = await self.execute(operation, context)
        planner = schema.planner
        if context is None or planner is None or planner.plan(operation) is None:
            return compiled
        if any(_from_the_database(error.original_error) for error in compiled.errors or ()):
            return compiled  # a statement failed (a timeout): the transaction can run no other

        # The reference runs in the same scope; the statements it sends are not the request's.
        connection = await context.db._session.connection()
        statements = connection.info.get(STATEMENTS)
        self.running_reference = True
        try:
            reference = await schema.execute_standard(operation, context)
        finally:
            self.running_reference = False
        if statements is not None:
            connection.info[STATEMENTS] = statements
        if any(_from_the_database(error.original_error) for error in reference.errors or ()):
            return compiled  # the database went away between the two (a replica stopped)
        self.compared += 1
        found = difference(compiled, reference)
        if found is not None:
            self.mismatches.append(f"{operation.text[:500]}\n  {found}")
        return compiled

    def events(self, planned: Any) -> Any:
        """`EventExecutor.execute_planned`, checked against the standard way for each event."""

        async def checked(executor: EventExecutor, delivery: Delivery[Any]) -> Any:
            compiled = await planned(executor, delivery)
            if compiled is None:
                return None
            self.running_reference = True
            try:
                reference = StrawberryGraphQLCoreExecutionContext.execute_operation(executor)
                if executor.is_awaitable(reference):
                    reference = await reference
            finally:
                self.running_reference = False
            self.compared_events += 1
            found = difference(compiled, reference)
            if found is not None:
                self.mismatches.append(f"{print_ast(executor.operation)[:500]}\n  {found}")
            return compiled

        return checked
