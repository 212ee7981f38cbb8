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
 *
 * ?dryRun=true (the catalog's "Dry run in GraphiQL" links) sends every query with
 * extensions: {"dryRun": true}: the response says what the query would release
 * (cells per field, disclosure methods, the agreement's budget) and releases nothing.
 * The schema's own introspection query is sent as usual. A notice above the editor
 * says so and links to the same query without the dry run.
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
  var dryRun = params.get("dryRun") === "true";

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
    if (dryRun) {
      next.set("dryRun", "true");
    }
    var search = next.toString();
    window.history.replaceState(
      null,
      "",
      window.location.pathname + (search ? "?" + search : "") + window.location.hash
    );
  }

  var realFetcher = GraphiQL.createFetcher({ url: fetchURL });
  var fetcher = realFetcher;
  if (dryRun) {
    fetcher = function (graphQLParams, options) {
      if (graphQLParams.operationName === "IntrospectionQuery") {
        return realFetcher(graphQLParams, options);
      }
      var extensions = Object.assign({}, graphQLParams.extensions, { dryRun: true });
      return realFetcher(Object.assign({}, graphQLParams, { extensions: extensions }), options);
    };
    showDryRunNote();
  }

  function showDryRunNote() {
    var note = document.getElementById("dry-run-note");
    if (!note) {
      return;
    }
    note.hidden = false;
    document.body.classList.add("dry-run");
    note.querySelector("a").addEventListener("click", function (event) {
      var next = new URLSearchParams(window.location.search);
      next.delete("dryRun");
      event.currentTarget.href = window.location.pathname + "?" + next.toString();
    });
  }
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
