"""The door every operation passes, whatever carried it (HTTP GET or POST, a batch, a persisted
query or trusted document, either WebSocket protocol): read, parsed once within the token limit,
validated once with every rule and limit of its tenant, its variables checked; or refused.

What comes out is an `Admitted` operation, the very document execution runs
(`schema.execution`); what is refused is a `Refused` with GraphQL errors and the reason's kind,
which each transport turns into its own answer (an HTTP status, a WebSocket message).

Validating is memoized: the verdict depends on the document, the operation, the tenant's limits
and the few things variables can change about them (page sizes, the number of ids, which
variables are null), so a document checked once is not walked again for the next request that
sends it with other ids. Parsed documents are cached by their text.
"""

import logging
import re
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from typing import Any

from graphql import (
    ASTValidationRule,
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    MaxIntrospectionDepthRule,
    NoSchemaIntrospectionCustomRule,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    ValuesOfCorrectTypeRule,
    get_operation_ast,
    parse,
    specified_rules,
    validate,
)

from gql_server import persisted
from gql_server.observability import count_rejection
from gql_server.settings import Settings
from gql_server.variables import (
    BAD_USER_INPUT,
    in_graphql_terms,
    null_into_non_null_rule,
    variable_errors,
)
from schema import schema
from schema.execution import Operation, validation_rules
from schema.limits import MAX_FILTER_NESTING, LimitCode, Measurement, QueryLimits, limits_rule

log = logging.getLogger(__name__)

INTROSPECTION_FIELDS = frozenset({"__schema", "__type", "__typename"})
CHECKED_DOCUMENTS = 1024
PARSED_DOCUMENTS = 1024
_TOO_MANY_TOKENS = re.compile(r"Document contains more than \d+ (tokens|comments)\.")


class Refusal(StrEnum):
    """Why an operation was refused, which decides how a transport answers it."""

    BAD_REQUEST = "bad_request"  # no operation to run: not a GraphQL request at all
    DOCUMENT = "document"  # does not parse, does not validate, or is over a limit
    VARIABLES = "variables"  # the variables do not fit the operation
    # A persisted query's hash the server does not know: the client sends the query with it.
    UNKNOWN_PERSISTED_QUERY = "unknown_persisted_query"


class Refused(Exception):
    def __init__(self, kind: Refusal, errors: list[dict[str, Any]]) -> None:
        super().__init__(errors[0]["message"])
        self.kind, self.errors = kind, errors

    @property
    def codes(self) -> list[str]:
        return [str(error["extensions"]["code"]) for error in self.errors]


def refusal(kind: Refusal, message: str, code: str, **extensions: Any) -> Refused:
    return Refused(kind, [{"message": message, "extensions": {"code": code, **extensions}}])


@dataclass(frozen=True, slots=True)
class Admitted:
    operation: Operation
    cost: int

    @property
    def kind(self) -> OperationType:
        return self.operation.kind

    @property
    def is_mutation(self) -> bool:
        return self.operation.kind is OperationType.MUTATION


