"""A provider's identity matched to its user: the organization it names, then the user whose
`external_id` is the token's subject in that organization; created at first sign-in when the
provider's `create_users` says so, otherwise refused with a message saying how to link one.

One short transaction, run once per token (`gql_server.authenticator` keeps the answer): the
organization is read by `organization_for_sign_in` (migration 0006) under the row-level security
of organizations, then the tenant's own session reads, or writes, the user. A user created here
gets the role the token maps to (STUDENT when none), its email, name and a username made from the
token's; from then on the database's role is the user's role, whatever later tokens say.
"""

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from uuid import UUID, uuid4

from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gql_server import unavailable
from gql_server.auth import Claims, Unauthenticated
from gql_server.citus import CITUS
from gql_server.identity import Identity
from gql_server.providers import SLUG, is_uuid
from gql_server.tenancy import begin_tenant
from loaders import INCLUDE_DELETED
from models import User, normalize_email
from models.user import FULL_NAME_MAX, USERNAME_MAX

_ORGANIZATION = text("select id, slug from organization_for_sign_in(:ref, :by_slug)")
_NOT_A_USERNAME = re.compile(r"[^a-z0-9_.-]+")
EMAIL_TAKEN = "uq_users_organization_id_email"
USERNAME_TAKEN = "uq_users_organization_id_username"
ATTEMPTS = 3


async def user_of(
    sessionmaker: async_sessionmaker[AsyncSession], identity: Identity, statement_timeout_ms: int
) -> Claims:
    """The claims a request is scoped by, for `identity`; Unauthenticated with the reason."""
    provider = identity.provider
    if not identity.by_slug and not is_uuid(identity.organization):
        raise Unauthenticated(f"the token's organization is not an id: {identity.organization!r}")
    # Before any lookup: an issuer learns nothing of the organizations it does not sign in to.
    allowed = provider.tenants
    if allowed is not None and identity.organization not in allowed:
        raise Unauthenticated(
            f"{provider.issuer} does not sign in to organization {identity.organization!r}"
        )
    if identity.by_slug and not SLUG.fullmatch(identity.organization):
        raise Unauthenticated(f"no organization {identity.organization!r}")
    async with unavailable.reaching_database(partial(_transaction, sessionmaker)) as session:
        connection = await session.connection()
        if connection.info.get(CITUS):  # the workers see only SET LOCAL (gql_server.citus)
            setting = "app.tenant_slug" if identity.by_slug else "app.tenant_id"
            value = identity.organization if identity.by_slug else str(UUID(identity.organization))
            await session.execute(text(f"set local {setting} = '{value}'"))  # checked above
        found = await session.execute(
            _ORGANIZATION, {"ref": identity.organization, "by_slug": identity.by_slug}
        )
        organization = found.one_or_none()
        if organization is None:
            raise Unauthenticated(f"no organization {identity.organization!r}")
        await begin_tenant(
            session,
            organization.id,
            read_only=not provider.create_users,
            statement_timeout_ms=statement_timeout_ms,
        )
        user_id = await _find(session, identity) or await _create(session, identity)
    return Claims(
        user_id=user_id,
        organization_id=organization.id,
        expires_at=identity.expires_at,
    )


@asynccontextmanager
async def _transaction(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> AsyncIterator[AsyncSession]:
    async with sessionmaker() as session, session.begin():
        yield session


async def _find(session: AsyncSession, identity: Identity) -> UUID | None:
    # Deleted users count: a deleted user's subject signs in no more, and gets no new row.
    statement = select(User.id, User.deleted_at).where(User.external_id == identity.subject)
    row = (await session.execute(statement.execution_options(**{INCLUDE_DELETED: True}))).first()
    if row is None:
        return None
    if row.deleted_at is not None:
        raise Unauthenticated("the user is not active in this organization")
    user_id: UUID = row.id
    return user_id


async def _create(session: AsyncSession, identity: Identity) -> UUID:
    provider = identity.provider
    if not provider.create_users:
        raise Unauthenticated(
            f"no user of this organization signs in as {identity.subject!r} at"
            f" {provider.issuer}: an admin gives a user that externalId, or the provider's"
            " create_users setting creates one at first sign-in"
        )
    if identity.email is None:
        raise Unauthenticated("a first sign-in needs the token's email, and it carries none")
    try:
        email = normalize_email(identity.email)
    except ValueError as error:
        raise Unauthenticated(f"a first sign-in needs a valid email: {error}") from None
    for _ in range(ATTEMPTS):
        username = await _free_username(session, identity, email)
        user_id = uuid4()
        user = User(
            id=user_id,
            email=email,
            username=username,
            full_name=(identity.name or username)[:FULL_NAME_MAX],
            role=identity.role,
            external_id=identity.subject,
            created_by=user_id,
            updated_by=user_id,
        )
        try:
            async with session.begin_nested():
                session.add(user)
        except IntegrityError as error:
            # Another first request of the same user may have created it meanwhile (its email
            # and username collide too, in whichever order the constraints are checked).
            if (found := await _find(session, identity)) is not None:
                return found
            if EMAIL_TAKEN in str(error.orig):
                raise Unauthenticated(
                    f"a user with the email {email} already exists in this organization, not"
                    " linked to this sign-in: an admin links it by giving it this externalId"
                ) from None
            if USERNAME_TAKEN not in str(error.orig):
                raise
            continue  # someone else's first sign-in took the username: number it anew
        return user_id
    raise Unauthenticated("the user could not be created; try again")


async def _free_username(session: AsyncSession, identity: Identity, email: str) -> str:
    """The token's username (or the email's local part) as a valid one, numbered if taken."""
    base = _NOT_A_USERNAME.sub("-", (identity.username or email.split("@")[0]).lower())
    base = base.strip("-_.")[: USERNAME_MAX - 4] or "user"
    if len(base) < 2:
        base = f"user-{base}"
    statement = select(User.username).where(User.username.startswith(base, autoescape=True))
    taken = set(
        (await session.scalars(statement.execution_options(**{INCLUDE_DELETED: True}))).all()
    )
    for number in range(1, 1000):
        candidate = base if number == 1 else f"{base}-{number}"
        if candidate not in taken:
            return candidate
    return f"{base[: USERNAME_MAX - 9]}-{uuid4().hex[:8]}"
