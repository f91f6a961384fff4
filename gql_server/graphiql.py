"""The GraphiQL page served at `GET /graphql` to browsers; its assets are ours, under `/static`."""

from functools import cache
from importlib.resources import files


@cache
def graphiql_html() -> str:
    return files("gql_server").joinpath("static/graphiql/index.html").read_text(encoding="utf-8")
