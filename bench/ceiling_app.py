"""The framework ceiling and the library floor, served by the same server command as the provider.

``GET /ping`` is the ceiling: a bare Flask JSON endpoint.  Every workload of ``bench/run.py`` is also
reported as a fraction of its requests per CPU-second, so results compare across machines and show how
much of the cost is the provider's own.

``POST /token``, ``POST /introspect`` and ``GET /userinfo`` are the floor (issue 20): the smallest
token endpoint that can be built on the provider's stack (Flask, Authlib's ``AuthorizationServer`` and
``ClientCredentialsGrant``, redis-py with hiredis, joserfc), doing only what the issue names as the
irreducible work of a token: authenticate the client from memory, make a random value (or sign a JWT
with a key parsed once), one Redis write, the JSON answer; introspection and userinfo read the token's
record with one Redis read, and userinfo the person's row with one PostgreSQL read by primary key (as the
provider must: claims are current, and personal data is not copied into the cache).  No hooks, no audit,
no limits, no metrics, no security headers, no sessions, no other database work.  Its rate is the highest
any provider keeping Flask and Authlib's grant machinery could reach here; the benchmark reports it
beside the provider and the peer (``floor_*`` rows), so a target above the floor is visibly out of reach
for this stack rather than a defect of the provider.
"""

from __future__ import annotations

import hmac
import json
import os
import secrets
import time
from typing import Any

import redis
import sqlalchemy as sa
from authlib.integrations.flask_oauth2 import AuthorizationServer, ResourceProtector, current_token
from authlib.oauth2.rfc6749 import ClientMixin, TokenMixin, grants
from authlib.oauth2.rfc6750 import BearerTokenGenerator, BearerTokenValidator
from authlib.oauth2.rfc7662 import IntrospectionEndpoint
from flask import Flask, Response, jsonify
from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey

app = Flask(__name__)

# The floor's clients, with the secret the benchmark gives this process (client_secret_basic).  The access
# token format of each is what the provider's three service clients have (opaque, RFC 9068 RS256, ES256).
FLOOR_CLIENTS = {"floor-opaque": "", "floor-rs256": "RS256", "floor-es256": "ES256"}
FLOOR_SECRET = os.environ.get("BENCH_FLOOR_SECRET") or secrets.token_urlsafe(24)
TOKEN_TTL = 900


@app.get("/ping")
def ping() -> Response:
    """A small JSON answer with no work behind it."""
    return jsonify(status="ok")


class _Client(ClientMixin):
    """A confidential client that may use client credentials with HTTP Basic authentication."""

    def __init__(self, client_id: str, alg: str) -> None:
        self.client_id = client_id
        self.alg = alg

    def get_client_id(self) -> str:
        return self.client_id

    def get_allowed_scope(self, scope: str) -> str:
        return ""

    def check_client_secret(self, client_secret: str) -> bool:
        return hmac.compare_digest(client_secret.encode(), FLOOR_SECRET.encode())

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method == "client_secret_basic"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "client_credentials"


