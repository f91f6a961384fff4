"""Reading GraphQL requests from HTTP (the GraphQL-over-HTTP specification): GET or POST, JSON,
batches (a JSON array of requests), the body-size and batch limits, and which media type the
answer is written in.

What comes out are the request's parameters (`query`, `variables`, `operationName`,
`extensions`, `documentId`), still to be admitted (`gql_server.admission`); whatever is
malformed at the HTTP level becomes a `RequestError` with the status and code to answer with.
"""

from typing import Any

import orjson
from starlette.requests import Request

from gql_server.settings import Settings
from schema.limits import LimitCode

GRAPHQL_RESPONSE = "application/graphql-response+json"
JSON = "application/json"
Params = dict[str, Any]


class RequestError(Exception):
    def __init__(self, status: int, message: str, code: str, **extensions: Any) -> None:
        super().__init__(message)
        self.status, self.message, self.code = status, message, code
        self.extensions = extensions


class RequestReader:
    def __init__(self, settings: Settings) -> None:
        self.max_body_bytes = settings.max_body_bytes
        self.max_batch_size = settings.max_batch_size

    async def read(self, request: Request) -> Params | list[Params]:
        """One request's parameters, or a batch's (a JSON array), each still to be admitted."""
        if request.method == "GET":
            params: Params = dict(request.query_params)
            if isinstance(params.get("variables"), str):
                params["variables"] = _json(params["variables"], "variables")
            return params
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type not in (JSON, GRAPHQL_RESPONSE):
            raise RequestError(415, "send the request as application/json", "BAD_REQUEST")
        body = _json(await self._body(request), "body")
        if isinstance(body, list):
            return self._batch(body)
        if not isinstance(body, dict):
            raise RequestError(400, "the body must be a JSON object", "BAD_REQUEST")
        return body

    async def _body(self, request: Request) -> bytes:
        limit = self.max_body_bytes
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise self._too_large()
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise self._too_large()
            chunks.append(chunk)
        return b"".join(chunks)

    def _too_large(self) -> RequestError:
        limit = self.max_body_bytes
        return RequestError(
            413,
            f"the request body is larger than {limit} bytes",
            LimitCode.PAYLOAD_TOO_LARGE,
            limit=limit,
        )

    def _batch(self, operations: list[Any]) -> list[Params]:
        limit = self.max_batch_size
        if not operations or not all(isinstance(item, dict) for item in operations):
            raise RequestError(
                400, "a batch is an array of one or more JSON objects", "BAD_REQUEST"
            )
        if len(operations) > limit:
            raise RequestError(
                400,
                f"a batch may hold {limit} operations, this one has {len(operations)}",
                LimitCode.BATCH_LIMIT_EXCEEDED,
                limit=limit,
            )
        return operations


def response_media_type(accept: str | None) -> str | None:
    """The media type to answer in, from the request's `Accept`; None when it accepts neither.

    `application/graphql-response+json` when the client lists it; `application/json` when it
    lists that, a wildcard, or nothing (clients older than the specification's new type).
    """
    if not accept:
        return JSON
    accepted = set()
    for item in accept.split(","):
        media_type, *parameters = (part.strip().lower() for part in item.split(";"))
        if any(
            parameter.replace(" ", "") in ("q=0", "q=0.0", "q=0.00", "q=0.000")
            for parameter in parameters
        ):
            continue
        accepted.add(media_type)
    if GRAPHQL_RESPONSE in accepted:
        return GRAPHQL_RESPONSE
    if accepted & {JSON, "application/*", "*/*"}:
        return JSON
    return None


def _refused(parameter: str) -> bool:
    """`q=0`: the client does not accept that type."""
    name, _, value = parameter.replace(" ", "").partition("=")
    try:
        return name == "q" and float(value) == 0
    except ValueError:
        return False


def _json(raw: str | bytes, what: str) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise RequestError(400, f"the {what} is not valid JSON", "BAD_REQUEST") from None
