"""The five 500s found by fuzzing from outside (issue 21), each replayed as the attacker sent it, and the
last-resort barrier: an exception no handler expects gives the error page, one log record, one count.
"""

from __future__ import annotations

import base64
import json
import logging
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask, g
from joserfc import jws
from prometheus_client import REGISTRY
from werkzeug.serving import make_server

from idp.oauth import untrusted
from tests.oauth import helpers
from tests.oauth.conftest import RP
from tests.oauth.test_private_key_jwt import ISSUER, RSA, assertion, pkjwt_client, token_request

LONG_LABEL = "a" * 64  # RFC 1035 2.3.4: labels are 63 octets or less; IDNA refuses longer ones


def _unhandled() -> float:
    return REGISTRY.get_sample_value("idp_unhandled_exceptions_total") or 0.0


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


# --------------------------------------------------------------------------- 1. Host label > 63
@pytest.mark.parametrize("host", [LONG_LABEL, LONG_LABEL + ".example.org", "x." + LONG_LABEL + ":5000"])
@pytest.mark.parametrize("path", ["/", "/authorize?client_id=x", "/account/", "/no-such-page"])
def test_overlong_host_label_gets_the_error_page(app: Flask, host: str, path: str) -> None:
    before = _unhandled()
    resp = app.test_client().get(path, headers={"Host": host})
    assert resp.status_code == 400
    assert resp.mimetype == "text/html"
    body = resp.get_data(as_text=True)
    assert "invalid_request" in body and "/static/css/idp.css" in body  # the friendly page, links built
    assert _unhandled() == before


@pytest.mark.parametrize("path", ["/token", "/userinfo", "/introspect"])
def test_overlong_host_label_at_api_endpoints(app: Flask, path: str) -> None:
    resp = app.test_client().post(path, headers={"Host": LONG_LABEL})
    assert resp.status_code == 400
    assert resp.get_json()["error"] == "invalid_request"