class _Grant(grants.ClientCredentialsGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic"]  # noqa: RUF012 (Authlib's class attribute)


_clients = {cid: _Client(cid, alg) for cid, alg in FLOOR_CLIENTS.items()}
_keys: dict[str, RSAKey | ECKey] = {"RS256": RSAKey.generate_key(2048, parameters={"kid": "floor-rs"}),
         "ES256": ECKey.generate_key("P-256", parameters={"kid": "floor-es"})}
_store = redis.Redis.from_url(os.environ.get("IDP_REDIS_URL") or "redis://127.0.0.1:6379/0")
# UserInfo's claims come from the database, as the provider's must (current, and personal data is not
# copied into the cache): the floor reads one person of the provider's table by primary key, with one
# statement built once, on a pooled connection in autocommit.  Without a database it answers from the
# token's record.
_db_url = os.environ.get("IDP_DATABASE_URL", "")
_engine = (sa.create_engine(_db_url.replace("postgresql://", "postgresql+psycopg://", 1),
                            isolation_level="AUTOCOMMIT", pool_size=5)
           if _db_url.startswith("postgresql") else None)
_people = sa.table("people", sa.column("id"), sa.column("sub"), sa.column("name"), sa.column("email"),
                   sa.column("email_verified"), sa.column("locale"))
_person_row = sa.select(_people).where(_people.c.id == sa.bindparam("person_id"))
_issuer = os.environ.get("IDP_ISSUER", "http://127.0.0.1")


def _access_token(client: _Client, **_: Any) -> str:
    if not client.alg:
        return secrets.token_urlsafe(32)
    now = int(time.time())
    claims = {"iss": _issuer, "sub": client.client_id, "client_id": client.client_id,
              "aud": _issuer + "/userinfo", "iat": now, "exp": now + TOKEN_TTL, "jti": secrets.token_urlsafe(16),
              "scope": ""}
    key = _keys[client.alg]
    return jwt.encode({"alg": client.alg, "kid": key.kid, "typ": "at+jwt"}, claims, key)


def _save_token(token: dict[str, Any], request: Any) -> None:
    # One store write per token, as the provider (and the peer, through its Redis adapter) does.  The
    # record carries a profile so that the floor's userinfo needs no other read.
    now = int(time.time())
    record = {"client_id": request.client.client_id, "scope": "openid profile", "iat": now,
              "exp": now + TOKEN_TTL, "grant": "client_credentials",
              "claims": {"sub": request.client.client_id, "name": "Floor Bench", "locale": "id"}}
    _store.set("floor:at:" + token["access_token"], json.dumps(record), ex=TOKEN_TTL)


class _Token(TokenMixin):
    """A stored access token as Authlib's introspection and resource protector see it."""

    def __init__(self, record: dict[str, Any]) -> None:
        self.record = record

    def check_client(self, client: Any) -> bool:
        return bool(client.client_id == self.record["client_id"])

    def get_scope(self) -> str:
        return str(self.record["scope"])

    def get_expires_in(self) -> int:
        return int(self.record["exp"]) - int(self.record["iat"])

    def is_expired(self) -> bool:
        return int(self.record["exp"]) < time.time()

    def is_revoked(self) -> bool:
        return False


def _find(value: str) -> _Token | None:
    raw = _store.get("floor:at:" + value)  # one store read per request
    return _Token(json.loads(raw)) if raw else None


class _Introspection(IntrospectionEndpoint):
    CLIENT_AUTH_METHODS = ["client_secret_basic"]  # noqa: RUF012 (Authlib's class attribute)

    def query_token(self, token_string: str, token_type_hint: str | None) -> _Token | None:
        return _find(token_string)

    def check_permission(self, token: _Token, client: Any, request: Any) -> bool:
        return True

    def introspect_token(self, token: _Token) -> dict[str, Any]:
        r = token.record
        return {"active": True, "client_id": r["client_id"], "token_type": "Bearer", "scope": r["scope"],
                "sub": r["claims"]["sub"], "iss": _issuer, "exp": r["exp"], "iat": r["iat"]}


class _Bearer(BearerTokenValidator):
    def authenticate_token(self, token_string: str) -> _Token | None:
        return _find(token_string)


server = AuthorizationServer(app, query_client=_clients.get, save_token=_save_token)
server.register_grant(_Grant)
server.register_token_generator("client_credentials",
                                BearerTokenGenerator(_access_token, expires_generator=lambda *_: TOKEN_TTL))
server.register_endpoint(_Introspection)
protect = ResourceProtector()
protect.register_token_validator(_Bearer())


@app.post("/token")
def token() -> Response:
    """The floor's token endpoint: Authlib's grant machinery and nothing of ours."""
    return server.create_token_response()


@app.post("/introspect")
def introspect() -> Response:
    """The floor's introspection (RFC 7662): Authlib's endpoint, the token from one Redis read."""
    return server.create_endpoint_response("introspection")


@app.get("/userinfo")
@protect("openid")
def userinfo() -> Response:
    """The floor's userinfo: Authlib's resource protector, the claims from one read of the person's row."""
    if _engine is None:
        return jsonify(current_token.record["claims"])
    with _engine.connect() as conn:
        row = conn.execute(_person_row, {"person_id": 1}).mappings().first()  # the demo citizen
    claims = {k: v for k, v in (row or {}).items() if k != "id" and v is not None}
    return jsonify(claims)
