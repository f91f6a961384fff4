"""Every error of an executed operation classified once, for every transport.

- Expected errors carry their code already: bad input (`BAD_USER_INPUT`), credentials
  (`UNAUTHENTICATED`), refusals of the door. They are the client's, answered and not logged.
- A statement cancelled by `statement_timeout` is `TIMEOUT`; a transaction the database rolled
  back for a conflict with another (serialization failure, deadlock) `TRANSACTION_CONFLICT`,
  which the client may send again (`gql_server.unavailable.classify` names database errors).
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

from gql_server.unavailable import DatabaseFailure, classify
from gql_server.variables import in_graphql_terms
from schema.errors import ErrorCode
from schema.limits import LimitCode

log = logging.getLogger(__name__)

CONFLICT_MESSAGE = "the request conflicted with another one at the same time; send it again"
# HTTP statuses of a database error that failed the request as a whole (its transaction).
_REQUEST_STATUS = {
    DatabaseFailure.UNAVAILABLE: 503,
    DatabaseFailure.TIMEOUT: 504,
    DatabaseFailure.CONFLICT: 409,
    DatabaseFailure.STATEMENT: 500,
}
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
        failure = classify(original)
        if failure is DatabaseFailure.TIMEOUT:
            log.warning("statement timeout in %s", error.path)
            return _formatted(error, LimitCode.TIMEOUT, self.timeout_message)
        if failure is DatabaseFailure.CONFLICT:
            return _formatted(error, failure, CONFLICT_MESSAGE)
        return self._internal(error, request_id)

    @property
    def timeout_message(self) -> str:
        return f"the request took longer than its time limit ({self.statement_timeout_ms} ms)"

    def request_failure(self, error: BaseException, request_id: str) -> tuple[int, dict[str, Any]]:
        """A database error that failed the whole request (its transaction's set-up or commit,
        outside any field): its HTTP status and JSON body, classified as in a field."""
        failure = classify(error) or DatabaseFailure.STATEMENT
        if failure is DatabaseFailure.STATEMENT:
            log.error("database error outside the operation's fields", exc_info=error)
        message = {
            DatabaseFailure.UNAVAILABLE: "the database is unavailable; try again shortly",
            DatabaseFailure.TIMEOUT: self.timeout_message,
            DatabaseFailure.CONFLICT: CONFLICT_MESSAGE,
        }.get(failure, "internal server error" if self.production else str(error))
        extensions: dict[str, Any] = {"code": str(failure)}
        if failure is DatabaseFailure.STATEMENT:
            extensions["requestId"] = request_id
        body = {"errors": [{"message": message, "extensions": extensions}]}
        return _REQUEST_STATUS[failure], body

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
