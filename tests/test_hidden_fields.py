"""A value hidden from a viewer stays hidden on every path: its field is null, and no filter,
search or order of any list matches it or sorts by it.

Generated from the one declaration (`schema.policy.HIDDEN_FIELDS`) and the exported schema: for
each hidden field, two rows differ only in its value, and swapping the two values must change
nothing that a viewer who may not read them gets back from any filter field, string argument or
order of any list of that type, as every role and as the owner of one row. A new hidden field, a
new filter or a new order is covered without a new test.
"""

from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest
from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLList,
    GraphQLObjectType,
    GraphQLScalarType,
    build_schema,
    get_named_type,
)
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import models
from gql_server.settings import Settings
from gql_server.tenancy import tenant_session
from loaders import compiled
from schema import policy
from schema.context import Viewer
from schema.node import to_global_id
from schema.policy import HIDDEN_FIELDS, HiddenField
from tests.api import gql, token_for
from tests.factories import make_org, make_user

Sessionmaker = async_sessionmaker[AsyncSession]
SDL = build_schema((Path(__file__).parents[1] / "schema.graphql").read_text())
CURSOR_ARGUMENTS = {"first", "after", "last", "before"}


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


@dataclass
class Rows:
    """Two rows of the hidden field's model, and the users who own them."""

    first: Any
    second: Any
    owner_of_first: models.User


async def two_users(db: AsyncSession) -> Rows:
    first, second = await make_user(db), await make_user(db)
    return Rows(first, second, owner_of_first=first)


# How to make two rows of each model that has a hidden field.
ROWS: dict[type[Any], Callable[[AsyncSession], Awaitable[Rows]]] = {models.User: two_users}


def secrets() -> tuple[str, str]:
    """Two hidden values, far apart in any order, found in no other column."""
    tag = uuid4().hex[:10]
    return f"zq{tag}@hidden.example", f"aa{tag[::-1]}@hidden.example"


@dataclass
class World:
    org: models.Organization
    rows: Rows
    viewers: list[models.User]
    values: tuple[str, str]


async def make_world(sessionmaker: Sessionmaker, hidden: HiddenField) -> World:
    model = hidden.column.class_
    assert model in ROWS, f"teach tests/test_hidden_fields.py to make two {model.__name__} rows"
    org = await make_org(sessionmaker)
    async with tenant_session(sessionmaker, org.id) as db:
        rows = await ROWS[model](db)
        viewers = [await make_user(db, role=role) for role in models.Role]
    world = World(org, rows, [*viewers, rows.owner_of_first], secrets())
    await set_hidden(sessionmaker, world, hidden, swapped=False)
    return world


async def set_hidden(
    sessionmaker: Sessionmaker, world: World, hidden: HiddenField, *, swapped: bool
) -> None:
    model, column = hidden.column.class_, hidden.column.key
    first, second = reversed(world.values) if swapped else world.values
    async with tenant_session(sessionmaker, world.org.id) as db:
        # Through a value neither holds, so a unique constraint never sees both at once.
        for row, value in (
            (world.rows.first, f"x{uuid4().hex}@swap.example"),
            (world.rows.second, second),
            (world.rows.first, first),
        ):
            await db.execute(update(model).where(model.id == row.id).values({column: value}))


@dataclass(frozen=True)
class Probe:
    """One request to a list: which field, and the arguments that may touch the hidden value."""

    list_field: str
    arguments: str  # e.g. 'filter: {text: $value}'
    value_type: str
    value: Any

    def query(self) -> str:
        return (
            f"query($value: {self.value_type}) {{ {self.list_field}(first: 100,"
            f" {self.arguments}) {{ totalCount nodes {{ id }} }} }}"
        )


def lists_of(type_name: str) -> Iterator[tuple[str, Any]]:
    """Root fields that list objects of `type_name` (connections with `nodes`)."""
    query_type = SDL.query_type
    assert query_type is not None
    for name, field in query_type.fields.items():
        connection = get_named_type(field.type)
        if (
            isinstance(connection, GraphQLObjectType)
            and "nodes" in connection.fields
            and get_named_type(connection.fields["nodes"].type).name == type_name
        ):
            yield name, field


def values_for(graphql_type: Any, world: World, rows: Rows, type_name: str) -> list[Any]:
    """Values to try in an argument: derived from the hidden values for text, every member of
    an enum, and so on; an argument of a type not known here fails the test until it is."""
    named = get_named_type(graphql_type)
    inner = graphql_type.of_type if hasattr(graphql_type, "of_type") else graphql_type
    listed = isinstance(inner, GraphQLList)
    if isinstance(named, GraphQLEnumType):
        values: list[Any] = list(named.values)
    elif isinstance(named, GraphQLScalarType) and named.name == "String":
        first, second = world.values
        values = [first, second, first[:6], first[-12:], second[:6]]
    elif isinstance(named, GraphQLScalarType) and named.name == "Boolean":
        values = [True, False]
    elif isinstance(named, GraphQLScalarType) and named.name == "DateTime":
        values = ["2000-01-01T00:00:00+00:00", "2100-01-01T00:00:00+00:00"]
    elif isinstance(named, GraphQLScalarType) and named.name == "ID":
        values = [to_global_id(type_name, row.id) for row in (rows.first, rows.second)]
    else:
        raise AssertionError(f"teach tests/test_hidden_fields.py values of {graphql_type}")
    return [[value] for value in values] if listed else values


