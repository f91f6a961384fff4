"""Stored JSON (`UserProfile.preferences`), through the real API: depth and size are limited on the
way in, and a value stored before the limits that no response can carry errors only its field."""

from typing import Any
from uuid import UUID

import httpx
import orjson
import pytest
from sqlalchemy import text

from gql_server.settings import Settings
from gql_server.tenancy import tenant_session
from gql_server.variables import MAX_NESTING
from schema.json_value import MAX_DEPTH
from tests.api import gql, token_for
from tests.test_mutations_users import PROFILE, Api, Sessionmaker, errors, make_world, profile_row


@pytest.fixture
def api(client: httpx.AsyncClient, settings: Settings) -> Api:
    return Api(client, settings)


def nested(depth: int) -> dict[str, Any]:
    """A JSON object `depth` levels deep: {"level": {"level": ... {}}}."""
    value: dict[str, Any] = {}
    for _ in range(depth - 1):
        value = {"level": value}
    return value


def alternating(depth: int) -> dict[str, Any]:
    """A JSON value `depth` containers deep, objects and lists in turn: {"l": [{"l": [...]}]}."""
    value: Any = {} if depth % 2 else []
    for level in range(depth - 1, 0, -1):  # level 1, the outermost, is an object
        value = {"l": value} if level % 2 else [value]
    assert isinstance(value, dict)
    return value


def test_stored_json_is_refused_no_deeper_than_variables_may_nest() -> None:
    """Variables nested past MAX_NESTING never reach a mutation: the door refuses them. Every
    depth between the JSON limit and that one is the mutation's to refuse."""
    assert MAX_DEPTH + 1 < MAX_NESTING


async def test_preferences_at_the_depth_limit_are_kept_and_past_it_refused(
    sessionmaker: Sessionmaker, api: Api, client: httpx.AsyncClient, settings: Settings
) -> None:
    w = await make_world(sessionmaker)
    at_limit = nested(MAX_DEPTH)
    kept = await api(w.student, "updateProfile", {"preferences": at_limit}, PROFILE)
    assert kept["userErrors"] == []
    assert kept["profile"]["preferences"] == at_limit
    both_kinds = alternating(MAX_DEPTH)
    kept = await api(w.student, "updateProfile", {"preferences": both_kinds}, PROFILE)
    assert kept["userErrors"] == []

    # `input` is one level of the variable: up to MAX_NESTING - 1, the mutation refuses.
    for value in (nested(MAX_DEPTH + 1), alternating(MAX_DEPTH + 1), nested(MAX_NESTING - 1)):
        refused = await api(w.student, "updateProfile", {"preferences": value}, PROFILE)
        assert refused["profile"] is None
        assert errors(refused) == [(["input", "preferences"], "INVALID")]
        assert "nest" in refused["userErrors"][0]["message"]
    # Deeper, the door refuses the variable before any transaction opens.
    query = (
        "mutation($input: UpdateProfileInput!) { updateProfile(input: $input) { profile { bio } } }"
    )
    for depth in (MAX_NESTING, 250, 900):
        response = await gql(
            client,
            query,
            {"input": {"preferences": nested(depth)}},
            token=token_for(settings, w.student),
        )
        assert response.status == 200
        assert response.error_codes == ["BAD_USER_INPUT"]
        assert "data" not in response.body or response.body["data"] is None
    assert (await profile_row(sessionmaker, w.student.id)).preferences == both_kinds


async def test_inline_values_are_checked_like_variables(
    sessionmaker: Sessionmaker, client: httpx.AsyncClient, settings: Settings
) -> None:
    w = await make_world(sessionmaker)
    answer = "profile { bio } userErrors { field code }"
    inline = "{a: " * MAX_DEPTH + "{}" + "}" * MAX_DEPTH  # MAX_DEPTH + 1 objects
    query = f"mutation {{ updateProfile(input: {{preferences: {inline}}}) {{ {answer} }} }}"
    response = await gql(client, query, token=token_for(settings, w.student))
    assert response.data["updateProfile"] == {
        "profile": None,
        "userErrors": [{"field": ["input", "preferences"], "code": "INVALID"}],
    }
    assert await profile_row(sessionmaker, w.student.id) is None


