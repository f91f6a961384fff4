"""`/` points at `/graphql`: a browser is sent there (GraphiQL), anything else is told where."""

import httpx

BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


async def test_a_browser_is_sent_on_to_graphiql(client: httpx.AsyncClient) -> None:
    response = await client.get("/", headers={"Accept": BROWSER})

    assert response.status_code == 302
    assert response.headers["location"] == "/graphql"
    graphiql = await client.get(response.headers["location"], headers={"Accept": BROWSER})
    assert graphiql.status_code == 200
    assert "graphiql" in graphiql.text.lower()


async def test_a_client_is_told_where_graphql_is(client: httpx.AsyncClient) -> None:
    for accept in ("application/json", "*/*", None):
        headers = {"Accept": accept} if accept else {}
        response = await client.get("/", headers=headers)

        assert response.status_code == 200
        assert response.json() == {
            "message": "GraphQL is served at /graphql: POST queries there, or open it in a"
            " browser for GraphiQL",
            "graphql": "/graphql",
        }
