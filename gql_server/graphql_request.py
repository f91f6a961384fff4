"""Reading a GraphQL request from HTTP: GET or POST, JSON, batches, persisted documents.

What comes out is a `GraphQLRequest` (or a batch of raw ones, read one by one later), and the
parsed document, cached by query text; whatever is malformed becomes a `RequestError` with the
HTTP status and code the endpoint answers with.
"""

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import orjson
from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    parse,
)
from starlette.requests import Request

from gql_server import limits, persisted
from gql_server.observability import count_rejection

INTROSPECTION_FIELDS = frozenset({"__schema", "__type", "__typename"})


class RequestError(Exception):
    def __init__(self, status: int, message: str, code: str) -> None:
        super().__init__(message)
        self.status, self.message, self.code = status, message, code


@dataclass(frozen=True, slots=True)
class GraphQLRequest:
    query: str
    variables: dict[str, Any] | None
    operation_name: str | None


@lru_cache(maxsize=1024)
def parse_document(query: str, max_tokens: int | None = None) -> DocumentNode:
    # Comments are not tokens; they get a budget of their own, as large.
    return parse(query, max_lexical_tokens=max_tokens, max_comments=max_tokens)


async def read_request(
    request: Request, request_limits: limits.Limits
) -> GraphQLRequest | list[Any]:
    """One operation, or a batch (a JSON array) of them, still to be read one by one."""
    if request.method == "GET":
        params: dict[str, Any] = dict(request.query_params)
        if isinstance(params.get("variables"), str):
            params["variables"] = _json(params["variables"], "variables")
    else:
        content_type = request.headers.get("content-type", "")
        if not content_type.startswith(("application/json", "application/graphql-response+json")):
            raise RequestError(415, "send the request as application/json", "BAD_REQUEST")
        params = _json(await request_limits.read_body(request), "body")
        if isinstance(params, list):
            return request_limits.batch(params)
    return await to_graphql_request(request, params)


async def to_graphql_request(request: Request, params: Any) -> GraphQLRequest:
    if not isinstance(params, dict):
        raise RequestError(400, "the body must be a JSON object", "BAD_REQUEST")
    try:
        params["query"] = await persisted.resolve(request, params)
    except persisted.Refused as refused:
        count_rejection(refused.code.lower())
        raise RequestError(refused.status, refused.message, refused.code) from None
    query, variables, name = (
        params.get("query"),
        params.get("variables"),
        params.get("operationName"),
    )
    if not isinstance(query, str) or not query.strip():
        raise RequestError(400, "`query` must be a non-empty string", "BAD_REQUEST")
    if variables is not None and not isinstance(variables, dict):
        raise RequestError(400, "`variables` must be an object", "BAD_REQUEST")
    if name is not None and not isinstance(name, str):
        raise RequestError(400, "`operationName` must be a string", "BAD_REQUEST")
    return GraphQLRequest(query, variables, name)


def _json(raw: str | bytes, what: str) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise RequestError(400, f"the {what} is not valid JSON", "BAD_REQUEST") from None


def only_introspection(document: DocumentNode, operation: OperationDefinitionNode) -> bool:
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
