"""`schema.graphql` is the schema: the exported SDL is current, and introspection agrees with it."""

from pathlib import Path
from typing import Any

import httpx
from graphql import (
    GraphQLSchema,
    build_client_schema,
    build_schema,
    find_breaking_changes,
    find_dangerous_changes,
    get_introspection_query,
    print_schema,
)
from graphql.utilities import lexicographic_sort_schema
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import models
from gql_server.settings import Settings
from gql_server.tenancy import tenant_session
from schema import schema
from tests.api import gql, token_for
from tests.factories import make_org, make_user

SDL_FILE = Path(__file__).resolve().parents[1] / "schema.graphql"
REGENERATE = "run `make schema` (`.venv/bin/gql-server export-schema`) and commit schema.graphql"


def committed_sdl() -> str:
    assert SDL_FILE.exists(), f"schema.graphql is missing: {REGENERATE}"
    return SDL_FILE.read_text(encoding="utf-8")


def test_the_exported_sdl_is_current() -> None:
    assert committed_sdl() == schema.as_str() + "\n", f"schema.graphql is stale: {REGENERATE}"


async def _introspect(
    client: httpx.AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    **options: Any,
) -> GraphQLSchema:
    org = await make_org(sessionmaker)
    async with tenant_session(sessionmaker, org.id) as db:
        user = await make_user(db, role=models.Role.STUDENT)
    response = await gql(
        client, get_introspection_query(**options), token=token_for(settings, user)
    )
    assert response.status == 200
    return build_client_schema(response.data)


async def test_full_introspection_prints_the_committed_sdl(
    client: httpx.AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
) -> None:
    # Everything introspection can tell (specifiedBy, oneOf, descriptions, deprecations), so the
    # client's picture may be printed and compared whole.
    client_schema = await _introspect(
        client,
        sessionmaker,
        settings,
        descriptions=True,
        specified_by_url=True,
        directive_is_repeatable=True,
        schema_description=True,
        input_value_deprecation=True,
        one_of=True,
    )
    # Type order is the server's own in introspection and the file's in the SDL: sort both.
    printed = print_schema(lexicographic_sort_schema(client_schema))
    assert printed == print_schema(lexicographic_sort_schema(build_schema(committed_sdl())))


async def test_default_introspection_query_sees_the_same_api(
    client: httpx.AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
) -> None:
    # What most clients and codegen tools send: no specifiedBy or oneOf, but every type, field,
    # argument and enum value must match the SDL, in both directions.
    client_schema = await _introspect(client, sessionmaker, settings)
    sdl_schema = build_schema(committed_sdl())
    for old, new in ((sdl_schema, client_schema), (client_schema, sdl_schema)):
        assert find_breaking_changes(old, new) == []
        assert find_dangerous_changes(old, new) == []
    assert sorted(client_schema.type_map) == sorted(sdl_schema.type_map)
    query_type = client_schema.query_type
    assert query_type is not None
    assert {"node", "nodes", "viewer", "contents", "search"} <= set(query_type.fields)
