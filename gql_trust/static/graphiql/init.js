/*
 * Bootstraps the self-hosted GraphiQL page rendered by gql_trust/graphiql.py.
 *
 * Needs the globals React, ReactDOM, GraphiQL and GraphiQLPluginExplorer from
 * the same-origin bundles in /static/vendor/. The GraphQL endpoint comes from
 * data-graphql-path on #graphiql. The initial query and variables can be given
 * in the page URL: ?query=...&variables=... (Strawberry's ?q= also works); the
 * URL is kept in step with the editors so it can be copied and shared.
 * Request headers are neither read from nor written to the URL, and are not
 * persisted in localStorage (they often carry a bearer token).
 */
(function () {
  "use strict";

  var WELCOME_QUERY =
    "# Welcome to the Labour Market Data Trust GraphQL API.\n" +
    "#\n" +
    "# Write a query here (Ctrl-Space completes, the explorer on the left\n" +
    "# builds one by clicking) and run it with Ctrl-Enter or the play button.\n" +
    "# Put a bearer token in the Headers tab below if you have one:\n" +
    '#   {"Authorization": "Bearer <token>"}\n' +
    "\n";

  var container = document.getElementById("graphiql");
  var graphqlPath = container.getAttribute("data-graphql-path") || "/graphql";
  var fetchURL = new URL(graphqlPath, window.location.href).toString();

  var params = new URLSearchParams(window.location.search);
  var initialQuery = params.get("query");
  if (initialQuery === null) {
    initialQuery = params.get("q");
  }
  var initialVariables = params.get("variables");

  var urlState = {
    query: initialQuery === null ? "" : initialQuery,
    variables: initialVariables === null ? "" : initialVariables,
  };

  function updateURL(change) {
    Object.assign(urlState, change);
    var next = new URLSearchParams();
    if (urlState.query) {
      next.set("query", urlState.query);
    }
    if (urlState.variables) {
      next.set("variables", urlState.variables);
    }
    var search = next.toString();
    window.history.replaceState(
      null,
      "",
      window.location.pathname + (search ? "?" + search : "") + window.location.hash
    );
  }

  var fetcher = GraphiQL.createFetcher({ url: fetchURL });
  var explorerPlugin = GraphiQLPluginExplorer.explorerPlugin();

  function GraphiQLWithExplorer() {
    var queryState = React.useState(initialQuery === null ? WELCOME_QUERY : initialQuery);
    var query = queryState[0];
    var setQuery = queryState[1];
    var variablesState = React.useState(initialVariables === null ? undefined : initialVariables);
    var variables = variablesState[0];
    var setVariables = variablesState[1];

    function onEditQuery(newQuery) {
      setQuery(newQuery);
      updateURL({ query: newQuery });
    }

    function onEditVariables(newVariables) {
      setVariables(newVariables);
      updateURL({ variables: newVariables });
    }

    return React.createElement(GraphiQL, {
      fetcher: fetcher,
      plugins: [explorerPlugin],
      query: query,
      variables: variables,
      onEditQuery: onEditQuery,
      onEditVariables: onEditVariables,
      defaultEditorToolsVisibility: true,
      isHeadersEditorEnabled: true,
      shouldPersistHeaders: false,
      inputValueDeprecation: true,
    });
  }

  ReactDOM.createRoot(container).render(React.createElement(GraphiQLWithExplorer));
})();
