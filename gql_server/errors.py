"""Every error of an executed operation classified once, for every transport.

- Expected errors carry their code already: bad input (`BAD_USER_INPUT`), credentials
  (`UNAUTHENTICATED`), refusals of the door. They are the client's, answered and not logged.
- A statement cancelled by `statement_timeout` is `TIMEOUT`.
- Anything else is a bug: `INTERNAL_SERVER_ERROR`, logged here exactly once with its traceback and
  the request id, which the answer quotes (`extensions.requestId`) so a user's report finds the
  log lines; its message is masked in production.
(A database that cannot be reached is no error of the operation at all: the transport answers
it as a whole, HTTP 503; see `gql_server.unavailable`.)
"""

import logging
import re
from typing import Any

from graphql import GraphQLError

from gql_server.variables import in_graphql_terms
from schema.errors import ErrorCode
from schema.limits import LimitCode

log = logging.getLogger(__name__)

QUERY_CANCELED = "57014"  # SQLSTATE of a statement cancelled, by statement_timeout among others
_SUGGESTION = re.compile(r"\s*Did you mean [^?]*\?")
# graphql-core's own words for an argument it could not coerce while executing: the client's.
_ARGUMENT_COERCION = re.compile(r"^Argument '[^']+' (has invalid value|of required type)")


class ErrorFormatter:
    def __init__(self, *, production: bool, statement_timeout_ms: int) -> None:
        self.production = production
        self.statement_timeout_ms = statement_timeout_ms

    def format(self, errors: list[GraphQLError], request_id: str) -> list[dict[str, Any]]:
        return [self.format_one(error, request_id) for error in errors]

    def format_one(self, error: GraphQLError, request_id: str) -> dict[str, Any]:
        original = error.original_error
        if original is None or isinstance(original, GraphQLError):
            code = (error.extensions or {}).get("code")
            if code is None:
                code = (
                    ErrorCode.BAD_USER_INPUT
                    if _ARGUMENT_COERCION.match(error.message)
                    else ErrorCode.INTERNAL_SERVER_ERROR
                    if error.path is not None
                    else "GRAPHQL_VALIDATION_FAILED"
                )
            if code == ErrorCode.INTERNAL_SERVER_ERROR:
                return self._internal(error, request_id)
            message = in_graphql_terms(error.message)
            if self.production:  # "Did you mean ...?" would show the schema to whoever guesses
                message = _SUGGESTION.sub("", message)
            return _formatted(error, code, message)
        if is_timeout(original):
            log.warning("statement timeout in %s", error.path)
            message = (
                f"the request took longer than its time limit ({self.statement_timeout_ms} ms)"
            )
            return _formatted(error, LimitCode.TIMEOUT, message)
        return self._internal(error, request_id)

    def _internal(self, error: GraphQLError, request_id: str) -> dict[str, Any]:
        cause = error.original_error or error
        log.error("unexpected error in %s", error.path, exc_info=cause)
        message = "internal server error" if self.production else error.message
        formatted = _formatted(error, ErrorCode.INTERNAL_SERVER_ERROR, message)
        formatted["extensions"]["requestId"] = request_id
        return formatted


def _formatted(error: GraphQLError, code: str, message: str) -> dict[str, Any]:
    formatted: dict[str, Any] = dict(error.formatted)
    formatted["message"] = message
    formatted["extensions"] = {**(formatted.get("extensions") or {}), "code": str(code)}
    return formatted


def is_timeout(error: BaseException | None) -> bool:
    """A statement cancelled by `statement_timeout`, as asyncpg raised it or SQLAlchemy wraps it."""
    for _ in range(8):  # DBAPIError -> the adapter's error -> asyncpg's, at most
        if error is None:
            return False
        if getattr(error, "sqlstate", None) == QUERY_CANCELED:
            return True
        error = getattr(error, "orig", None) or error.__cause__
    return False
