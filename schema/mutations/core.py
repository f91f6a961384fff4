"""What every mutation shares: typed user errors, validation, and one savepoint per mutation.

A mutation either applies entirely or not at all: its work runs in a SAVEPOINT of the request's
transaction, and any user error, constraint violation, stale version or unexpected exception
rolls that savepoint back. Expected failures come back as `userErrors`; unexpected ones are
GraphQL errors (masked in production).
"""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import TypeVar
from uuid import UUID

import strawberry
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError

from schema.context import Info
from schema.errors import BadUserInput
from schema.node import from_global_id

T = TypeVar("T")


@strawberry.enum(description="Why a mutation's input was refused.")
class UserErrorCode(Enum):
    INVALID = "INVALID"
    NOT_FOUND = "NOT_FOUND"
    FORBIDDEN = "FORBIDDEN"
    CONFLICT = "CONFLICT"
    VERSION_MISMATCH = "VERSION_MISMATCH"


@strawberry.type(description="A problem with a mutation's input; nothing was changed.")
class UserError:
    field: list[str] | None = strawberry.field(
        description='Path to the input field at fault, e.g. ["input", "email"].'
    )
    message: str
    code: UserErrorCode


def user_error(
    path: str | None, message: str, code: UserErrorCode = UserErrorCode.INVALID
) -> UserError:
    return UserError(field=None if path is None else path.split("."), message=message, code=code)


class MutationFailed(Exception):
    """Raised inside a mutation to roll it back and answer with these user errors."""

    def __init__(self, *errors: UserError) -> None:
        super().__init__(errors[0].message if errors else "mutation failed")
        self.errors = list(errors)


def fail(
    path: str | None, message: str, code: UserErrorCode = UserErrorCode.INVALID
) -> MutationFailed:
    return MutationFailed(user_error(path, message, code))


def forbidden(message: str = "you may not do this") -> MutationFailed:
    return fail(None, message, UserErrorCode.FORBIDDEN)


def not_found(path: str, what: str) -> MutationFailed:
    return fail(path, f"no {what} with this id", UserErrorCode.NOT_FOUND)


@dataclass
class Checks:
    """Collects every problem of one input, so the client hears of all of them at once."""

    errors: list[UserError] = field(default_factory=list)

    def require(
        self, ok: bool, path: str, message: str, code: UserErrorCode = UserErrorCode.INVALID
    ) -> None:
        if not ok:
            self.errors.append(user_error(path, message, code))

    def length(self, value: str | None, path: str, *, low: int = 1, high: int) -> None:
        if value is None:
            return
        if "\x00" in value:  # PostgreSQL text cannot hold it: the client's error, not ours
            self.errors.append(user_error(path, "must not contain NUL characters"))
            return
        size = len(value.strip()) if low > 0 else len(value)
        self.require(low <= size <= high, path, f"must be {low}-{high} characters long")

    def apply(self, path: str, validate: Callable[[], object]) -> None:
        """Run a model-level validator (it raises ValueError) and record its complaint."""
        try:
            validate()
        except ValueError as error:
            self.errors.append(user_error(path, str(error)))

    def raise_if_any(self) -> None:
        if self.errors:
            raise MutationFailed(*self.errors)


def parse_id(checks: Checks, global_id: str | None, type_name: str, path: str) -> UUID | None:
    """The uuid of a global id of `type_name`, or None with an INVALID error recorded."""
    if global_id is None:
        return None
    try:
        kind, pk = from_global_id(global_id)
    except BadUserInput:
        checks.require(False, path, "is not a valid id")
        return None
    checks.require(kind == type_name, path, f"must be the id of a {type_name}")
    return pk if kind == type_name else None


# Constraint name -> (input field, code, message) for violations a client can cause.
ConstraintErrors = dict[str, tuple[str | None, UserErrorCode, str]]


def _constraint_error(error: IntegrityError, known: ConstraintErrors) -> UserError:
    constraint = getattr(getattr(error.orig, "__cause__", None), "constraint_name", None)
    if constraint in known:
        path, code, message = known[constraint]
        return user_error(path, message, code)
    text = str(error.orig)
    for name, (path, code, message) in known.items():
        if name in text:
            return user_error(path, message, code)
    return user_error(None, "the change conflicts with existing data", UserErrorCode.CONFLICT)


async def atomic(
    info: Info,
    work: Callable[[], Awaitable[T]],
    known: ConstraintErrors | None = None,
) -> T | list[UserError]:
    """Run `work` in a savepoint; return its result, or the user errors it ended with."""
    context = info.context
    context.loaders.clear()  # results of earlier fields may be stale after this write
    session = context.db.session
    try:
        async with session.begin_nested():
            return await work()
    except MutationFailed as failed:
        return failed.errors
    except IntegrityError as error:
        return [_constraint_error(error, known or {})]
    except StaleDataError:
        return [
            user_error(
                "input.expectedVersion",
                "the object was changed by someone else; reload it and try again",
                UserErrorCode.VERSION_MISMATCH,
            )
        ]
    finally:
        context.loaders.clear()
