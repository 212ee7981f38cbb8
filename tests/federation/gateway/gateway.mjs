// A real Federation v2 gateway for the trust's tests (and a working example for partners).
//
//   node gateway.mjs --port 4000 --subgraph trust=http://127.0.0.1:8000/graphql \
//                    --subgraph dfe=http://127.0.0.1:4002/graphql [--forward-auth trust]
//
// 1. Fetches each subgraph's SDL with `{ _service { sdl } }`.
// 2. Composes the supergraph with @theguild/federation-composition (exits non-zero,
//    printing the composition errors, if the subgraphs do not compose).
// 3. Serves it with the Hive Gateway runtime over HTTP (POST /graphql).
//
// Headers: the caller's `Authorization` is forwarded only to the subgraphs named by
// --forward-auth (default: trust), never to other departments' services, and each
// subgraph request carries `X-Gql-Trust-Transport: gateway` so the trust's ledger can
// say how the request reached it. The W3C `traceparent`/`tracestate` go to every
// subgraph (trace context, not identity). No other client header is forwarded: the
// trust decides who the caller is from the verified token alone.
import { createServer } from "node:http";
import { parseArgs } from "node:util";

import { createGatewayRuntime } from "@graphql-hive/gateway-runtime";
import httpTransport from "@graphql-mesh/transport-http";
import { composeServices } from "@theguild/federation-composition";
import { parse } from "graphql";

const { values } = parseArgs({
  options: {
    port: { type: "string", default: "4000" },
    host: { type: "string", default: "127.0.0.1" },
    subgraph: { type: "string", multiple: true, default: [] },
    "forward-auth": { type: "string", multiple: true, default: ["trust"] },
    "print-supergraph": { type: "boolean", default: false },
  },
});

const subgraphs = values.subgraph.map((spec) => {
  const at = spec.indexOf("=");
  if (at < 1) throw new Error(`--subgraph takes NAME=URL, got ${JSON.stringify(spec)}`);
  return { name: spec.slice(0, at), url: spec.slice(at + 1) };
});
if (subgraphs.length === 0) {
  console.error("give at least one --subgraph NAME=URL");
  process.exit(2);
}

async function fetchSdl({ name, url }) {
  const response = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/json" },
    body: JSON.stringify({ query: "{ _service { sdl } }" }),
  });
  const body = await response.json();
  const sdl = body?.data?._service?.sdl;
  if (!response.ok || typeof sdl !== "string") {
    throw new Error(`subgraph ${name} (${url}) gave no SDL: ${JSON.stringify(body)}`);
  }
  return sdl;
}

const services = [];
for (const subgraph of subgraphs) {
  services.push({ ...subgraph, typeDefs: parse(await fetchSdl(subgraph)) });
}
const composed = composeServices(services);
if (composed.errors?.length) {
  console.error("composition failed:");
  for (const error of composed.errors) console.error(`  ${error.message}`);
  process.exit(1);
}
if (values["print-supergraph"]) {
  console.log(composed.supergraphSdl);
  process.exit(0);
}

const forwardAuth = new Set(values["forward-auth"]);
const gateway = createGatewayRuntime({
  supergraph: composed.supergraphSdl,
  transports: { http: httpTransport },
  logging: "error",
  propagateHeaders: {
    fromClientToSubgraphs({ request, subgraphName }) {
      const headers = { "x-gql-trust-transport": "gateway" };
      // W3C trace context: the caller's trace continues into every subgraph.
      for (const name of ["traceparent", "tracestate"]) {
        const value = request.headers.get(name);
        if (value) headers[name] = value;
      }
      const authorization = request.headers.get("authorization");
      if (authorization && forwardAuth.has(subgraphName)) headers.authorization = authorization;
      return headers;
    },
  },
});

const server = createServer(gateway);
server.listen(Number(values.port), values.host, () => {
  console.log(`gateway ready at http://${values.host}:${values.port}/graphql`);
});
for (const signal of ["SIGINT", "SIGTERM"]) {
  process.on(signal, () => {
    server.close();
    gateway.dispose?.();
    process.exit(0);
  });
}
