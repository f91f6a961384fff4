"""The GraphiQL page served at `GET /graphql` to browsers."""

from functools import cache

from strawberry.http.ides import get_graphql_ide_html


@cache
def graphiql_html() -> str:
    return get_graphql_ide_html(graphql_ide="graphiql")
