"""Running an admitted operation: the one package that relies on Strawberry's and graphql-core's
internals (checked against the versions pinned in pyproject.toml; `tests/test_execution_contract.py`
fails when an upgrade moves what is used here).

The door (`gql_server.admission`) parses and validates every operation once, with every rule the
schema needs (`validation_rules`) plus its limits; execution then runs that very document:
`Schema.execute_operation` for queries and mutations, `Schema.subscribe_operation` for
subscriptions, without Strawberry parsing or validating it again.

Queries the planner covers run compiled (`planner`, `plan`, `run`); the rest run the standard
way, graphql-core's walk with Strawberry's resolvers, sped up by loading relations a level at a
time (`prefetch`) and plain graphql-core resolvers where Strawberry's wrapper adds nothing
(`resolution`): both stay here, with the internals they read.
"""

from schema.execution.events import Delivery, EventCursor, EventExecutor, EventScope, run_to_end
from schema.execution.operation import Operation
from schema.execution.strawberry_schema import Schema, validation_rules

__all__ = [
    "Delivery",
    "EventCursor",
    "EventExecutor",
    "EventScope",
    "Operation",
    "Schema",
    "run_to_end",
    "validation_rules",
]
