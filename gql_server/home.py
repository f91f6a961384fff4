"""`/`: where the API is. A browser is sent on to GraphiQL at `/graphql`; anything else is told
so in JSON, rather than a 404 that looks like a server gone wrong."""

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response


async def home(request: Request) -> Response:
    graphql = request.scope.get("root_path", "") + "/graphql"
    if "text/html" in request.headers.get("accept", ""):
        return RedirectResponse(graphql, status_code=302)
    return JSONResponse(
        {
            "message": f"GraphQL is served at {graphql}: POST queries there, or open it in a"
            " browser for GraphiQL",
            "graphql": graphql,
        }
    )