async def test_input_deeper_than_any_parser_takes_is_a_client_error(
    sessionmaker: Sessionmaker, client: httpx.AsyncClient, settings: Settings
) -> None:
    """Nesting past what the request's JSON parser takes is refused before any mutation runs:
    a 4xx with a GraphQL error, never a 500 or a dropped connection."""
    w = await make_world(sessionmaker)
    query = "mutation($p: JSON) { updateProfile(input: {preferences: $p}) { userErrors { code } } }"
    body = b'{"query": %s, "variables": {"p": %s}}' % (
        orjson.dumps(query),
        b'{"a":' * 5000 + b"{}" + b"}" * 5000,
    )
    response = await client.post(
        "/graphql",
        content=body,
        headers={
            "Authorization": f"Bearer {token_for(settings, w.student)}",
            "Content-Type": "application/json",
        },
    )
    assert 400 <= response.status_code < 500
    assert response.json()["errors"]
    assert await profile_row(sessionmaker, w.student.id) is None


async def store_preferences(
    sessionmaker: Sessionmaker, organization_id: UUID, user_id: UUID, raw_json: str
) -> None:
    """Write a profile straight to the table, as data stored before today's limits would be."""
    async with tenant_session(sessionmaker, organization_id) as db:
        await db.execute(
            text(
                "insert into user_profiles (organization_id, user_id, bio, preferences)"
                " values (:org, :user, 'stored', cast(cast(:raw as text) as jsonb))"
            ),
            {"org": organization_id, "user": user_id, "raw": raw_json},
        )


async def test_a_stored_value_no_response_can_carry_errors_only_its_field(
    sessionmaker: Sessionmaker, client: httpx.AsyncClient, settings: Settings
) -> None:
    w = await make_world(sessionmaker)
    too_deep = '{"level": ' * 299 + "{}" + "}" * 299  # past the 255 levels orjson writes
    too_big = '{"n": 1180591620717411303424}'  # 2**70: jsonb keeps it, no response encoder does
    await store_preferences(sessionmaker, w.org.id, w.instructor.id, too_deep)
    await store_preferences(sessionmaker, w.org.id, w.student.id, too_big)
    await store_preferences(sessionmaker, w.org.id, w.admin.id, '{"theme": "dark"}')

    query = """{ users(first: 10, orderBy: CREATED_AT_ASC) {
        nodes { username profile { bio preferences } } } }"""
    response = await gql(client, query, token=token_for(settings, w.admin))
    assert response.status == 200
    by_username = {node["username"]: node for node in response.body["data"]["users"]["nodes"]}
    assert by_username[w.admin.username]["profile"] == {
        "bio": "stored",
        "preferences": {"theme": "dark"},
    }
    # `preferences` is non-null, so its error nulls the profile: the nearest nullable field.
    assert by_username[w.instructor.username]["profile"] is None
    assert by_username[w.student.username]["profile"] is None
    failed = sorted(
        (error["path"][2], error["path"][3:], error["extensions"]["code"])
        for error in response.body["errors"]
    )
    positions = [
        index
        for index, node in enumerate(response.body["data"]["users"]["nodes"])
        if node["username"] in (w.instructor.username, w.student.username)
    ]
    assert failed == [
        (index, ["profile", "preferences"], "INTERNAL_SERVER_ERROR") for index in positions
    ]

    # The same value alone in a response, as its own user reads it.
    own = await gql(
        client,
        "{ viewer { username profile { preferences } } }",
        token=token_for(settings, w.instructor),
    )
    assert own.status == 200
    assert own.body["data"]["viewer"] == {"username": w.instructor.username, "profile": None}
    assert [error["path"] for error in own.body["errors"]] == [["viewer", "profile", "preferences"]]

    # A profile the limits refuse on the way in stays editable: a valid value replaces it.
    fixed = await gql(
        client,
        "mutation { updateProfile(input: {preferences: {}}) { profile { preferences } } }",
        token=token_for(settings, w.instructor),
    )
    assert fixed.data["updateProfile"]["profile"] == {"preferences": {}}
