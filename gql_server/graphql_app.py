"""Strawberry's ASGI view, wired to our settings and request context."""

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL

from gql_server.settings import Settings
from schema import schema


class GraphQLApp(GraphQL[Any, None]):
    def __init__(self, settings: Settings) -> None:
        super().__init__(schema, graphql_ide="graphiql" if not settings.is_production else None)
        self.settings = settings

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket | None
    ) -> Any:
        return {"request": request}
