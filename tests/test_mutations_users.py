"""User and profile mutations through the real app: validation, conflicts, permissions, tenants."""

from dataclasses import dataclass
from typing import Any
from uuid import UUID

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import models
from gql_server.settings import Settings
from gql_server.tenancy import tenant_session
from schema.mutations.checks import URL_MAX
from schema.mutations.user import BIO_MAX
from schema.node import from_global_id, to_global_id
from tests.api import gql, token_for
from tests.factories import count_rows, make_org, make_profile, make_user

Sessionmaker = async_sessionmaker[AsyncSession]

USER = "user { id email username fullName role status }"
PROFILE = "profile { bio avatarUrl preferences user { id } }"
ERRORS = "userErrors { field message code }"


@dataclass
class World:
    org: models.Organization
    admin: models.User
    instructor: models.User
    student: models.User


async def make_world(sessionmaker: Sessionmaker) -> World:
    org = await make_org(sessionmaker)
    async with tenant_session(sessionmaker, org.id) as db:
        admin = await make_user(db, role=models.Role.ADMIN)
        instructor = await make_user(db, role=models.Role.INSTRUCTOR)
        student = await make_user(db)
    return World(org, admin, instructor, student)


def gid(user: models.User) -> str:
    return to_global_id("User", user.id)


class Api:
    def __init__(self, client: httpx.AsyncClient, settings: Settings) -> None:
        self.client, self.settings = client, settings

    async def __call__(
        self, user: models.User, name: str, data: dict[str, Any], selection: str = USER
    ) -> dict[str, Any]:
        kind = name[0].upper() + name[1:]
        query = (
            f"mutation($input: {kind}Input!) {{ {name}(input: $input) {{ {selection} {ERRORS} }} }}"
        )
        response = await gql(
            self.client, query, {"input": data}, token=token_for(self.settings, user)
        )
        payload: dict[str, Any] = response.data[name]
        return payload


@pytest.fixture
def api(client: httpx.AsyncClient, settings: Settings) -> Api:
    return Api(client, settings)


def errors(payload: dict[str, Any]) -> list[tuple[list[str] | None, str]]:
    return sorted(
        ((error["field"], error["code"]) for error in payload["userErrors"]),
        key=lambda error: (error[0] or [], error[1]),
    )


async def user_row(sessionmaker: Sessionmaker, user_id: UUID) -> Any:
    async with sessionmaker() as session:
        result = await session.execute(text("select * from users where id = :id"), {"id": user_id})
        return result.one()


async def profile_row(sessionmaker: Sessionmaker, user_id: UUID) -> Any:
    async with sessionmaker() as session:
        result = await session.execute(
            text("select * from user_profiles where user_id = :id"), {"id": user_id}
        )
        return result.one_or_none()


def new_user(**fields: str) -> dict[str, str]:
    return {
        "email": "Ada.Lovelace@Example.COM",
        "username": "ada",
        "fullName": "Ada Lovelace",
        "role": "INSTRUCTOR",
        **fields,
    }


async def test_create_user(sessionmaker: Sessionmaker, api: Api) -> None:
    w = await make_world(sessionmaker)
    payload = await api(w.admin, "createUser", new_user())
    assert payload["userErrors"] == []
    user = payload["user"]
    assert {key: value for key, value in user.items() if key != "id"} == {
        "email": "ada.lovelace@example.com",
        "username": "ada",
        "fullName": "Ada Lovelace",
        "role": "INSTRUCTOR",
        "status": "ACTIVE",
    }
    row = await user_row(sessionmaker, from_global_id(user["id"])[1])
    assert (row.organization_id, row.created_by, row.updated_by) == (
        w.org.id,
        w.admin.id,
        w.admin.id,
    )


async def test_create_user_reports_every_invalid_field(
    sessionmaker: Sessionmaker, api: Api
) -> None:
    w = await make_world(sessionmaker)
    payload = await api(
        w.admin,
        "createUser",
        new_user(email="not an email", username="Ada Lovelace", fullName="   "),
    )
    assert payload["user"] is None
    assert errors(payload) == [
        (["input", "email"], "INVALID"),
        (["input", "fullName"], "INVALID"),
        (["input", "username"], "INVALID"),
    ]
    assert await count_rows(sessionmaker, "users", w.org.id) == 3


