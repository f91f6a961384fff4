"""Differential execution: every planned query and mutation the suite sends, and every
subscription event answered by a plan, also runs through standard execution (graphql-core's walk
with Strawberry's resolvers, the reference) in the same scope, and any difference in data (key
order included), errors or error paths is recorded.

A mutation's reference runs first, in a savepoint rolled back afterwards, then the compiled path
runs it for real on the same data; the ids and clock readings the reference made are given again
to the compiled run (`Replay`), so a new comment has the same id both times.

`tests/conftest.py` turns it on for the whole suite; a test fails when a request it made was
answered differently by the two paths.
"""

import importlib
import pkgutil
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime
from typing import Any

import asyncpg
import orjson
from graphql import OperationType, print_ast
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql.schema import CallableColumnDefault
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.types import ExecutionResult

import schema.mutations as mutations_package
from gql_server.tenancy import STATEMENTS
from models.base import Base
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


class Replay:
    """New ids and clock readings: recorded while a mutation's reference runs, given again in
    the same order while its compiled run makes them (else made as usual). Per request (a
    context variable), so concurrent requests keep their own."""

    def __init__(self) -> None:
        self._state: ContextVar[tuple[str, dict[str, list[Any]]] | None] = ContextVar(
            "replay", default=None
        )

    def value(self, kind: str, make: Callable[[], Any]) -> Any:
        state = self._state.get()
        if state is None:
            return make()
        mode, made = state
        if mode == "replay" and made[kind]:
            return made[kind].pop(0)
        value = make()
        if mode == "record":
            made[kind].append(value)
        return value

    @contextmanager
    def recording(self) -> Iterator[dict[str, list[Any]]]:
        made: dict[str, list[Any]] = {"id": [], "now": []}
        token = self._state.set(("record", made))
        try:
            yield made
        finally:
            self._state.reset(token)

    @contextmanager
    def replaying(self, made: dict[str, list[Any]]) -> Iterator[None]:
        token = self._state.set(("replay", made))
        try:
            yield
        finally:
            self._state.reset(token)

    def install(self) -> Callable[[], None]:
        """Route the models' id defaults and the mutations' ids and clocks through `value`;
        returns what undoes it."""
        undo: list[Callable[[], None]] = []
        for table in Base.metadata.tables.values():
            for column in table.columns:
                default = column.default
                if isinstance(default, CallableColumnDefault):
                    made = default.arg

                    def replayed(context: Any, made: Any = made) -> Any:
                        return self.value("id", lambda: made(context))

                    default.arg = replayed
                    undo.append(lambda default=default, made=made: setattr(default, "arg", made))
        replay = self

        class Clock(datetime):
            @classmethod
            def now(cls, tz: Any = None) -> Any:
                return replay.value("now", lambda: datetime.now(tz))

        for module in _MUTATION_MODULES:
            if hasattr(module, "uuid4"):
                made_id = module.uuid4
                module.uuid4 = lambda made=made_id: self.value("id", made)
                undo.append(lambda module=module, made=made_id: setattr(module, "uuid4", made))
            if hasattr(module, "datetime"):
                undo.append(lambda module=module: setattr(module, "datetime", datetime))
                module.datetime = Clock
        return lambda: [step() for step in reversed(undo)] and None


_MUTATION_MODULES = [
    importlib.import_module(f"schema.mutations.{info.name}")
    for info in pkgutil.iter_modules(mutations_package.__path__)
]


class _Undo(Exception):
    """Ends the savepoint a mutation's reference ran in, rolling it back."""


class _Broken(Exception):
    """Ends that savepoint when the database failed under the reference."""


def _failed_in_the_database(result: ExecutionResult) -> bool:
    return any(_from_the_database(error.original_error) for error in result.errors or ())


class Differential:
    def __init__(self, execute: Execute) -> None:
        self.execute = execute
        self.mismatches: list[str] = []
        self.compared = 0
        self.running_reference = False  # while the standard path runs a request again
        self.compared_events = 0
        self.compared_mutations = 0
        self.mutations = True  # compare mutations (not in tests marked `racing`)
        self.replay = Replay()

    async def __call__(self, operation: Operation, context: Any) -> ExecutionResult:
        planner = schema.planner
        if context is None or planner is None or planner.plan(operation) is None:
            return await self.execute(operation, context)
        if operation.kind is OperationType.MUTATION:
            if not self.mutations:  # racing one another: a second run would race differently
                return await self.execute(operation, context)
            return await self._mutation(operation, context)
        compiled = await self.execute(operation, context)
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

    async def _mutation(self, operation: Operation, context: Any) -> ExecutionResult:
        """The reference first, undone; then the compiled run, for real, on the same data."""
        connection = await context.db._session.connection()
        statements = connection.info.get(STATEMENTS)
        reference: ExecutionResult | None = None
        self.running_reference = True
        try:
            with self.replay.recording() as made:
                async with context.db.savepoint():
                    reference = await schema.execute_standard(operation, context)
                    if _failed_in_the_database(reference):
                        raise _Broken
                    raise _Undo
        except _Undo:
            pass
        except Exception:
            # The database failed under the reference (a lost connection, a timeout): the
            # transaction may be unusable, so that is the answer, as the compiled run's would be.
            if reference is not None and _failed_in_the_database(reference):
                return reference
            raise
        finally:
            self.running_reference = False
        if statements is not None:
            connection.info[STATEMENTS] = statements
        with self.replay.replaying(made):
            compiled = await self.execute(operation, context)
        assert reference is not None
        if _failed_in_the_database(compiled):
            return compiled  # a statement failed (a timeout, a lock): the two ran differently
        self.compared += 1
        self.compared_mutations += 1
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
