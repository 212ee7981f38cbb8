// The GraphQL-over-HTTP audit of the `graphql-http` package, run against a live server.
//
//   node audit.mjs --url http://127.0.0.1:8000/graphql
//
// Prints one JSON object: {"results": [{"id", "name", "status", "reason"}...]}, where
// status is "ok", "warn" (a SHOULD failed) or "error" (a MUST failed).
import { parseArgs } from "node:util";

import { auditServer } from "graphql-http";

const { values } = parseArgs({ options: { url: { type: "string" } } });
if (!values.url) {
  console.error("give --url URL");
  process.exit(2);
}
const results = await auditServer({ url: values.url });
const shown = [];
for (const result of results) {
  const item = { id: result.id, name: result.name, status: result.status };
  if (result.status !== "ok") {
    item.reason = result.reason;
    item.response = await result.response.text().catch(() => "");
    item.responseStatus = result.response.status;
    item.responseType = result.response.headers.get("content-type");
  }
  shown.push(item);
}
console.log(JSON.stringify({ results: shown }));
