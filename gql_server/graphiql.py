"""The GraphiQL page served at `GET /graphql` to browsers; its assets are ours, under `/static`.

On by default in development, off in production (`GQL_GRAPHIQL`). Its Content-Security-Policy
(sent by `gql_server.security_headers`) allows what the page itself needs and nothing else:
scripts and styles from this server (GraphiQL's, React's and the page's own, none inline),
requests to this server (`connect-src 'self'`, which covers the WebSocket of subscriptions),
the `data:` images and fonts of GraphiQL's style sheet, no framing, no forms, no plugins.
"""

from functools import cache
from importlib.resources import files

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "form-action 'none'",
    ]
)


@cache
def graphiql_html() -> str:
    return files("gql_server").joinpath("static/graphiql/index.html").read_text(encoding="utf-8")
