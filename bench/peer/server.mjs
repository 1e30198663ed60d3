// The benchmark's peer (issue 20): node-oidc-provider, a certified OpenID Provider, configured like idp
// for the workloads both can serve, run as ONE Node process on a loopback port.
//
// bench/run.py starts it with BENCH_PEER_CONFIG (JSON, in the environment so that the client secrets
// stay off the command line):
//   {"issuer": "http://127.0.0.1:PORT", "port": PORT, "redis_url": "redis://127.0.0.1:P/1",
//    "access_token_ttl": 900,
//    "clients": [{"client_id": "...", "client_secret": "...", "format": "opaque" | "jwt", "alg": "RS256"}]}
//
// What is configured like idp: the same clients (client_credentials, client_secret_basic, same ids and
// secrets), opaque access tokens or RFC 9068 JWT access tokens signed RS256 / ES256 (per client, through
// features.resourceIndicators with a default resource, so the token request is the same
// "grant_type=client_credentials" body), the same access-token lifetime, introspection (RFC 7662), and
// its tokens kept in Redis through the adapter below, so that both pay for a store write per opaque token.
// node-oidc-provider does not store JWT access tokens (its own design); idp does, for introspection and
// revocation: that difference is part of what the comparison shows.

import { generateKeyPairSync, randomBytes } from 'node:crypto';

import Redis from 'ioredis';
import Provider from 'oidc-provider';

const cfg = JSON.parse(process.env.BENCH_PEER_CONFIG || '{}');
if (!cfg.issuer || !cfg.port || !cfg.redis_url || !Array.isArray(cfg.clients)) {
  console.error('BENCH_PEER_CONFIG must give issuer, port, redis_url and clients');
  process.exit(2);
}

// ----------------------------------------------------------------------------- Redis adapter
// The adapter interface of node-oidc-provider (lib/adapters/memory_adapter.js is the reference):
// upsert/find/findByUid/findByUserCode/consume/destroy/revokeByGrantId.  One SET with EX for a plain
// entry (a client-credentials token is exactly that); MULTI only when secondary indexes are needed.
const redis = new Redis(cfg.redis_url, { keyPrefix: 'peer:', lazyConnect: false });

const grantable = new Set([
  'AccessToken', 'AuthorizationCode', 'RefreshToken', 'DeviceCode', 'BackchannelAuthenticationRequest',
]);
const grantKeyFor = (id) => `grant:${id}`;
const userCodeKeyFor = (userCode) => `userCode:${userCode}`;
const uidKeyFor = (uid) => `uid:${uid}`;

class RedisAdapter {
  constructor(name) {
    this.name = name;
  }

  key(id) {
    return `${this.name}:${id}`;
  }

  async upsert(id, payload, expiresIn) {
    const key = this.key(id);
    const value = JSON.stringify(payload);
    const indexed = (grantable.has(this.name) && payload.grantId) || payload.userCode || payload.uid;
    if (!indexed) {
      await (expiresIn ? redis.set(key, value, 'EX', expiresIn) : redis.set(key, value));
      return;
    }
    const multi = redis.multi();
    if (expiresIn) multi.set(key, value, 'EX', expiresIn); else multi.set(key, value);
    if (grantable.has(this.name) && payload.grantId) {
      const grantKey = grantKeyFor(payload.grantId);
      multi.rpush(grantKey, key);
      if (expiresIn) multi.expire(grantKey, expiresIn, 'GT');
    }
    if (payload.userCode) {
      const userCodeKey = userCodeKeyFor(payload.userCode);
      if (expiresIn) multi.set(userCodeKey, id, 'EX', expiresIn); else multi.set(userCodeKey, id);
    }
    if (payload.uid) {
      const uidKey = uidKeyFor(payload.uid);
      if (expiresIn) multi.set(uidKey, id, 'EX', expiresIn); else multi.set(uidKey, id);
    }
    await multi.exec();
  }

  async find(id) {
    const data = await redis.get(this.key(id));
    return data ? JSON.parse(data) : undefined;
  }

  async findByUid(uid) {
    const id = await redis.get(uidKeyFor(uid));
    return id ? this.find(id) : undefined;
  }

  async findByUserCode(userCode) {
    const id = await redis.get(userCodeKeyFor(userCode));
    return id ? this.find(id) : undefined;
  }

  async consume(id) {
    const key = this.key(id);
    const data = await redis.get(key);
    if (!data) return;
    const payload = JSON.parse(data);
    payload.consumed = Math.floor(Date.now() / 1000);
    const ttl = await redis.ttl(key);
    await (ttl > 0 ? redis.set(key, JSON.stringify(payload), 'EX', ttl) : redis.set(key, JSON.stringify(payload)));
  }

  async destroy(id) {
    await redis.del(this.key(id));
  }

  async revokeByGrantId(grantId) {
    const grantKey = grantKeyFor(grantId);
    const tokens = await redis.lrange(grantKey, 0, -1);
    const multi = redis.multi();
    // The list holds the keys without ioredis' keyPrefix, which del() adds again.
    tokens.forEach((token) => multi.del(token));
    multi.del(grantKey);
    await multi.exec();
  }
}

// ----------------------------------------------------------------------------- keys and clients
// One RS256 (RSA 2048) and one ES256 (P-256) signing key, made at start-up like idp's `keys ensure`.
function jwk(privateKey, kid, alg) {
  return { ...privateKey.export({ format: 'jwk' }), kid, alg, use: 'sig' };
}
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
const jwks = { keys: [jwk(rsa, 'bench-rs256', 'RS256'), jwk(ec, 'bench-es256', 'ES256')] };

const RESOURCE = `${cfg.issuer}/resource`; // the audience of every client-credentials token
const ttl = Number(cfg.access_token_ttl || 900);
const byClient = new Map(cfg.clients.map((c) => [c.client_id, c]));

const provider = new Provider(cfg.issuer, {
  adapter: RedisAdapter,
  clients: cfg.clients.map((c) => ({
    client_id: c.client_id,
    client_secret: c.client_secret,
    grant_types: ['client_credentials'],
    response_types: [],
    redirect_uris: [],
    token_endpoint_auth_method: 'client_secret_basic',
  })),
  jwks,
  cookies: { keys: [randomBytes(32).toString('base64url')] },
  ttl: { AccessToken: ttl, ClientCredentials: ttl },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    revocation: { enabled: true },
    resourceIndicators: {
      enabled: true,
      // No `resource` parameter in the request (as with idp): every client gets the one resource server.
      defaultResource: async () => RESOURCE,
      useGrantedResource: async () => true,
      getResourceServerInfo: async (_ctx, resourceIndicator, client) => {
        const c = byClient.get(client.clientId);
        const info = { scope: 'api', audience: resourceIndicator, accessTokenTTL: ttl };
        if (c?.format === 'jwt') {
          return { ...info, accessTokenFormat: 'jwt', jwt: { sign: { alg: c.alg || 'RS256' } } };
        }
        return { ...info, accessTokenFormat: 'opaque' };
      },
    },
  },
});

provider.on('server_error', (_ctx, err) => console.error('server_error', err));

const server = provider.listen(cfg.port, '127.0.0.1', () => {
  console.log(`peer listening on ${cfg.issuer}`);
});

function stop() {
  server.close();
  redis.disconnect();
  process.exit(0);
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