@pytest.fixture
def served(app: Flask) -> Iterator[int]:
    """The app behind werkzeug's own HTTP server (what ``make run`` uses), on a free port."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.port
    finally:
        server.shutdown()
        thread.join(5)


def _raw_get(port: int, path: str, host: str) -> tuple[int, bytes]:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode("latin-1"))
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    status = int(data.split(b" ", 2)[1])
    return status, data


def test_overlong_host_label_over_real_http(served: int) -> None:
    status, data = _raw_get(served, "/", LONG_LABEL)
    assert status == 400, data[:300]
    assert b"invalid_request" in data and b"Traceback" not in data


@pytest.mark.parametrize("path", ["/?lang=\xb2", "/login?next=\xff\xfe", "/authorize?client_id=\xed\xa0\x80"])
def test_raw_non_utf8_query_bytes_over_real_http(served: int, path: str) -> None:
    # werkzeug's server percent-encodes these itself; servers that pass them on raw (PEP 3333 latin-1) are
    # covered at the WSGI level by test_http_fuzz (where request.args used to raise UnicodeDecodeError).
    status, data = _raw_get(served, path, "127.0.0.1")
    assert status < 500, data[:300]


# --------------------------------------------------------------------------- 2. max_age digits
@pytest.mark.parametrize("value", ["\u00b2", "1\u00b2", "\u0663", "\uff11", "\U0001d7d7", "\u2460", "\u00bd",
                                   "-1", "+1", " 1", "1.5", "1e3", "0x10", "12345678901"])
def test_max_age_takes_ascii_digits_only(rp: RP, value: str) -> None:
    resp = rp.authorize(max_age=value)
    assert resp.status_code == 302, resp.get_data(as_text=True)[:300]
    q = helpers.query(resp.headers["Location"])
    assert q["error"] == "invalid_request" and "max_age" in q["error_description"], q


def test_max_age_ascii_still_works(rp: RP) -> None:
    resp = rp.authorize(max_age="3600")
    assert resp.status_code == 302
    assert "code" in helpers.query(resp.headers["Location"])


# --------------------------------------------------------------------------- 3. repeated non-ASCII name
@pytest.mark.parametrize("name", ["%D1%81", "%E2%80%AE", "%22", "%5C", "%00", "%F0%9F%98%80" * 20, "%FF"])
def test_repeated_non_ascii_parameter_name(rp: RP, name: str) -> None:
    query = "&".join(f"{k}={v}" for k, v in rp.auth_params().items())
    resp = rp.browser.get(f"/authorize?{query}&{name}=1&{name}=2")
    assert resp.status_code == 302, resp.get_data(as_text=True)[:300]
    q = helpers.query(resp.headers["Location"])
    assert q["error"] == "invalid_request" and "repeated" in q["error_description"], q
    # RFC 6749 4.1.2.1: error_description holds only %x20-21 / %x23-5B / %x5D-7E.
    assert all(0x20 <= ord(c) <= 0x7E and c not in '"\\' for c in q["error_description"]), q


# --------------------------------------------------------------------------- 4. nested / oversized JSON
NESTED = b"[" * 1000 + b"]" * 1000
HEADER = _b64(b'{"alg":"RS256","kid":"rsa-1"}')
PAYLOAD = _b64(json.dumps({"iss": "c-unknown", "sub": "c-unknown", "aud": ISSUER + "/token",
                           "exp": int(time.time()) + 60, "jti": "j"}).encode())
NESTED_CLAIM = _b64(b'{"sub":"x","a":' + NESTED + b"}")
NESTED_OBJECTS = _b64(b'{"a":' * 900 + b"1" + b"}" * 900)
OVERSIZED = _b64(b'{"sub":"' + b"x" * 9000 + b'"}')
HOSTILE_JWTS = {
    "nested payload": f"{HEADER}.{_b64(NESTED)}.c2ln",
    "nested header": f"{_b64(NESTED)}.{PAYLOAD}.c2ln",
    "nested claim": f"{HEADER}.{NESTED_CLAIM}.c2ln",
    "nested objects": f"{HEADER}.{NESTED_OBJECTS}.c2ln",
    "oversized": f"{HEADER}.{OVERSIZED}.c2ln",
    "five parts, nested header": f"{_b64(NESTED)}.a.b.c.d",
}


@pytest.mark.parametrize("path", ["/token", "/introspect", "/revoke"])
@pytest.mark.parametrize("name", sorted(HOSTILE_JWTS))
def test_nested_json_in_client_assertion(app: Flask, path: str, name: str) -> None:
    resp = token_request(app, HOSTILE_JWTS[name], path, token="t")
    # RFC 6749 5.2: 400 invalid_client (401 only for credentials sent in the Authorization header).
    assert resp.status_code == 400, resp.get_data(as_text=True)[:300]
    assert resp.get_json()["error"] == "invalid_client"


@pytest.mark.parametrize("name", sorted(HOSTILE_JWTS))
def test_nested_json_in_id_token_hint(rp: RP, name: str) -> None:
    # POST: the oversized one would otherwise stop at the query-string limit (414) before any parsing.
    resp = rp.authorize("POST", id_token_hint=HOSTILE_JWTS[name], prompt="none")
    assert resp.status_code == 302, resp.get_data(as_text=True)[:300]
    assert helpers.query(resp.headers["Location"])["error"] == "invalid_request"
    resp = rp.browser.post("/end_session", data={"id_token_hint": HOSTILE_JWTS[name]})
    assert resp.status_code == 400, resp.get_data(as_text=True)[:300]


def test_bounds_leave_real_tokens_alone(rp: RP) -> None:
    tokens = rp.tokens()
    untrusted.check_compact(tokens["id_token"])
    resp = rp.authorize(id_token_hint=tokens["id_token"], prompt="none")
    assert "code" in helpers.query(resp.headers["Location"])


@pytest.mark.parametrize(("text", "ok"), [
    ('{"a":[[1]]}', True), ("[" * 16 + "]" * 16, True), ("[" * 17 + "]" * 17, False),
    ('{"s":"' + "[" * 40 + '"}', True), ('{"s":"\\"' + "[" * 40 + '"}', True), ('{"s":"\\\\"}' + "[" * 40, False),
])
def test_json_depth(text: str, ok: bool) -> None:
    assert untrusted.json_depth_at_most(text) is ok


# --------------------------------------------------------------------------- 5. lone surrogate in jti
def _signed(claims_json: bytes) -> str:
    return str(jws.serialize_compact({"alg": "RS256", "kid": RSA.kid}, claims_json, RSA, algorithms=["RS256"]))


@pytest.mark.parametrize("jti", ["\\ud800", "a\\udfff", "\\udc00\\ud800"])
@pytest.mark.parametrize("path", ["/token", "/introspect", "/revoke"])
def test_lone_surrogate_jti(app: Flask, jti: str, path: str) -> None:
    cid = pkjwt_client(app, RSA)
    now = int(time.time())
    payload = (f'{{"iss":"{cid}","sub":"{cid}","aud":"{ISSUER}{path}","iat":{now},"exp":{now + 60},'
               f'"jti":"{jti}"}}').encode()
    resp = token_request(app, _signed(payload), path, token="t")
    # RFC 6749 5.2: 400 invalid_client (401 only for credentials sent in the Authorization header).
    assert resp.status_code == 400, resp.get_data(as_text=True)[:300]
    assert resp.get_json()["error"] == "invalid_client"
    # The same client, a well-formed assertion: still accepted.
    assert token_request(app, assertion(cid, aud=ISSUER + path), path, token="t").status_code == 200


@pytest.mark.parametrize("raw", ["\ud800", "a\udfffb", "plain", "\u00e9"])
def test_store_keys_for_any_str(app: Flask, raw: str) -> None:
    store = app.extensions["idp"].store
    key = f"{raw}-{secrets.token_hex(4)}"
    assert store.add("jti", key, 1, 30) is True
    assert store.add("jti", key, 1, 30) is False
    assert store.k("jti", key).isascii()


# --------------------------------------------------------------------------- last-resort barrier
class Boom(Exception):
    """An exception no handler of the provider expects."""


@pytest.fixture
def boom_app(oauth_app: Callable[..., Flask]) -> Flask:
    """A test-only app with routes that fail in the ways the barrier must absorb."""
    app = oauth_app()
    app.config["PROPAGATE_EXCEPTIONS"] = False  # as in production: Flask's own last resort runs

    @app.route("/__test/boom")
    def boom() -> str:
        raise Boom("detail that only the log may see")

    @app.route("/api/__test/boom")
    def api_boom() -> str:
        raise Boom("detail that only the log may see")

    @app.route("/__test/boom-and-broken-page")
    def boom_and_broken_page() -> str:
        g.idp_test_break_page = True
        raise Boom("detail that only the log may see")

    @app.route("/__test/broken-hook")
    def broken_hook() -> str:
        g.idp_test_break_hook = True
        return "fine"

    @app.context_processor
    def _breaks_page() -> dict[str, Any]:
        if g.get("idp_test_break_page"):
            raise RuntimeError("the page cannot be built")
        return {}

    @app.after_request
    def _breaks_hook(resp: Any) -> Any:
        if g.get("idp_test_break_hook"):
            g.idp_test_break_hook = False  # only once: the error response passes here too
            raise Boom("an after_request hook failed")
        return resp

    return app


def _error_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.mark.parametrize(("path", "page", "records"), [
    ("/__test/boom", "html", 1),
    ("/api/__test/boom", "json", 1),
    ("/__test/boom-and-broken-page", "bare", 2),  # the exception, then the page that failed: both bugs
    ("/__test/broken-hook", "html", 1),
])
def test_unhandled_exception_barrier(boom_app: Flask, caplog: pytest.LogCaptureFixture, path: str, page: str,
                                     records: int) -> None:
    caplog.set_level(logging.INFO)
    before = _unhandled()
    resp = boom_app.test_client().get(path)
    body = resp.get_data(as_text=True)
    assert resp.status_code == 500
    assert "detail that only the log may see" not in body and "Traceback" not in body
    ref = resp.headers["X-Request-ID"]
    assert ref and ref in body
    if page == "json":
        assert resp.get_json() == {"error": "server_error", "error_description": resp.get_json()["error_description"],
                                   "reference": ref}
    elif page == "bare":
        assert "Maaf / Sorry" in body
    else:
        assert "/static/css/idp.css" in body
    logged = _error_records(caplog)
    assert len(logged) == records, [r.getMessage() for r in logged]
    assert all(ref in r.getMessage() for r in logged)
    assert logged[0].exc_info is not None and isinstance(logged[0].exc_info[1], Boom)
    assert _unhandled() == before + records


def test_barrier_with_broken_host(boom_app: Flask, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    before = _unhandled()
    resp = boom_app.test_client().get("/__test/boom", headers={"Host": LONG_LABEL, "Accept-Language": "\x00;q=x"})
    # The host is refused before routing: a 400 page, not the route's exception, and no second failure.
    assert resp.status_code == 400
    assert "/static/css/idp.css" in resp.get_data(as_text=True)
    assert _error_records(caplog) == [] and _unhandled() == before


def test_barrier_page_without_request_id(boom_app: Flask) -> None:
    resp = boom_app.test_client().get("/__test/boom", headers={"X-Request-ID": "\u00e9" * 300, "Cookie": "idp_ui=\x01"})
    assert resp.status_code == 500
    assert resp.headers["X-Request-ID"] in resp.get_data(as_text=True)
