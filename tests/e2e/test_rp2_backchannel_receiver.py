"""App 2's Back-Channel Logout receiver (OIDC Back-Channel Logout 1.0 section 2.6) against hostile tokens,
signed with keys made here and served by a tiny JWKS server, posted to the real app 2 process."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests
from joserfc import jwt
from joserfc.jwk import KeySet, OctKey, RSAKey

from tests.e2e.sso_support import run_rp2

pytestmark = pytest.mark.e2e

CLIENT = "perizinan-test"
EVENT = {"http://schemas.openid.net/event/backchannel-logout": {}}
GOOD = RSAKey.generate_key(2048, parameters={"kid": "good"})
OTHER = RSAKey.generate_key(2048, parameters={"kid": "good"})  # same kid, different key: a forgery
LATE = RSAKey.generate_key(2048, parameters={"kid": "late"})  # published only after the first fetch


@pytest.fixture(scope="module")
def issuer() -> Iterator[dict[str, Any]]:
    """A tiny issuer: discovery + JWKS over HTTP; ``state['keys']`` is what /jwks.json serves now."""
    state: dict[str, Any] = {"keys": [GOOD], "fetches": 0}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server API
            base = f"http://127.0.0.1:{self.server.server_address[1]}"
            if self.path == "/.well-known/openid-configuration":
                body: dict[str, Any] = {"issuer": base, "jwks_uri": f"{base}/jwks.json",
                                        "authorization_endpoint": f"{base}/authorize",
                                        "token_endpoint": f"{base}/token"}
            elif self.path == "/jwks.json":
                state["fetches"] += 1
                body = KeySet(state["keys"]).as_dict(private=False)
            else:
                self.send_error(404)
                return
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state["url"] = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        with run_rp2(state["url"], CLIENT, "unused") as rp:
            state["rp"] = rp
            yield state
    finally:
        server.shutdown()
        server.server_close()


def claims(issuer: dict[str, Any], **changes: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {"iss": issuer["url"], "aud": CLIENT, "iat": now, "exp": now + 120, "jti": f"j{time.monotonic_ns()}",
            "sid": "s-1", "sub": "u-1", "events": EVENT}
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def sign(payload: dict[str, Any], key: Any = GOOD, alg: str = "RS256") -> str:
    return str(jwt.encode({"alg": alg, "kid": key.kid, "typ": "logout+jwt"}, payload, key, algorithms=[alg]))


def unsigned(payload: dict[str, Any]) -> str:
    import base64

    def part(obj: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()
    return f"{part({'alg': 'none', 'kid': 'good'})}.{part(payload)}."


def post(issuer: dict[str, Any], data: Any) -> requests.Response:
    return requests.post(f"{issuer['rp']}/backchannel-logout", data=data, timeout=10)


def test_valid_token_accepted(issuer: dict[str, Any]) -> None:
    response = post(issuer, {"logout_token": sign(claims(issuer))})
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    only_sub = post(issuer, {"logout_token": sign(claims(issuer, sid=None))})
    assert only_sub.status_code == 200
    only_sid = post(issuer, {"logout_token": sign(claims(issuer, sub=None))})
    assert only_sid.status_code == 200


HOSTILE: list[tuple[str, Any]] = [
    ("other key, same kid", lambda i: sign(claims(i), OTHER)),
    ("wrong aud", lambda i: sign(claims(i, aud="someone-else"))),
    ("aud list without us", lambda i: sign(claims(i, aud=["a", "b"]))),
    ("wrong iss", lambda i: sign(claims(i, iss="http://evil.example"))),
    ("expired", lambda i: sign(claims(i, iat=int(time.time()) - 3600, exp=int(time.time()) - 3000))),
    ("iat far future", lambda i: sign(claims(i, iat=int(time.time()) + 3600, exp=int(time.time()) + 7200))),
    ("no exp", lambda i: sign(claims(i, exp=None))),
    ("string iat", lambda i: sign(claims(i, iat="now"))),
    ("with nonce", lambda i: sign(claims(i, nonce="n"))),
    ("without events", lambda i: sign(claims(i, events=None))),
    ("events wrong type", lambda i: sign(claims(i, events={"http://schemas.openid.net/event/backchannel-logout": 1}))),
    ("events other", lambda i: sign(claims(i, events={"urn:other": {}}))),
    ("no sid no sub", lambda i: sign(claims(i, sid=None, sub=None))),
    ("sid not a string", lambda i: sign(claims(i, sid=5))),
    ("alg none", lambda i: unsigned(claims(i))),
    ("HS256 symmetric", lambda i: sign(claims(i), OctKey.import_key("x" * 32, {"kid": "good"}), "HS256")),
    ("tampered payload", lambda i: (lambda t: t.rsplit(".", 1)[0][:-2] + "AA." + t.rsplit(".", 1)[1])(
        sign(claims(i)))),
    ("garbage", lambda i: "a.b.c"),
    ("not a JWT", lambda i: "hello"),
    ("non-JSON header", lambda i: "bm90IGpzb24.e30.sig"),
    ("header a JSON list", lambda i: "WzFd.e30.sig"),
    ("kid not a string", lambda i: "eyJhbGciOiJSUzI1NiIsImtpZCI6NX0.e30.c2ln"),  # {"alg":"RS256","kid":5}
    ("payload a JSON list", lambda i: "eyJhbGciOiJSUzI1NiJ9.WzFd.c2ln"),
    ("huge", lambda i: "a" * 20000 + ".b.c"),
    ("empty", lambda i: ""),
]


@pytest.mark.parametrize(("what", "make"), HOSTILE, ids=[h[0] for h in HOSTILE])
def test_hostile_tokens_refused(issuer: dict[str, Any], what: str, make: Any) -> None:
    response = post(issuer, {"logout_token": make(issuer)})
    assert response.status_code == 400, what
    assert response.json()["error"] == "invalid_request"


@pytest.mark.parametrize("data", [None, {"logout_token": ["a", "b"]}, {"other": "x"}])
def test_missing_token_refused(issuer: dict[str, Any], data: Any) -> None:
    response = post(issuer, data)
    assert response.status_code == 400


def test_unknown_kid_refetches_jwks(issuer: dict[str, Any]) -> None:
    post(issuer, {"logout_token": sign(claims(issuer))})
    before = issuer["fetches"]
    issuer["keys"] = [GOOD, LATE]
    try:
        time.sleep(10.5)  # the receiver refetches at most every 10 s
        response = post(issuer, {"logout_token": sign(claims(issuer), LATE)})
        assert response.status_code == 200
        assert issuer["fetches"] == before + 1
    finally:
        issuer["keys"] = [GOOD]
