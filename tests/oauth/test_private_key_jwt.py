"""``private_key_jwt`` client authentication (RFC 7523 2.2 / OIDC Core 9): keys, audiences, lifetime,
replay, algorithms, and keys fetched from a ``jwks_uri`` with the SSRF guard."""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest
from flask import Flask
from joserfc import jwt
from joserfc.jwk import ECKey, OctKey, RSAKey

from . import helpers

ISSUER = "http://127.0.0.1:5000"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
RSA = RSAKey.generate_key(2048, parameters={"kid": "rsa-1"})
OTHER_RSA = RSAKey.generate_key(2048, parameters={"kid": "rsa-1"})  # same kid, different key
EC = ECKey.generate_key("P-256", parameters={"kid": "ec-1"})


def jwks(*keys: Any) -> dict[str, Any]:
    return {"keys": [k.as_dict(private=False) for k in keys]}


def pkjwt_client(app: Flask, *keys: Any, **metadata: Any) -> str:
    meta: dict[str, Any] = {"grant_types": ["client_credentials"], "response_types": [], "jwks": jwks(*keys)}
    meta.update(metadata)
    cid, _ = helpers.create_client(app, secret=None, auth_method="private_key_jwt", **meta)
    return cid


def assertion(client_id: str, key: Any = RSA, alg: str = "RS256", *, aud: Any = ISSUER + "/token",
              lifetime: int = 60, omit: tuple[str, ...] = (), **claims: Any) -> str:
    now = int(time.time())
    body: dict[str, Any] = {"iss": client_id, "sub": client_id, "aud": aud, "iat": now, "exp": now + lifetime,
                            "jti": secrets.token_hex(8)}
    body.update(claims)
    for name in omit:
        body.pop(name, None)
    header = {"alg": alg}
    if getattr(key, "kid", None):
        header["kid"] = key.kid
    return str(jwt.encode(header, body, key, algorithms=[alg]))


def b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def token_request(app: Flask, value: str, path: str = "/token", **extra: Any) -> Any:
    data = {"client_assertion_type": ASSERTION_TYPE, "client_assertion": value, **extra}
    if path == "/token":
        data.setdefault("grant_type", "client_credentials")
    return app.test_client().post(path, data=data)


def test_rs256_assertion_authenticates(app: Flask) -> None:
    cid = pkjwt_client(app, RSA)
    resp = token_request(app, assertion(cid))
    assert resp.status_code == 200, resp.get_json()
    assert resp.get_json()["access_token"]


@pytest.mark.parametrize("aud", [ISSUER, ISSUER + "/token", [ISSUER + "/token", "https://other.example"]])
def test_audiences(app: Flask, aud: Any) -> None:
    cid = pkjwt_client(app, RSA)
    assert token_request(app, assertion(cid, aud=aud)).status_code == 200


def test_es256_and_ps256(app: Flask) -> None:
    cid = pkjwt_client(app, RSA, EC)
    assert token_request(app, assertion(cid, EC, "ES256")).status_code == 200
    assert token_request(app, assertion(cid, RSA, "PS256")).status_code == 200


def test_assertion_without_kid(app: Flask) -> None:
    bare_rsa = RSAKey.import_key({k: v for k, v in RSA.as_dict(private=True).items() if k != "kid"})
    bare_ec = ECKey.import_key({k: v for k, v in EC.as_dict(private=True).items() if k != "kid"})
    cid = pkjwt_client(app, RSA, EC)
    assert token_request(app, assertion(cid, bare_rsa)).status_code == 200
    assert token_request(app, assertion(cid, bare_ec, "ES256")).status_code == 200


def test_registered_signing_alg_is_enforced(app: Flask) -> None:
    cid = pkjwt_client(app, RSA, EC, token_endpoint_auth_signing_alg="ES256")
    assert token_request(app, assertion(cid, EC, "ES256")).status_code == 200
    resp = token_request(app, assertion(cid, RSA, "RS256"))
    assert resp.get_json()["error"] == "invalid_client"


def test_replayed_assertion_is_refused(app: Flask) -> None:
    cid = pkjwt_client(app, RSA)
    value = assertion(cid)
    assert token_request(app, value).status_code == 200
    replay = token_request(app, value)
    assert replay.status_code == 400 and replay.get_json()["error"] == "invalid_client"


def test_jti_is_per_client(app: Flask) -> None:
    """The replay cache key is client_id + jti: another client may use the same jti."""
    a = pkjwt_client(app, RSA)
    b = pkjwt_client(app, RSA)
    assert token_request(app, assertion(a, jti="same")).status_code == 200
    assert token_request(app, assertion(b, jti="same")).status_code == 200


