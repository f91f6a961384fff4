"""A request's variables checked against its operation, in GraphQL's terms, before it runs.

Two things the client may get wrong with variables, both answered `BAD_USER_INPUT`:
- a value that does not fit its variable's type (a string for an `Int`, an unknown enum value,
  a missing required variable, an input object with unknown fields, nesting past what any input
  type allows); graphql-core's own check finds them, and its messages are reworded where they
  show Python (`None`, `{'a': 1}`) rather than the JSON the client sent;
- an explicit `null` for a variable used where null is not allowed: the variable may be
  nullable and have a default (`$orderBy: ContentOrder = CREATED_AT_DESC`, as Relay writes
  them), but a `null` sent for it is still null, and the argument it feeds refuses null. The
  specification makes that a field error at execution time; found here, it is refused before
  any transaction opens, with the argument named (`NullIntoNonNullRule`).
"""

from collections.abc import Mapping
from typing import Any, ClassVar

import orjson
from graphql import (
    GraphQLError,
    GraphQLSchema,
    NonNullTypeNode,
    OperationDefinitionNode,
    ValidationRule,
    is_input_type,
    is_non_null_type,
    print_ast,
    type_from_ast,
)
from graphql.pyutils import inspect
from graphql.utilities.validate_input_value import validate_input_value

BAD_USER_INPUT = "BAD_USER_INPUT"
# Past this nesting no input type of the schema goes: refused before any recursion.
MAX_NESTING = 64


def variable_errors(
    schema: GraphQLSchema,
    operation: OperationDefinitionNode,
    inputs: Mapping[str, Any],
    *,
    hide_suggestions: bool,
) -> list[GraphQLError]:
    errors: list[GraphQLError] = []
    for definition in operation.variable_definitions or ():
        name = definition.variable.name.value
        type_ = type_from_ast(schema, definition.type)
        if type_ is None or not is_input_type(type_):
            continue  # the document's own validation refused it already
        if name not in inputs:
            if definition.default_value is None and is_non_null_type(type_):
                errors.append(
                    _error(f"Variable `${name}` of required type `{type_}` was not provided.")
                )
            continue
        value = inputs[name]
        if _depth(value) > MAX_NESTING:
            errors.append(_error(f"Variable `${name}` is nested too deeply."))
            continue

        def report(error: GraphQLError, path: list[str | int], name: str = name) -> None:
            invalid = _at(inputs[name], path)
            where = "".join(f"[{step}]" if isinstance(step, int) else f".{step}" for step in path)
            message = error.message.replace(inspect(invalid), graphql_value(invalid))
            errors.append(_error(f"Variable `${name}` got an invalid value{where}: {message}"))

        validate_input_value(value, type_, report, hide_suggestions)
    return errors


class NullIntoNonNullRule(ValidationRule):
    """Refuses a variable sent as null where its use does not allow null; bind the request's
    null variables with `null_into_non_null_rule`."""

    null_variables: ClassVar[frozenset[str]]
    operation: ClassVar[OperationDefinitionNode]

    def leave_document(self, *_args: object) -> None:
        if not self.null_variables:
            return
        definitions = {
            definition.variable.name.value: definition
            for definition in self.operation.variable_definitions or ()
        }
        for usage in self.context.get_recursive_variable_usages(self.operation):
            name = usage.node.name.value
            definition = definitions.get(name)
            if (
                name not in self.null_variables
                or definition is None
                or isinstance(definition.type, NonNullTypeNode)  # its own check says so
                or usage.type is None
                or not is_non_null_type(usage.type)
            ):
                continue
            advice = (
                "send a value, or leave the variable out to use its default"
                f" `{print_ast(definition.default_value)}`"
                if definition.default_value is not None
                else "send a value"
            )
            self.report_error(
                GraphQLError(
                    f"Variable `${name}` is null, but it is used where `{usage.type}` cannot"
                    f" be null; {advice}.",
                    usage.node,
                    extensions={"code": BAD_USER_INPUT},
                )
            )


def null_into_non_null_rule(
    operation: OperationDefinitionNode, variables: Mapping[str, Any] | None
) -> type[NullIntoNonNullRule]:
    nulls = frozenset(name for name, value in (variables or {}).items() if value is None)
    namespace = {"null_variables": nulls, "operation": operation}
    return type("BoundNullIntoNonNullRule", (NullIntoNonNullRule,), namespace)


def graphql_value(value: Any) -> str:
    """A client's value as GraphQL (and JSON) write it: `null`, `true`, `"text"`, `{a: 1}`."""
    if isinstance(value, dict):
        fields = ", ".join(f"{key}: {graphql_value(item)}" for key, item in value.items())
        return "{" + fields + "}"
    if isinstance(value, list):
        return "[" + ", ".join(graphql_value(item) for item in value) + "]"
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return str(value)


def in_graphql_terms(message: str) -> str:
    """A validation message without Python's words for GraphQL's null."""
    return message.replace("not to be None.", "not to be null.")


def _error(message: str) -> GraphQLError:
    return GraphQLError(message, extensions={"code": BAD_USER_INPUT})


def _at(value: Any, path: list[str | int]) -> Any:
    for step in path:
        try:
            value = value[step]
        except (KeyError, IndexError, TypeError):
            return None
    return value


def _depth(value: Any) -> int:
    """How deep lists and objects nest in `value`, counted without recursion."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            items: Any = item.values()
        elif isinstance(item, list):
            items = item
        else:
            continue
        deepest = max(deepest, depth)
        if depth > MAX_NESTING:
            return depth
        stack.extend((child, depth + 1) for child in items)
    return deepest