class Admission:
    """Admits operations by the settings' rules and the server's persisted documents; tenants'
    own limits are passed in."""

    def __init__(self, settings: Settings, documents: persisted.PersistedDocuments) -> None:
        self.documents = documents
        self.max_tokens = settings.max_tokens
        self.hide_suggestions = settings.is_production
        self.introspection_rules: tuple[type[ASTValidationRule], ...] = (
            (NoSchemaIntrospectionCustomRule,) if settings.introspection_refused else ()
        )
        self._checked: OrderedDict[tuple[Any, ...], tuple[DocumentNode, int | Refused]] = (
            OrderedDict()
        )

    def parse(self, text: Any) -> DocumentNode:
        """The document, parsed once per distinct text; Refused when it cannot be."""
        if not isinstance(text, str) or not text.strip():
            raise self._count(
                refusal(Refusal.BAD_REQUEST, "`query` must be a non-empty string", "BAD_REQUEST")
            )
        try:
            return _parse(text, self.max_tokens)
        except GraphQLError as error:
            code = (
                LimitCode.TOKEN_LIMIT_EXCEEDED
                if _TOO_MANY_TOKENS.search(error.message)
                else "GRAPHQL_PARSE_FAILED"
            )
            formatted = _formatted(error, code)
            raise self._count(Refused(Refusal.DOCUMENT, [formatted])) from None

    def operation(self, document: DocumentNode, name: Any) -> OperationDefinitionNode:
        if name is not None and not isinstance(name, str):
            raise self._count(
                refusal(Refusal.BAD_REQUEST, "`operationName` must be a string", "BAD_REQUEST")
            )
        operation = get_operation_ast(document, name)
        if operation is None:
            message = (
                f"the document has no operation named {name!r}"
                if name
                else "the document has several operations: name the one to run (operationName)"
                if any(isinstance(d, OperationDefinitionNode) for d in document.definitions)
                else "the document has no operation to run"
            )
            raise self._count(refusal(Refusal.BAD_REQUEST, message, "BAD_REQUEST"))
        return operation

    async def read(self, params: Mapping[str, Any]) -> Operation:
        """The operation a request's parameters (`query` or a persisted document's hash or id,
        `operationName`, `variables`, `extensions`) ask to run, parsed; else Refused. Nothing
        here depends on who asks, so it comes before authentication."""
        try:
            text = await self.documents.resolve(params)
        except persisted.Refused as refused:
            kind = (
                Refusal.UNKNOWN_PERSISTED_QUERY
                if refused.code == persisted.NOT_FOUND
                else Refusal.BAD_REQUEST
            )
            raise self._count(refusal(kind, refused.message, refused.code)) from None
        document = self.parse(text)
        definition = self.operation(document, params.get("operationName"))
        variables = params.get("variables")
        if variables is not None and not isinstance(variables, dict):
            raise self._count(
                refusal(Refusal.BAD_REQUEST, "`variables` must be an object", "BAD_REQUEST")
            )
        return Operation(text, document, definition, variables)

    def admit(self, operation: Operation, limits: QueryLimits) -> Admitted:
        """The operation, admitted by every rule and limit of `limits`; else Refused."""
        document, definition, variables = (
            operation.document,
            operation.definition,
            operation.variables,
        )
        verdict = self._verdict(document, definition, variables, limits)
        if isinstance(verdict, Refused):
            raise self._count(verdict)
        errors = variable_errors(
            schema._schema,
            definition,
            operation.variables or {},
            hide_suggestions=self.hide_suggestions,
        )
        if errors:
            refused = Refused(Refusal.VARIABLES, [_formatted(e, BAD_USER_INPUT) for e in errors])
            raise self._count(refused)
        return Admitted(operation, verdict)

    def _verdict(
        self,
        document: DocumentNode,
        definition: OperationDefinitionNode,
        variables: Mapping[str, Any] | None,
        limits: QueryLimits,
    ) -> "int | Refused":
        key = (id(document), id(definition), limits, _what_validation_reads(variables))
        known = self._checked.get(key)
        if known is not None:
            self._checked.move_to_end(key)
            return known[1]
        verdict = self._validate(document, definition, variables, limits)
        # The document is kept with its verdict, so its id cannot be reused meanwhile.
        self._checked[key] = (document, verdict)
        if len(self._checked) > CHECKED_DOCUMENTS:
            self._checked.popitem(last=False)
        return verdict

    def _validate(
        self,
        document: DocumentNode,
        definition: OperationDefinitionNode,
        variables: Mapping[str, Any] | None,
        limits: QueryLimits,
    ) -> "int | Refused":
        measurement = Measurement()
        rules: tuple[type[ASTValidationRule], ...] = (
            *(_BadValues if rule is ValuesOfCorrectTypeRule else rule for rule in specified_rules),
            *validation_rules(),
            limits_rule(limits, definition, variables, measurement),
            null_into_non_null_rule(definition, variables),
            MaxIntrospectionDepthRule,
            *self.introspection_rules,
        )
        try:
            errors = validate(
                schema._schema, document, rules, hide_suggestions=self.hide_suggestions
            )
        except RecursionError:
            errors = [GraphQLError("the document is nested too deeply")]
        if errors:
            return Refused(Refusal.DOCUMENT, [_formatted(error) for error in errors])
        return measurement.shape.cost if measurement.shape else 0

    @staticmethod
    def _count(refused: Refused) -> Refused:
        for code in refused.codes:
            count_rejection(code.lower())
        return refused


