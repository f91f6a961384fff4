"""Headers that tell browsers how to treat what the server sends, on every HTTP response.

- `X-Content-Type-Options: nosniff`: a JSON answer is never taken for a script or a page.
- `Cache-Control: no-store` on answers to a request that carries credentials (`Authorization`),
  unless the response states a cache policy of its own: they hold one user's data, which neither
  the browser's cache nor a shared proxy should keep.
- Framing refused (`X-Frame-Options: DENY`, and `frame-ancestors 'none'`), so no other site can
  overlay our pages to trick a click.
- A Content-Security-Policy: HTML (the GraphiQL page) gets the policy its own assets satisfy;
  anything else may load and run nothing, should a browser ever render it.
"""

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gql_server.graphiql import CONTENT_SECURITY_POLICY as PAGE_POLICY

API_POLICY = "default-src 'none'; frame-ancestors 'none'"


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        credentials = "authorization" in Headers(scope=scope)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                headers = MutableHeaders(scope=message)
                headers.setdefault("X-Content-Type-Options", "nosniff")
                headers.setdefault("X-Frame-Options", "DENY")
                html = headers.get("content-type", "").startswith("text/html")
                headers.setdefault("Content-Security-Policy", PAGE_POLICY if html else API_POLICY)
                if credentials:
                    headers.setdefault("Cache-Control", "no-store")
            await send(message)

        await self.app(scope, receive, send_with_headers)
