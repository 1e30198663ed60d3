// Sign in with Banten SSO: Node.js + openid-client 6, the authorization code flow with PKCE (S256).
// npm install openid-client; then: SSO_CLIENT_SECRET=... PORT=... node app.mjs
import http from "node:http";
import * as client from "openid-client";

const issuer = new URL({{ issuer | q }});
const redirect_uri = {{ redirect_uri | q }};
const config = await client.discovery(issuer, {{ client_id | q }}, process.env.SSO_CLIENT_SECRET,
  {% if auth_method == "none" %}client.None(){% elif auth_method == "client_secret_post" %}client.ClientSecretPost(process.env.SSO_CLIENT_SECRET){% else %}client.ClientSecretBasic(process.env.SSO_CLIENT_SECRET){% endif %},
  // plain http is for development on your own machine only
  issuer.protocol === "http:" ? { execute: [client.allowInsecureRequests] } : undefined);

const pending = new Map(); // state -> code_verifier (a real application keeps it in the user's session)

async function handle(req, res) {
  const url = new URL(req.url, redirect_uri);
  if (url.pathname === "/login") {
    const code_verifier = client.randomPKCECodeVerifier();
    const state = client.randomState();
    pending.set(state, code_verifier);
    const target = client.buildAuthorizationUrl(config, {
      redirect_uri, scope: {{ scope | q }}, state,
      code_challenge: await client.calculatePKCECodeChallenge(code_verifier), code_challenge_method: "S256",
    });
    res.writeHead(302, { location: target.href }).end();
  } else if (url.pathname === new URL(redirect_uri).pathname) {
    const state = url.searchParams.get("state");
    const tokens = await client.authorizationCodeGrant(config, url,
      { pkceCodeVerifier: pending.get(state), expectedState: state });
    pending.delete(state);
    const claims = tokens.claims(); // checked ID token; claims.sub is the person's key
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ sub: claims.sub }));
  } else {
    res.writeHead(404).end();
  }
}

http.createServer((req, res) => handle(req, res).catch((err) => {
  console.error(err);
  res.writeHead(500).end();
})).listen(Number(process.env.PORT) || 3000, "127.0.0.1");
