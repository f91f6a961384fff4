"""Talking to the real app as a client would: tokens and GraphQL requests."""

from dataclasses import dataclass
from typing import Any

import httpx

import models
from gql_server import auth
from gql_server.settings import Settings


def token_for(settings: Settings, user: models.User) -> str:
    return auth.issue(
        settings, user_id=user.id, organization_id=user.organization_id, role=user.role
    )


@dataclass
class Response:
    status: int
    body: dict[str, Any]

    @property
    def data(self) -> Any:
        assert "errors" not in self.body, self.body["errors"]
        return self.body["data"]

    @property
    def error_codes(self) -> list[str]:
        return [error.get("extensions", {}).get("code") for error in self.body.get("errors", [])]

    @property
    def statements(self) -> int:
        return int(self.body["extensions"]["sqlStatements"])


async def gql(
    client: httpx.AsyncClient,
    query: str,
    variables: dict[str, Any] | None = None,
    *,
    token: str | None = None,
) -> Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = await client.post(
        "/graphql", json={"query": query, "variables": variables}, headers=headers
    )
    return Response(response.status_code, response.json())
