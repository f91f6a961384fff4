"""User mutations: admins create, change and deactivate users; everyone edits its own profile.

An admin may not demote, suspend or deactivate itself: an organization must not lock itself out
by accident. Profiles are upserted, so editing one that was never written creates it.
"""

import re
from typing import Any

import strawberry
from sqlalchemy import func, or_, select
from sqlalchemy.dialects.postgresql import insert
from strawberry.scalars import JSON

import models
from loaders import INCLUDE_DELETED
from models.user import EXTERNAL_ID_MAX, FULL_NAME_MAX, USERNAME_PATTERN
from schema.context import Context
from schema.filters import Role, UserStatus
from schema.mutations.checks import Checks, given
from schema.mutations.rows import Lock, find
from schema.mutations.run import ConstraintErrors, mutation
from schema.mutations.user_errors import UserError, UserErrorCode, forbidden
from schema.policy import Action, may
from schema.user import User, UserProfile

BIO_MAX = 5000
PREFERENCES_MAX_BYTES = 16_384

EMAIL_TAKEN = "a user with this email already exists"
USERNAME_TAKEN = "this username is taken"
EXTERNAL_ID_TAKEN = "another user of the organization already signs in with this externalId"
EXTERNAL_ID = (
    "The user's subject (`sub`) at the organization's identity provider: its tokens sign in as"
    " this user. Unique in the organization."
)

KNOWN: ConstraintErrors = {
    "uq_users_organization_id_email": ("input.email", UserErrorCode.CONFLICT, EMAIL_TAKEN),
    "uq_users_organization_id_username": (
        "input.username",
        UserErrorCode.CONFLICT,
        USERNAME_TAKEN,
    ),
    "uq_users_organization_id_external_id": (
        "input.externalId",
        UserErrorCode.CONFLICT,
        EXTERNAL_ID_TAKEN,
    ),
    "fk_user_profiles_organization_id_user_id_users": (
        "input.userId",
        UserErrorCode.NOT_FOUND,
        "no user with this id",
    ),
}


@strawberry.type
class CreateUserPayload:
    user: User | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class UpdateUserPayload:
    user: User | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class DeactivateUserPayload:
    user: User | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class UpdateProfilePayload:
    profile: UserProfile | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.input
class CreateUserInput:
    email: str = strawberry.field(description="Stored lower-cased; unique in the organization.")
    username: str = strawberry.field(
        description="2-40 of a-z, 0-9, '_', '.', '-'; unique in the organization."
    )
    full_name: str
    role: Role
    external_id: str | None = strawberry.field(default=None, description=EXTERNAL_ID)


@strawberry.input(description="Fields left out stay as they are.")
class UpdateUserInput:
    id: strawberry.ID
    role: Role | None = strawberry.UNSET
    status: UserStatus | None = strawberry.UNSET
    full_name: str | None = strawberry.UNSET
    external_id: str | None = strawberry.field(
        default=strawberry.UNSET, description=f"{EXTERNAL_ID} Null unlinks the user."
    )


@strawberry.input
class DeactivateUserInput:
    id: strawberry.ID


@strawberry.input(
    description="Fields left out stay as they are; null clears `bio` or `avatarUrl`."
    " `preferences` replaces the whole object."
)
class UpdateProfileInput:
    user_id: strawberry.ID | None = strawberry.field(
        default=None, description="Whose profile: the viewer's when left out."
    )
    bio: str | None = strawberry.UNSET
    avatar_url: str | None = strawberry.UNSET
    preferences: JSON | None = strawberry.UNSET


def _manage_users(context: Context) -> None:
    if not may(context.viewer, Action.MANAGE_USERS):
        raise forbidden("only admins manage users")


def _email(checks: Checks, value: str) -> str:
    try:
        return models.normalize_email(value)
    except ValueError as error:
        checks.require(False, "input.email", str(error))
        return value


def _check_external_id(checks: Checks, value: str | None) -> None:
    if value is not None and given(value):
        checks.length(value, "input.externalId", high=EXTERNAL_ID_MAX)


def _check_username(checks: Checks, value: str) -> None:
    checks.require(
        re.fullmatch(USERNAME_PATTERN, value) is not None,
        "input.username",
        "must be 2-40 characters of a-z, 0-9, '_', '.', '-', starting with a letter or digit",
    )


async def _refuse_taken(context: Context, *, email: str, username: str) -> None:
    """Both conflicts at once; under concurrency the unique constraints still decide."""
    statement = select(models.User.email, models.User.username).where(
        or_(models.User.email == email, models.User.username == username)
    )
    # Deleted users keep their email and username: the constraints count them too.
    taken = await context.db.all(statement, **{INCLUDE_DELETED: True})
    checks = Checks()
    conflict = UserErrorCode.CONFLICT
    checks.require(all(row.email != email for row in taken), "input.email", EMAIL_TAKEN, conflict)
    checks.require(
        all(row.username != username for row in taken), "input.username", USERNAME_TAKEN, conflict
    )
    checks.raise_if_any()