def filter_fields(filter_type: GraphQLInputObjectType) -> Iterator[tuple[str, Any]]:
    """Each scalar a filter compares, as the argument's value with `$value` in its place: its
    own fields, and the operators of a comparison field (`{email: {contains: $value}}`).
    Relation filters and `and`/`or`/`not` read the same columns: `tests/test_where.py`."""
    for name, inner in filter_type.fields.items():
        named = get_named_type(inner.type)
        if not isinstance(named, GraphQLInputObjectType):
            yield f"{{{name}: $value}}", inner.type
        elif named.name.endswith("Comparison"):
            for operator, compared in named.fields.items():
                yield f"{{{name}: {{{operator}: $value}}}}", compared.type


def probes(type_name: str, world: World) -> list[Probe]:
    found: list[Probe] = []
    for list_field, field in lists_of(type_name):
        for name, argument in field.args.items():
            if name in CURSOR_ARGUMENTS:
                continue
            named = get_named_type(argument.type)
            if isinstance(named, GraphQLInputObjectType):  # a filter: each of its fields
                for path, inner_type in filter_fields(named):
                    for value in values_for(inner_type, world, world.rows, type_name):
                        found.append(Probe(list_field, f"{name}: {path}", str(inner_type), value))
            else:  # an order, a search text, ...
                for value in values_for(argument.type, world, world.rows, type_name):
                    found.append(Probe(list_field, f"{name}: $value", str(argument.type), value))
    assert found, f"no list of {type_name} to probe: was the field's type renamed?"
    return found


Answer = tuple[list[str], int | None]


async def answer(client: httpx.AsyncClient, token: str, probe: Probe) -> Answer:
    response = await gql(client, probe.query(), {"value": probe.value}, token=token)
    data = (response.body.get("data") or {}).get(probe.list_field)
    if data is None:
        return [], None
    return [node["id"] for node in data["nodes"]], data["totalCount"]


def viewer_of(user: models.User) -> Viewer:
    return Viewer(user.id, user.organization_id, user.role)


def name_of(hidden: HiddenField) -> str:
    return f"{hidden.column.class_.__name__}.{hidden.column.key}"


# Each declared field, and the same field hidden from its owner too: then only the roles that
# read it on every row see it at all, and it reads as NULL for everyone else.
RULES = [
    *[pytest.param(hidden, id=name_of(hidden)) for hidden in HIDDEN_FIELDS],
    *[
        pytest.param(replace(hidden, on_own=frozenset()), id=f"{name_of(hidden)}, not even own")
        for hidden in HIDDEN_FIELDS
    ],
]


@pytest.mark.parametrize("hidden", RULES)
async def test_a_hidden_value_cannot_be_read_matched_or_sorted_on(
    hidden: HiddenField,
    sessionmaker: Sessionmaker,
    client: httpx.AsyncClient,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The app runs in this process: the stricter variant is the policy for this test.
    declared = [field for field in policy.HIDDEN_FIELDS if field.column is not hidden.column]
    monkeypatch.setattr(policy, "HIDDEN_FIELDS", (*declared, hidden))
    # Statements are compiled once per shape with the policy in them: none from another one.
    monkeypatch.setattr(compiled, "_TEMPLATES", OrderedDict())
    type_name, field_name = hidden.column.class_.__name__, camel(hidden.column.key)
    graphql_type = SDL.get_type(type_name)
    assert isinstance(graphql_type, GraphQLObjectType)
    assert field_name in graphql_type.fields
    world = await make_world(sessionmaker, hidden)
    rows = (world.rows.first, world.rows.second)
    ids = [to_global_id(type_name, row.id) for row in rows]
    owners = [getattr(row, hidden.owner.key) for row in rows]
    all_probes = probes(type_name, world)
    read_field = (
        f"query($ids: [ID!]!) {{ nodes(ids: $ids) {{ ... on {type_name} {{ {field_name} }} }} }}"
    )

    answers: dict[bool, dict[UUID, list[Answer]]] = {}
    for swapped in (False, True):
        await set_hidden(sessionmaker, world, hidden, swapped=swapped)
        values = list(reversed(world.values)) if swapped else list(world.values)
        answers[swapped] = {}
        for user in world.viewers:
            token = token_for(settings, user)
            # The field itself: the value exactly where the declaration lets the viewer read it.
            shown = (await gql(client, read_field, {"ids": ids}, token=token)).data["nodes"]
            readable = [hidden.readable_by(viewer_of(user), owner) for owner in owners]
            assert [node[field_name] for node in shown] == [
                value if may else None for value, may in zip(values, readable, strict=True)
            ], (user.role, swapped)
            answers[swapped][user.id] = [await answer(client, token, probe) for probe in all_probes]

    for user in world.viewers:
        readable = [hidden.readable_by(viewer_of(user), owner) for owner in owners]
        for probe, before, after in zip(
            all_probes, answers[False][user.id], answers[True][user.id], strict=True
        ):
            context = (user.role, "owner" if user is world.rows.owner_of_first else "", probe)
            for row_id, may in zip(ids, readable, strict=True):
                if not may:  # whether it matched must not depend on its hidden value
                    assert (row_id in before[0]) == (row_id in after[0]), context
            if not any(readable):  # nor their order, nor how many there are
                assert [i for i in before[0] if i in ids] == [i for i in after[0] if i in ids], (
                    context
                )
                assert before[1] == after[1], context


@pytest.mark.parametrize("hidden", HIDDEN_FIELDS, ids=name_of)
def test_no_computed_column_carries_a_hidden_value(hidden: HiddenField) -> None:
    """A column computed from a hidden one (a search vector, say) would leak it to a search:
    it must be declared hidden too."""
    declared = {(field.column.class_, field.column.key) for field in HIDDEN_FIELDS}
    model = hidden.column.class_
    for column in model.__table__.columns:
        computed = column.computed
        if computed is not None and hidden.column.key in str(computed.sqltext):
            assert (model, column.key) in declared, f"{column} is computed from {hidden.column}"
