// A tiny relying party built on an unmodified openid-client v6 (see test_openid_client.py).
// Env: ISSUER, CLIENT_ID, CLIENT_SECRET, PORT, AUTH_METHOD (client_secret_basic, or unset for the
// library's default, client_secret_post).
import http from 'node:http';
import * as client from 'openid-client';

const { ISSUER, CLIENT_ID, CLIENT_SECRET, AUTH_METHOD } = process.env;
const PORT = Number(process.env.PORT);
const base = `http://127.0.0.1:${PORT}`;
const redirect_uri = `${base}/callback`;
const pending = new Map(); // state -> { verifier, nonce }
let config;

async function getConfig() {
  // Plain http on loopback needs the explicit opt-in.
  // openid-client v6 uses client_secret_post unless told otherwise; client_secret_basic form-urlencodes
  // the client id and secret (RFC 6749 2.3.1) before base64.
  const auth = AUTH_METHOD === 'client_secret_basic' ? client.ClientSecretBasic(CLIENT_SECRET) : undefined;
  config ??= await client.discovery(new URL(ISSUER), CLIENT_ID, CLIENT_SECRET, auth, {
    execute: [client.allowInsecureRequests],
  });
  return config;
}

function send(res, status, body) {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

async function handle(req, res) {
  const url = new URL(req.url, base);
  if (url.pathname === '/login') {
    const cfg = await getConfig();
    const verifier = client.randomPKCECodeVerifier();
    const code_challenge = await client.calculatePKCECodeChallenge(verifier);
    const state = client.randomState();
    const nonce = client.randomNonce();
    pending.set(state, { verifier, nonce });
    const target = client.buildAuthorizationUrl(cfg, {
      redirect_uri, scope: 'openid profile email', code_challenge, code_challenge_method: 'S256', state, nonce,
    });
    res.writeHead(302, { location: target.href });
    res.end();
    return;
  }
  if (url.pathname === '/callback') {
    const cfg = await getConfig();
    const state = url.searchParams.get('state');
    const saved = pending.get(state);
    if (!saved) return send(res, 400, { error: 'unknown state' });
    pending.delete(state);
    const tokens = await client.authorizationCodeGrant(cfg, url, {
      pkceCodeVerifier: saved.verifier, expectedState: state, expectedNonce: saved.nonce,
    });
    const claims = tokens.claims();
    const userinfo = await client.fetchUserInfo(cfg, tokens.access_token, claims.sub);
    return send(res, 200, { claims, userinfo });
  }
  send(res, 404, { error: 'not found' });
}

http.createServer((req, res) => {
  handle(req, res).catch((err) => {
    console.error(err);
    send(res, 500, { error: String(err && err.message), code: err && err.code, cause: JSON.stringify(err && err.cause) ?? null });
  });
}).listen(PORT, '127.0.0.1');