async def test_duplicate_email_and_username_conflict(sessionmaker: Sessionmaker, api: Api) -> None:
    w = await make_world(sessionmaker)
    assert (await api(w.admin, "createUser", new_user()))["userErrors"] == []
    both = await api(w.admin, "createUser", new_user(email="ADA.lovelace@example.com"))
    assert errors(both) == [(["input", "email"], "CONFLICT"), (["input", "username"], "CONFLICT")]
    # Another organization may use the same email and username.
    elsewhere = await make_world(sessionmaker)
    assert (await api(elsewhere.admin, "createUser", new_user()))["userErrors"] == []
    assert await count_rows(sessionmaker, "users", w.org.id) == 4


async def test_only_admins_manage_users(sessionmaker: Sessionmaker, api: Api) -> None:
    w = await make_world(sessionmaker)
    for user in (w.student, w.instructor):
        create = await api(user, "createUser", new_user())
        update = await api(user, "updateUser", {"id": gid(w.student), "role": "ADMIN"})
        deactivate = await api(user, "deactivateUser", {"id": gid(w.admin)})
        for payload in (create, update, deactivate):
            assert (payload["user"], errors(payload)) == (None, [(None, "FORBIDDEN")])
    assert await count_rows(sessionmaker, "users", w.org.id) == 3
    assert (await user_row(sessionmaker, w.student.id)).role == "STUDENT"
    assert (await user_row(sessionmaker, w.admin.id)).status == "ACTIVE"


async def test_update_user(sessionmaker: Sessionmaker, api: Api) -> None:
    w = await make_world(sessionmaker)
    before = await user_row(sessionmaker, w.student.id)
    payload = await api(
        w.admin, "updateUser", {"id": gid(w.student), "role": "INSTRUCTOR", "fullName": " Grace "}
    )
    assert payload["userErrors"] == []
    assert (payload["user"]["role"], payload["user"]["fullName"]) == ("INSTRUCTOR", "Grace")
    assert payload["user"]["status"] == "ACTIVE"  # left out: unchanged
    after = await user_row(sessionmaker, w.student.id)
    assert after.updated_at > before.updated_at
    assert (after.updated_by, after.created_at) == (w.admin.id, before.created_at)

    suspended = await api(w.admin, "updateUser", {"id": gid(w.student), "status": "SUSPENDED"})
    assert suspended["user"]["status"] == "SUSPENDED"


async def test_update_user_reports_every_invalid_field(
    sessionmaker: Sessionmaker, api: Api
) -> None:
    w = await make_world(sessionmaker)
    payload = await api(
        w.admin, "updateUser", {"id": "bogus", "role": None, "status": None, "fullName": ""}
    )
    assert errors(payload) == [
        (["input", "fullName"], "INVALID"),
        (["input", "id"], "INVALID"),
        (["input", "role"], "INVALID"),
        (["input", "status"], "INVALID"),
    ]


async def test_an_admin_may_not_lock_itself_out(sessionmaker: Sessionmaker, api: Api) -> None:
    w = await make_world(sessionmaker)
    demote = await api(
        w.admin, "updateUser", {"id": gid(w.admin), "role": "STUDENT", "status": "DEACTIVATED"}
    )
    assert errors(demote) == [(["input", "role"], "INVALID"), (["input", "status"], "INVALID")]
    deactivate = await api(w.admin, "deactivateUser", {"id": gid(w.admin)})
    assert errors(deactivate) == [(["input", "id"], "INVALID")]
    row = await user_row(sessionmaker, w.admin.id)
    assert (row.role, row.status) == ("ADMIN", "ACTIVE")
    # Renaming itself is fine.
    rename = await api(w.admin, "updateUser", {"id": gid(w.admin), "fullName": "Root"})
    assert rename["userErrors"] == []


async def test_deactivate_user_signs_it_out(
    sessionmaker: Sessionmaker, api: Api, client: httpx.AsyncClient, settings: Settings
) -> None:
    w = await make_world(sessionmaker)
    payload = await api(w.admin, "deactivateUser", {"id": gid(w.student)})
    assert payload["userErrors"] == []
    assert payload["user"]["status"] == "DEACTIVATED"
    assert (await user_row(sessionmaker, w.student.id)).updated_by == w.admin.id
    response = await gql(client, "{ viewer { id } }", token=token_for(settings, w.student))
    assert response.status == 401


async def test_user_ids_of_another_tenant_are_not_found(
    sessionmaker: Sessionmaker, api: Api
) -> None:
    w = await make_world(sessionmaker)
    theirs = await make_world(sessionmaker)
    update = await api(w.admin, "updateUser", {"id": gid(theirs.student), "role": "ADMIN"})
    deactivate = await api(w.admin, "deactivateUser", {"id": gid(theirs.student)})
    profile = await api(
        w.admin, "updateProfile", {"userId": gid(theirs.student), "bio": "Mine"}, PROFILE
    )
    assert errors(update) == errors(deactivate) == [(["input", "id"], "NOT_FOUND")]
    assert errors(profile) == [(["input", "userId"], "NOT_FOUND")]
    row = await user_row(sessionmaker, theirs.student.id)
    assert (row.role, row.status) == ("STUDENT", "ACTIVE")
    assert await profile_row(sessionmaker, theirs.student.id) is None