async def _create(context: Context, input: CreateUserInput) -> CreateUserPayload:
    _manage_users(context)
    checks = Checks()
    email = _email(checks, input.email)
    _check_username(checks, input.username)
    checks.length(input.full_name, "input.fullName", high=FULL_NAME_MAX)
    _check_external_id(checks, input.external_id)
    checks.raise_if_any()
    await _refuse_taken(context, email=email, username=input.username)
    user = models.User(
        email=email,
        username=input.username,
        full_name=input.full_name,
        role=models.Role(input.role),
        status=models.UserStatus.ACTIVE,
        external_id=input.external_id,
    )
    context.db.add(user)
    await context.db.flush()
    return CreateUserPayload(user=User.from_row(user))


async def _update(context: Context, input: UpdateUserInput) -> UpdateUserPayload:
    _manage_users(context)
    viewer = context.viewer
    checks = Checks()
    pk = checks.id(input.id, "User", "input.id")
    for value, path in (
        (input.role, "input.role"),
        (input.status, "input.status"),
        (input.full_name, "input.fullName"),
    ):
        checks.require(value is not None, path, "must not be null")
    if given(input.full_name):
        checks.length(input.full_name, "input.fullName", high=FULL_NAME_MAX)
    _check_external_id(checks, input.external_id)
    if pk == viewer.id:
        checks.require(
            input.role in (strawberry.UNSET, None, models.Role.ADMIN),
            "input.role",
            "admins may not demote themselves",
        )
        checks.require(
            input.status in (strawberry.UNSET, None, models.UserStatus.ACTIVE),
            "input.status",
            "admins may not suspend or deactivate themselves",
        )
    checks.raise_if_any()
    user = await find(context, models.User, pk, "input.id", lock=Lock.UPDATE)
    if input.role is not None and given(input.role):
        user.role = models.Role(input.role)
    if input.status is not None and given(input.status):
        user.status = models.UserStatus(input.status)
    if input.full_name is not None and given(input.full_name):
        user.full_name = input.full_name
    if given(input.external_id):
        user.external_id = input.external_id
    await context.db.flush()
    return UpdateUserPayload(user=User.from_row(user))


async def _deactivate(context: Context, input: DeactivateUserInput) -> DeactivateUserPayload:
    _manage_users(context)
    checks = Checks()
    pk = checks.id(input.id, "User", "input.id")
    checks.require(pk != context.viewer.id, "input.id", "admins may not deactivate themselves")
    checks.raise_if_any()
    user = await find(context, models.User, pk, "input.id", lock=Lock.UPDATE)
    if user.status is not models.UserStatus.DEACTIVATED:
        user.status = models.UserStatus.DEACTIVATED
        await context.db.flush()
    return DeactivateUserPayload(user=User.from_row(user))


async def _update_profile(context: Context, input: UpdateProfileInput) -> UpdateProfilePayload:
    viewer = context.viewer
    checks = Checks()
    target = (
        viewer.id if input.user_id is None else checks.id(input.user_id, "User", "input.userId")
    )
    if input.bio is not None and given(input.bio):
        checks.length(input.bio, "input.bio", low=0, high=BIO_MAX)
    if input.avatar_url is not None and given(input.avatar_url):
        checks.url(input.avatar_url, "input.avatarUrl")
    if given(input.preferences):
        checks.json_object(input.preferences, "input.preferences", max_bytes=PREFERENCES_MAX_BYTES)
    checks.raise_if_any()
    if not may(viewer, Action.EDIT_PROFILE, target):
        raise forbidden("only the user or an admin may edit this profile")
    await find(context, models.User, target, "input.userId")

    changes: dict[str, Any] = {}
    if given(input.bio):
        changes["bio"] = input.bio
    if given(input.avatar_url):
        changes["avatar_url"] = input.avatar_url
    if given(input.preferences):
        changes["preferences"] = input.preferences
    # now() in the values rather than in DO UPDATE, where Citus refuses any function not
    # immutable.
    values = {"user_id": target, "updated_at": func.now(), **changes}
    statement = insert(models.UserProfile).values(
        models.stamped(models.UserProfile, values, viewer.organization_id, viewer.id)
    )
    # One statement whether or not the profile exists; a concurrent first edit cannot collide.
    statement = statement.on_conflict_do_update(
        index_elements=[models.UserProfile.organization_id, models.UserProfile.user_id],
        set_={
            **{name: statement.excluded[name] for name in changes},
            "updated_at": statement.excluded.updated_at,
        },
    )
    profile = await context.db.scalar(
        statement.returning(models.UserProfile), populate_existing=True
    )
    return UpdateProfilePayload(profile=UserProfile.from_row(profile))


@strawberry.type
class UserMutations:
    create_user = mutation(
        _create, KNOWN, description="Add a user to the organization (admins only)."
    )
    update_user = mutation(
        _update,
        KNOWN,
        description="Change a user's role, status, name or externalId (admins only).",
    )
    deactivate_user = mutation(
        _deactivate,
        KNOWN,
        description="Set a user's status to DEACTIVATED: it can no longer sign in (admins only).",
    )
    update_profile = mutation(
        _update_profile,
        KNOWN,
        description="Edit a profile (the viewer's own, or any as an admin); creates it if missing.",
    )
