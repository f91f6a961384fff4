"""What the server relies on in Strawberry's and graphql-core's internals, checked against the
installed versions: an upgrade that moves any of it fails here, not in production.

The internals are used in `schema/execution` (executing an admitted document as it is, each
subscription event in its own context), `gql_server/subscriptions.py` (the WebSocket protocols'
handlers), `gql_server/variables.py` and `schema/introspection_cost.py` (graphql-core's input
and argument checks)."""

import inspect
import tomllib
from importlib.metadata import version
from pathlib import Path

import pytest
import strawberry.schema.schema as strawberry_schema
from graphql import parse
from graphql.execution.values import VariableValues, get_argument_values
from graphql.utilities.validate_input_value import validate_input_value
from packaging.requirements import Requirement
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
    Operation,
)
from strawberry.subscriptions.protocols.graphql_ws.handlers import BaseGraphQLWSHandler

from schema import schema
from schema.execution import Operation as AdmittedOperation
from schema.execution.catalog import fields_of
from schema.mutations.run import PERFORMED, Performed

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


def pinned(package: str) -> Requirement:
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    for line in project["dependencies"]:
        requirement = Requirement(line)
        if requirement.name == package:
            return requirement
    raise AssertionError(f"{package} is not a dependency")


@pytest.mark.parametrize("package", ["strawberry-graphql", "graphql-core"])
def test_the_installed_versions_are_the_pinned_ones(package: str) -> None:
    requirement = pinned(package)
    assert requirement.specifier.contains(version(package)), (requirement, version(package))
    assert any(spec.operator == "<" for spec in requirement.specifier), "pin an upper bound"


async def test_an_admitted_document_is_neither_parsed_nor_validated_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def refuse(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("parsed or validated again")

    monkeypatch.setattr(strawberry_schema, "parse", refuse)
    monkeypatch.setattr(strawberry_schema, "validate_document", refuse)
    text = "{ __typename }"
    document = parse(text)
    operation = AdmittedOperation(text, document, document.definitions[0], None)  # type: ignore[arg-type]
    result = await schema.execute_operation(operation, None)
    assert result.errors is None
    assert result.data == {"__typename": "Query"}


def test_the_execution_context_is_made_as_overridden() -> None:
    parameters = list(
        inspect.signature(strawberry_schema.Schema._create_execution_context).parameters
    )
    assert parameters == [
        "self",
        "query",
        "allowed_operation_types",
        "variable_values",
        "context_value",
        "root_value",
        "operation_name",
        "operation_extensions",
    ]
    assert hasattr(StrawberryGraphQLCoreExecutionContext, "build_per_event_executor")


@pytest.mark.parametrize(
    ("handler", "methods"),
    [
        (
            BaseGraphQLTransportWSHandler,
            [
                "handle",
                "handle_message",
                "handle_connection_init",
                "handle_subscribe",
                "handle_invalid_message",
                "run_operation",
                "send_message",
                "_task_done",
                "handle_task_exception",
            ],
        ),
        (
            BaseGraphQLWSHandler,
            ["handle", "handle_message", "handle_start", "handle_async_results", "send_message"],
        ),
        (Operation, ["send_operation_message"]),
    ],
)
def test_the_websocket_handlers_have_what_is_overridden(handler: type, methods: list[str]) -> None:
    for method in methods:
        assert callable(getattr(handler, method, None)), f"{handler.__name__}.{method}"
    start = inspect.signature(BaseGraphQLWSHandler.handle_async_results).parameters
    assert list(start) == ["self", "operation_id", "query", "operation_name", "variables"]


def test_graphql_cores_input_checks_take_what_is_passed() -> None:
    assert list(inspect.signature(validate_input_value).parameters) == [
        "input_value",
        "type_",
        "on_error",
        "hide_suggestions",
    ]
    assert VariableValues(sources={}, coerced={}).coerced == {}
    assert "variable_values" in inspect.signature(get_argument_values).parameters


def test_a_strawberry_field_tells_its_resolver_metadata_and_graphql_name() -> None:
    # What schema.execution.catalog reads of the Strawberry types: a mutation's `Performed` in
    # its field's metadata, whether a payload field has a resolver, and each field's name.
    fields = fields_of(schema, "Mutation")
    assert isinstance(fields["rateContent"].metadata[PERFORMED], Performed)
    payload = fields_of(schema, "DeleteCommentPayload")
    assert payload["content"].base_resolver is not None
    assert payload["deletedCommentId"].base_resolver is None
    assert payload["userErrors"].python_name == "user_errors"
