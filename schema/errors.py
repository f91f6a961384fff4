"""Error codes clients can rely on, carried in `errors[].extensions.code`."""

from enum import StrEnum

from graphql import GraphQLError


class ErrorCode(StrEnum):
    BAD_USER_INPUT = "BAD_USER_INPUT"
    UNAUTHENTICATED = "UNAUTHENTICATED"
    INTERNAL_SERVER_ERROR = "INTERNAL_SERVER_ERROR"
    CURSOR_EXPIRED = "CURSOR_EXPIRED"  # a subscription's `after` is past the event retention


class BadUserInput(GraphQLError):
    def __init__(self, message: str, **extensions: object) -> None:
        super().__init__(message, extensions={"code": ErrorCode.BAD_USER_INPUT.value, **extensions})