def _none_alg(cid: str) -> str:
    now = int(time.time())
    return b64({"alg": "none"}) + "." + b64({"iss": cid, "sub": cid, "aud": ISSUER + "/token",
                                             "exp": now + 60, "jti": "x"}) + "."


def _hs256(cid: str) -> str:
    # Signed with an HMAC key made of the public modulus: the classic algorithm-confusion trick.
    key = OctKey.import_key(RSA.as_dict(private=False)["n"].encode())
    now = int(time.time())
    return str(jwt.encode({"alg": "HS256", "kid": "rsa-1"},
                          {"iss": cid, "sub": cid, "aud": ISSUER + "/token", "exp": now + 60, "jti": "y"},
                          key, algorithms=["HS256"]))


BAD: list[tuple[str, Callable[[str], str]]] = [
    ("other key", lambda cid: assertion(cid, OTHER_RSA)),
    ("expired", lambda cid: assertion(cid, lifetime=-300)),
    ("too long-lived", lambda cid: assertion(cid, lifetime=4000)),
    ("a day", lambda cid: assertion(cid, lifetime=86400)),
    ("no exp", lambda cid: assertion(cid, omit=("exp",))),
    ("string exp", lambda cid: assertion(cid, exp="9999999999")),
    ("no jti", lambda cid: assertion(cid, omit=("jti",))),
    ("numeric jti", lambda cid: assertion(cid, jti=5)),
    ("wrong aud", lambda cid: assertion(cid, aud="https://evil.example/token")),
    ("no aud", lambda cid: assertion(cid, omit=("aud",))),
    ("iss differs", lambda cid: assertion(cid, iss="someone-else")),
    ("no iss", lambda cid: assertion(cid, omit=("iss",))),
    ("unknown sub", lambda cid: assertion("nobody", iss="nobody")),
    ("sub not string", lambda cid: assertion(cid, sub=123, iss=123)),
    ("no sub", lambda cid: assertion(cid, omit=("sub",))),
    ("alg none", _none_alg),
    ("HS256 confusion", _hs256),
    ("not before in future", lambda cid: assertion(cid, nbf=int(time.time()) + 600)),
    ("garbage", lambda cid: "abc"),
    ("three dots", lambda cid: "a.b.c"),
    ("payload not object", lambda cid: b64({"alg": "RS256"}) + "." + b64([1]) + ".sig"),  # type: ignore[arg-type]
    ("huge", lambda cid: "a" * 20000),
    ("empty", lambda cid: ""),
]


@pytest.mark.parametrize("make", [pytest.param(m, id=i) for i, m in BAD])
def test_bad_assertions(app: Flask, make: Callable[[str], str]) -> None:
    cid = pkjwt_client(app, RSA)
    resp = token_request(app, make(cid))
    assert resp.status_code in (400, 401), resp.get_data(as_text=True)
    assert resp.get_json()["error"] == "invalid_client"
    assert "access_token" not in resp.get_json()


def test_secret_client_cannot_use_assertions(app: Flask) -> None:
    cid, _ = helpers.create_client(app, grant_types=["client_credentials"], response_types=[],
                                   jwks=jwks(RSA))
    resp = token_request(app, assertion(cid))
    assert resp.get_json()["error"] == "invalid_client"


def test_pkjwt_client_cannot_use_none(app: Flask) -> None:
    cid = pkjwt_client(app, RSA)
    resp = app.test_client().post("/token", data={"grant_type": "client_credentials", "client_id": cid})
    assert resp.get_json()["error"] == "invalid_client"


@pytest.mark.parametrize("path", ["/introspect", "/revoke"])
def test_other_endpoints_accept_their_url_as_audience(app: Flask, path: str) -> None:
    cid = pkjwt_client(app, RSA)
    resp = token_request(app, assertion(cid, aud=ISSUER + path), path=path, token="unknown")
    assert resp.status_code == 200, resp.get_json()


@pytest.mark.parametrize("aud,path", [(ISSUER + "/introspect", "/revoke"), (ISSUER + "/revoke", "/token"),
                                      (ISSUER + "/revoke", "/introspect")])
def test_another_endpoints_url_is_not_an_audience(app: Flask, aud: str, path: str) -> None:
    cid = pkjwt_client(app, RSA)
    resp = token_request(app, assertion(cid, aud=aud), path=path, token="unknown")
    assert resp.get_json()["error"] == "invalid_client"


def test_code_flow_with_private_key_jwt(make_rp: Callable[..., Any]) -> None:
    rp = make_rp(secret=None, auth_method="private_key_jwt", jwks=jwks(RSA))
    verifier, challenge = helpers.pkce_pair()
    code, _ = rp.get_code(code_challenge=challenge, code_challenge_method="S256")
    resp = rp.browser.post("/token", data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": rp.redirect_uri,
        "code_verifier": verifier, "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": assertion(rp.client_id)})
    assert resp.status_code == 200, resp.get_json()
    assert resp.get_json()["id_token"]


