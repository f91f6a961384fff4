// The GraphiQL page of index.html (a file, not inline: the page's Content-Security-Policy
// allows scripts from this server only).
(function () {
  "use strict";

  var TOKEN_KEY = "gql_server:token";
  // Valid JSON on purpose: GraphiQL refuses to introspect while the headers do not parse.
  var PLACEHOLDER =
    "Bearer <paste a token: `make token`, or `gql-server token --org acme --user admin`>";
  var DEFAULT_QUERY = [
    "# Ctrl+Enter (or the run button) sends the query.",
    "# Your token goes in the Headers tab below.",
    "{",
    "  viewer {",
    "    username",
    "    role",
    "  }",
    "  contents(first: 5) {",
    "    edges {",
    "      node {",
    "        title",
    "        author {",
    "          username",
    "        }",
    "      }",
    "    }",
    "  }",
    "}",
    "",
  ].join("\n");

  // `?token=` (what `make run` prints) or `#token=` (never reaches the server's logs).
  // The token moves to this tab's sessionStorage, so a reload keeps it and the address
  // bar, history and bookmarks do not.
  var search = new URLSearchParams(window.location.search);
  var fragment = new URLSearchParams(window.location.hash.slice(1));
  var token = fragment.get("token") || search.get("token");
  if (token) {
    window.sessionStorage.setItem(TOKEN_KEY, token);
    search.delete("token");
    fragment.delete("token");
    var rest = search.toString();
    var hash = fragment.toString();
    window.history.replaceState(
      null,
      "",
      window.location.pathname + (rest ? "?" + rest : "") + (hash ? "#" + hash : ""),
    );
  } else {
    token = window.sessionStorage.getItem(TOKEN_KEY);
  }

  function headersJSON(authorization) {
    return JSON.stringify({ Authorization: authorization }, null, 2);
  }

  var endpoint = "/graphql";
  var wsScheme = window.location.protocol === "https:" ? "wss:" : "ws:";
  var send = GraphiQL.createFetcher({
    url: endpoint,
    subscriptionUrl: wsScheme + "//" + window.location.host + endpoint,
  });

  // An untouched placeholder is not a credential: leave it out, so the schema still
  // loads anonymously and a query gets the server's own "sign in" error.
  function fetcher(params, options) {
    var headers = (options && options.headers) || {};
    var kept = {};
    Object.keys(headers).forEach(function (name) {
      var value = headers[name];
      var placeholder =
        name.toLowerCase() === "authorization" &&
        typeof value === "string" &&
        value.indexOf("<") !== -1;
      if (!placeholder) {
        kept[name] = value;
      }
    });
    return send(params, Object.assign({}, options, { headers: kept }));
  }

  var props = {
    fetcher: fetcher,
    defaultQuery: DEFAULT_QUERY,
    defaultEditorToolsVisibility: "headers",
    // Tokens stay out of localStorage unless the user opts in from GraphiQL's settings.
    shouldPersistHeaders: false,
    defaultHeaders: headersJSON(token ? "Bearer " + token : PLACEHOLDER),
  };
  if (token) {
    // Wins over headers a previous visit may have stored.
    props.headers = props.defaultHeaders;
  }

  ReactDOM.createRoot(document.getElementById("graphiql")).render(
    React.createElement(GraphiQL, props),
  );
})();
