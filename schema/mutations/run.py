"""How every mutation runs: in a savepoint, with its expected failures answered as `userErrors`.

A mutation either applies entirely or not at all: its work runs in a SAVEPOINT of the request's
transaction, and any user error, constraint violation, stale version or unexpected exception
rolls that savepoint back. Expected failures come back in the payload's `userErrors`; unexpected
ones are GraphQL errors (masked in production). A mutation is written as one function from its
input to its payload (`perform`); `mutation(perform)` makes it a field of the schema.

A mutation that only sends statements (rows in, rows back: no ORM object it adds or changes)
says so with `unit_of_work=False`, and its savepoint is a plain one rather than the ORM's nested
transaction (`loaders.session`): far cheaper, for the mutations clients send most.
"""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar, get_type_hints

import strawberry
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError

from schema.context import Context, Info
from schema.mutations.user_errors import MutationFailed, UserError, UserErrorCode, user_error

Payload = TypeVar("Payload")
Payload_co = TypeVar("Payload_co", covariant=True)

# Constraint name -> (input field, code, message) for violations a client can cause.
ConstraintErrors = dict[str, tuple[str | None, UserErrorCode, str]]


class Refused(Protocol[Payload_co]):
    """A payload type, built with only its user errors when the mutation is refused."""

    def __call__(self, *, user_errors: list[UserError]) -> Payload_co: ...


def _constraint_error(error: IntegrityError, known: ConstraintErrors) -> UserError:
    # asyncpg's error: the cause of the session's, or itself from a statement sent directly.
    constraint = getattr(error.orig, "constraint_name", None) or getattr(
        getattr(error.orig, "__cause__", None), "constraint_name", None
    )
    if constraint in known:
        path, code, message = known[constraint]
        return user_error(path, message, code)
    text = str(error.orig)
    for name, (path, code, message) in known.items():
        if name in text:
            return user_error(path, message, code)
    return user_error(None, "the change conflicts with existing data", UserErrorCode.CONFLICT)


async def run_mutation(
    context: Context,
    refused: Refused[Payload],
    perform: Callable[[], Awaitable[Payload]],
    known: ConstraintErrors | None = None,
    *,
    unit_of_work: bool = True,
) -> Payload:
    """`perform`'s payload, or `refused(user_errors=...)` with its work rolled back."""
    loaders = context.loaders
    loaders.clear()  # results of earlier fields may be stale after this write
    try:
        async with context.db.savepoint(orm=unit_of_work):
            return await perform()
    except MutationFailed as failed:
        return refused(user_errors=failed.errors)
    except IntegrityError as error:
        return refused(user_errors=[_constraint_error(error, known or {})])
    except StaleDataError:
        stale = user_error(
            "input.expectedVersion",
            "the object was changed by someone else; reload it and try again",
            UserErrorCode.VERSION_MISMATCH,
        )
        return refused(user_errors=[stale])
    finally:
        loaders.clear()


@dataclass(frozen=True, slots=True)
class Performed:
    """What a mutation field runs, for whichever execution runs it: `perform(context, input)`,
    with its payload type (which also answers a refusal), its known constraints and whether
    it uses the unit of work."""

    perform: Callable[[Context, Any], Awaitable[Any]]
    payload: Any
    known: ConstraintErrors | None
    unit_of_work: bool = True

    async def __call__(self, context: Context, input: Any) -> Any:
        return await run_mutation(
            context,
            self.payload,
            lambda: self.perform(context, input),
            self.known,
            unit_of_work=self.unit_of_work,
        )


# The key of a mutation field's `Performed` in its Strawberry field's metadata.
PERFORMED = "performed"


def mutation(
    perform: Callable[[Context, Any], Awaitable[Any]],
    known: ConstraintErrors | None = None,
    *,
    description: str | None = None,
    unit_of_work: bool = True,
) -> Any:
    """A mutation field from `perform(context, input) -> Payload`, run by `run_mutation`.

    The field takes its argument and its type from `perform`'s signature; the payload type is
    also what answers a refusal, so `perform` only builds the payload of a success.
    `unit_of_work=False`: `perform` adds, flushes and changes no ORM object (see the module's
    note).
    """
    hints = get_type_hints(perform)
    performed = Performed(perform, hints["return"], known, unit_of_work)

    async def resolve(info: Info, input: Any) -> Any:
        return await performed(info.context, input)

    # The field's argument and type are `perform`'s; Strawberry reads them here.
    resolve.__name__ = perform.__name__
    resolve.__annotations__ = {"info": Info, "input": hints["input"], "return": hints["return"]}

    return strawberry.mutation(
        resolver=resolve, description=description, metadata={PERFORMED: performed}
    )