# --------------------------------------------------------------------------- jwks_uri
class _JWKSHandler(BaseHTTPRequestHandler):
    body = b"{}"
    hits = 0

    def do_GET(self) -> None:  # noqa: N802 - http.server API
        type(self).hits += 1
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(type(self).body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def jwks_server() -> Iterator[tuple[str, type[_JWKSHandler]]]:
    handler = type("Handler", (_JWKSHandler,), {"body": json.dumps(jwks(RSA)).encode(), "hits": 0})
    server = HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/jwks.json", handler
    server.shutdown()
    server.server_close()


def test_jwks_uri_fetched_and_cached(oauth_app: Callable[..., Flask],
                                     jwks_server: tuple[str, type[_JWKSHandler]]) -> None:
    app = oauth_app(JWKS_URI_ALLOW_LOOPBACK=True)
    uri, handler = jwks_server
    cid = pkjwt_client(app, jwks=None, jwks_uri=uri)
    assert token_request(app, assertion(cid)).status_code == 200
    assert token_request(app, assertion(cid)).status_code == 200
    assert handler.hits == 1  # cached
    assert token_request(app, assertion(cid, OTHER_RSA)).get_json()["error"] == "invalid_client"


def test_jwks_uri_on_loopback_refused_by_default(app: Flask, jwks_server: tuple[str, type[_JWKSHandler]]) -> None:
    uri, handler = jwks_server
    cid = pkjwt_client(app, jwks=None, jwks_uri=uri)  # written straight to the database
    resp = token_request(app, assertion(cid))
    assert resp.get_json()["error"] == "invalid_client"
    assert handler.hits == 0  # the SSRF guard never sent the request


@pytest.mark.parametrize("uri", ["https://169.254.169.254/latest/meta-data", "https://10.0.0.1/jwks",
                                 "https://localhost/jwks", "https://[::1]/jwks", "https://0.0.0.0/jwks",
                                 "https://192.168.1.1:8443/jwks", "http://example.org/jwks",
                                 "https://no-such-host.invalid/jwks", "file:///etc/passwd"])
def test_jwks_uri_ssrf_guard(app: Flask, uri: str) -> None:
    cid = pkjwt_client(app, jwks=None, jwks_uri=uri)  # as if stored before the rules tightened
    resp = token_request(app, assertion(cid))
    assert resp.status_code == 400 and resp.get_json()["error"] == "invalid_client"


@pytest.mark.parametrize("body", [b"not json", b"[]", json.dumps({"keys": []}).encode(),
                                  json.dumps({"keys": [RSA.as_dict(private=True)]}).encode(),
                                  b"x" * 70000])
def test_bad_jwks_documents(oauth_app: Callable[..., Flask], jwks_server: tuple[str, type[_JWKSHandler]],
                            body: bytes) -> None:
    app = oauth_app(JWKS_URI_ALLOW_LOOPBACK=True)
    uri, handler = jwks_server
    handler.body = body
    cid = pkjwt_client(app, jwks=None, jwks_uri=uri)
    resp = token_request(app, assertion(cid))
    assert resp.status_code == 400 and resp.get_json()["error"] == "invalid_client"


def test_unreachable_jwks_uri(oauth_app: Callable[..., Flask]) -> None:
    from tests import services

    app = oauth_app(JWKS_URI_ALLOW_LOOPBACK=True, JWKS_URI_TIMEOUT=1)
    cid = pkjwt_client(app, jwks=None, jwks_uri=f"http://127.0.0.1:{services.free_port()}/jwks")
    assert token_request(app, assertion(cid)).get_json()["error"] == "invalid_client"


def test_authlib_private_key_jwt_client(live_server: Callable[..., Any]) -> None:
    """Authlib's own PrivateKeyJWT client authentication works unmodified against a real server."""
    from authlib.integrations.requests_client import OAuth2Session
    from authlib.oauth2.rfc7523 import PrivateKeyJWT

    from .conftest import TEST_DATA_KEY

    server = live_server(DATA_KEYS=[TEST_DATA_KEY])
    cid = pkjwt_client(server.app, RSA)
    token_url = server.url + "/token"
    session = OAuth2Session(cid, RSA.as_dict(private=True), token_endpoint_auth_method=PrivateKeyJWT(token_url))
    token = session.fetch_token(token_url, grant_type="client_credentials")
    assert token["access_token"] and "refresh_token" not in token
