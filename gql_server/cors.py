"""Which pages on other origins may call the API (`GQL_CORS_ORIGINS`).

One decision, `AllowedOrigins.allows`, serves both ways a browser page reaches the server:
`fetch` (CORS: Starlette's middleware answers the preflight and labels the responses) and the
WebSocket handshake, which browsers do not subject to CORS at all, so the server checks its
`Origin` itself (`gql_server.subscriptions`).

An entry is an exact origin (`https://app.example.com`), `*` (any origin; never together with
credentials), or a pattern: `*` as the first label of the host stands for one label
(`https://*.example.com` matches `https://app.example.com`, not `https://example.com` nor
`https://a.b.example.com`), and `*` as the port for any port (`http://localhost:*`).
"""

import re
from collections.abc import Iterable

from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp

ANY = "*"
DEFAULT_PORTS = {"http": "80", "https": "443"}
# scheme://host[:port], host either a name (its first label possibly `*`), or an IPv6 literal.
_ENTRY = re.compile(
    r"(?P<scheme>https?)://"
    r"(?P<host>(?:\*\.)?[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?|\[[0-9a-f:.]+\])"
    r"(?::(?P<port>\d{1,5}|\*))?"
)
_LABEL = r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?"

# What a frontend sends besides the CORS-safelisted headers: its token, JSON, its request id
# (echoed back, and exposed so the page can quote it), and the headers Apollo Client adds to
# GET requests of persisted queries (CSRF prevention) and to name its operations.
ALLOWED_HEADERS = (
    "Authorization",
    "Content-Type",
    "X-Request-ID",
    "Apollo-Require-Preflight",
    "X-Apollo-Operation-Name",
    "Apollographql-Client-Name",
    "Apollographql-Client-Version",
)
EXPOSED_HEADERS = ("X-Request-ID", "Retry-After")


def normalize(entry: str) -> str:
    """An origin as browsers send it in `Origin` (lower case, no default port, no trailing
    slash); ValueError for anything that is not an origin or a pattern of one."""
    value = entry.strip().lower().removesuffix("/")
    if value == ANY:
        return ANY
    match = _ENTRY.fullmatch(value)
    if match is None:
        raise ValueError(
            f"{entry!r} is not an origin: expected scheme://host[:port] such as"
            " https://app.example.com (no path), a pattern such as https://*.example.com or"
            " http://localhost:*, or *"
        )
    port = match["port"]
    if port is None or port == DEFAULT_PORTS[match["scheme"]]:
        return f"{match['scheme']}://{match['host']}"
    return f"{match['scheme']}://{match['host']}:{port}"


class AllowedOrigins:
    """The origins of `GQL_CORS_ORIGINS`, compiled once."""

    def __init__(self, entries: Iterable[str]) -> None:
        normalized = {normalize(entry) for entry in entries}
        self.any = ANY in normalized
        self.exact = frozenset(entry for entry in normalized if "*" not in entry)
        self.patterns = tuple(_pattern(entry) for entry in sorted(normalized - self.exact - {ANY}))

    def allows(self, origin: str) -> bool:
        if self.any:
            return True
        return origin in self.exact or any(pattern.fullmatch(origin) for pattern in self.patterns)


def _pattern(entry: str) -> "re.Pattern[str]":
    match = _ENTRY.fullmatch(entry)
    assert match is not None, "entries are normalized first"
    host, port = match["host"], match["port"]
    expression = re.escape(f"{match['scheme']}://")
    expression += _LABEL + re.escape(host[1:]) if host.startswith("*.") else re.escape(host)
    if port == "*":
        expression += r"(?::\d{1,5})?"  # the scheme's default port, too
    elif port is not None:
        expression += re.escape(f":{port}")
    return re.compile(expression)


class CORS(CORSMiddleware):
    """Starlette's CORS middleware, deciding origins by `AllowedOrigins`."""

    def __init__(
        self,
        app: ASGIApp,
        origins: AllowedOrigins,
        *,
        allow_credentials: bool,
        max_age: int,
        allow_headers: Iterable[str] = ALLOWED_HEADERS,
    ) -> None:
        super().__init__(
            app,
            # `*` alone lets Starlette answer `Access-Control-Allow-Origin: *`; otherwise it
            # echoes each allowed origin (with `Vary: Origin`).
            allow_origins=[ANY] if origins.any else [],
            allow_methods=("GET", "POST"),
            allow_headers=tuple(allow_headers),
            allow_credentials=allow_credentials,
            expose_headers=EXPOSED_HEADERS,
            max_age=max_age,
        )
        self.origins = origins

    def is_allowed_origin(self, origin: str) -> bool:
        return self.origins.allows(origin)
