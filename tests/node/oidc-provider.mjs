// A real OpenID provider (panva's oidc-provider) on loopback, for the identity tests.
//
//   node oidc-provider.mjs --port 4100 --config provider.json
//
// provider.json: {"issuer": "http://127.0.0.1:4100", "audience": "...",
//                 "jwks": {"keys": [<private JWKs>]}, "alg": "ES256",
//                 "clients": [{"client_id", "client_secret", "claims": {...}}]}
// Clients authenticate with client credentials (client_secret_basic) and get JWT access
// tokens for `audience`, signed with the first key of `jwks` (rotation: restart with a
// new key first), carrying each client's `claims` as the provider's own claim names.
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";

import Provider from "oidc-provider";

const { values } = parseArgs({
  options: { port: { type: "string" }, config: { type: "string" } },
});
const config = JSON.parse(readFileSync(values.config, "utf8"));
const claimsOf = new Map(config.clients.map((c) => [c.client_id, c.claims ?? {}]));
const alg = config.alg ?? "ES256";
const signingKid = config.jwks.keys[0].kid;

const provider = new Provider(config.issuer, {
  jwks: config.jwks,
  clients: config.clients.map(({ client_id, client_secret }) => ({
    client_id,
    client_secret,
    grant_types: ["client_credentials"],
    redirect_uris: [],
    response_types: [],
    id_token_signed_response_alg: alg,
  })),
  features: {
    clientCredentials: { enabled: true },
    devInteractions: { enabled: false },
    introspection: { enabled: false },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => config.audience,
      useGrantedResource: () => true,
      getResourceServerInfo: (ctx, resource) => {
        if (resource !== config.audience) throw new Error(`unknown resource ${resource}`);
        return {
          scope: "",
          audience: config.audience,
          accessTokenTTL: 600,
          accessTokenFormat: "jwt",
          jwt: { sign: { alg, kid: signingKid } },
        };
      },
    },
  },
  extraTokenClaims: (ctx, token) => claimsOf.get(token.clientId),
});
provider.on("server_error", (ctx, error) => console.error("server_error", error));

const server = provider.listen(Number(values.port), "127.0.0.1", () => {
  console.log(`provider ready at ${config.issuer}`);
});
server.on("request", (request) => console.log(`${request.method} ${request.url}`));
for (const signal of ["SIGINT", "SIGTERM"]) {
  process.on(signal, () => {
    server.close();
    process.exit(0);
  });
}