class _BadValues(ValuesOfCorrectTypeRule):
    """The specification's rule for argument values: what it finds is the client's bad input."""

    def report_error(self, error: GraphQLError) -> None:
        error.extensions = {**(error.extensions or {}), "code": BAD_USER_INPUT}
        super().report_error(error)


@lru_cache(maxsize=PARSED_DOCUMENTS)
def _parse(text: str, max_tokens: int) -> DocumentNode:
    # Comments are not tokens; they get a budget of their own, as large.
    try:
        return parse(text, max_lexical_tokens=max_tokens, max_comments=max_tokens)
    except RecursionError:
        raise GraphQLError("Syntax Error: the document is nested too deeply.") from None


def _what_validation_reads(variables: Mapping[str, Any] | None) -> tuple[Any, ...]:
    """The variables' part in validation: numbers (page sizes), list lengths (ids), nulls, and
    the shape of input objects (which fields a `where` filter gives: its price)."""
    read: list[tuple[str, Any]] = []
    for name, value in (variables or {}).items():
        if value is None or (isinstance(value, int | float) and not isinstance(value, bool)):
            read.append((name, value))
        elif isinstance(value, list | dict):
            read.append((name, _skeleton(value)))
    return tuple(sorted(read, key=lambda item: item[0]))


# Past this depth a skeleton is cut: no price reads that deep (`schema.limits.where_cost` stops
# at MAX_FILTER_NESTING levels of filter, two of JSON each), and stored JSON may nest far deeper.
SKELETON_DEPTH = 2 * MAX_FILTER_NESTING + 8


def _skeleton(value: Any, depth: int = 0) -> Any:
    """An input value without its scalars: the keys it gives (not null) and its lists' lengths."""
    if depth > SKELETON_DEPTH:
        return "deeper"
    if isinstance(value, dict):
        return tuple(
            sorted(
                (key, _skeleton(item, depth + 1)) for key, item in value.items() if item is not None
            )
        )
    if isinstance(value, list):
        if any(isinstance(item, dict | list) for item in value):
            return ("list", tuple(_skeleton(item, depth + 1) for item in value))
        return ("list", len(value))
    return None


def _formatted(error: GraphQLError, code: str | None = None) -> dict[str, Any]:
    formatted: dict[str, Any] = dict(error.formatted)
    formatted["message"] = in_graphql_terms(error.message)
    extensions = {"code": "GRAPHQL_VALIDATION_FAILED", **(error.extensions or {})}
    if code is not None:
        extensions["code"] = code
    formatted["extensions"] = extensions
    return formatted


def only_introspection(document: DocumentNode, operation: OperationDefinitionNode) -> bool:
    """Whether the operation selects nothing but introspection (GraphiQL's and codegen's
    schema query), which may run without a token where introspection is open."""
    fragments = {
        definition.name.value: definition
        for definition in document.definitions
        if isinstance(definition, FragmentDefinitionNode)
    }

    def check(selection_set: SelectionSetNode, seen: frozenset[str]) -> bool:
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                if selection.name.value not in INTROSPECTION_FIELDS:
                    return False
            elif isinstance(selection, InlineFragmentNode):
                if not check(selection.selection_set, seen):
                    return False
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                if name in seen or name not in fragments:
                    return False
                if not check(fragments[name].selection_set, seen | {name}):
                    return False
        return True

    return check(operation.selection_set, frozenset())