async def test_update_profile_creates_then_changes_it(sessionmaker: Sessionmaker, api: Api) -> None:
    w = await make_world(sessionmaker)
    created = await api(
        w.student,
        "updateProfile",
        {"bio": "Hi", "avatarUrl": "https://cdn.example.com/a.png", "preferences": {"x": [1]}},
        PROFILE,
    )
    assert created["userErrors"] == []
    assert created["profile"] == {
        "bio": "Hi",
        "avatarUrl": "https://cdn.example.com/a.png",
        "preferences": {"x": [1]},
        "user": {"id": gid(w.student)},
    }
    first = await profile_row(sessionmaker, w.student.id)

    changed = await api(w.student, "updateProfile", {"bio": None}, f"profile {{ id }} {PROFILE}")
    assert changed["profile"]["id"] == to_global_id("UserProfile", w.student.id)
    assert changed["profile"]["bio"] is None
    assert changed["profile"]["avatarUrl"] == "https://cdn.example.com/a.png"  # left out
    second = await profile_row(sessionmaker, w.student.id)
    assert second.updated_at > first.updated_at
    assert second.created_at == first.created_at


async def test_update_profile_reports_every_invalid_field(
    sessionmaker: Sessionmaker, api: Api
) -> None:
    w = await make_world(sessionmaker)
    payload = await api(
        w.student,
        "updateProfile",
        {"bio": "x" * (BIO_MAX + 1), "avatarUrl": "javascript:alert(1)", "preferences": [1]},
        PROFILE,
    )
    assert payload["profile"] is None
    assert errors(payload) == [
        (["input", "avatarUrl"], "INVALID"),
        (["input", "bio"], "INVALID"),
        (["input", "preferences"], "INVALID"),
    ]
    for bad in (
        {"avatarUrl": "https://"},
        {"avatarUrl": "https://" + "a" * URL_MAX},
        {"preferences": {"k": ["a\x00b"]}},
        {"preferences": {"n": 1e300}},  # jsonb would hand it back as a 301-digit integer
        {"preferences": None},
        {"bio": "\x00"},
    ):
        assert len((await api(w.student, "updateProfile", bad, PROFILE))["userErrors"]) == 1
    assert await profile_row(sessionmaker, w.student.id) is None


async def test_profiles_are_edited_by_their_user_or_an_admin(
    sessionmaker: Sessionmaker, api: Api
) -> None:
    w = await make_world(sessionmaker)
    async with tenant_session(sessionmaker, w.org.id) as db:
        await make_profile(db, user=w.instructor, bio="Teacher")
    for user in (w.student, w.instructor):  # neither may edit another's profile
        target = w.admin if user is w.instructor else w.instructor
        payload = await api(
            user, "updateProfile", {"userId": gid(target), "bio": "Hacked"}, PROFILE
        )
        assert errors(payload) == [(None, "FORBIDDEN")]
    assert (await profile_row(sessionmaker, w.instructor.id)).bio == "Teacher"
    assert await profile_row(sessionmaker, w.admin.id) is None

    moderated = await api(
        w.admin, "updateProfile", {"userId": gid(w.instructor), "bio": "Edited"}, PROFILE
    )
    assert moderated["profile"]["bio"] == "Edited"
    own = await api(
        w.instructor, "updateProfile", {"userId": gid(w.instructor), "bio": "Me"}, PROFILE
    )
    assert own["profile"]["bio"] == "Me"


async def test_a_race_past_the_check_still_ends_in_conflict(
    sessionmaker: Sessionmaker, api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When a concurrent create lands between the check and the insert, the unique constraint
    refuses the row, and the error is the same user error."""
    w = await make_world(sessionmaker)

    async def missed(*_args: object, **_kwargs: object) -> None:
        return None

    monkeypatch.setattr("schema.mutations.user._refuse_taken", missed)
    email = await api(w.admin, "createUser", new_user(email=w.student.email))
    username = await api(w.admin, "createUser", new_user(username=w.student.username))
    assert errors(email) == [(["input", "email"], "CONFLICT")]
    assert errors(username) == [(["input", "username"], "CONFLICT")]
    assert await count_rows(sessionmaker, "users", w.org.id) == 3
