"""What a refused mutation answers: typed user errors, and the exception that carries them."""

from enum import Enum

import strawberry


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
