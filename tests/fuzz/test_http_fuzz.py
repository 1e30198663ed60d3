"""Whole requests from outside never give a 5xx (issue 21): every route with every method, hostile headers
(Host, Cookie, Authorization, Content-Type), hand-built query strings and bodies (repeated and non-ASCII
names, ill-formed UTF-8, digits of every Unicode class), and JWTs whose JSON is hostile before any
signature is checked.  No dependency is down here, so not even a 503 is expected.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from hypothesis import given
from hypothesis import strategies as st
from werkzeug.test import EnvironBuilder, run_wsgi_app

from tests.fuzz import hostile
from tests.oauth import helpers
from tests.oauth.conftest import RP
from tests.oauth.test_private_key_jwt import ASSERTION_TYPE

METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "TRACE", "PROPFIND"]


def check(resp: Any, what: object = "") -> None:
    """The property: below 500, and no traceback or Python detail in the body."""
    body = resp.get_data()
    assert resp.status_code < 500, (what, resp.status_code, body[:400])
    assert b"Traceback" not in body and b"File \"/" not in body, (what, body[:400])


def send(rp: RP, method: str, path: str, *, query: str = "", headers: dict[str, str] | None = None,
         body: bytes | None = None, signed_in: bool = False) -> Any:
    """One request straight into the WSGI app, as a server would pass it on.

    Not through the test client's ``open``: that works out the request URL for its cookie jar and fails
    on a ``Host`` that IDNA cannot decode (``xn--``) before the app is even called.
    """
    sent = {k: hostile.latin1(v) for k, v in (headers or {}).items()}
    if signed_in:
        cookie = rp.browser.get_cookie("idp_ui")
        if cookie is not None:
            sent["Cookie"] = f"idp_ui={cookie.value}" + ("; " + sent["Cookie"] if "Cookie" in sent else "")
    environ = EnvironBuilder(path="/", method=method, headers=sent, data=body).get_environ()
    # The path as it arrives: raw bytes decoded as latin-1 (PEP 3333), not re-encoded by the builder.
    environ["PATH_INFO"] = path
    environ["QUERY_STRING"] = query
    chunks, status, response_headers = run_wsgi_app(rp.app, environ, buffered=True)
    return rp.app.response_class(b"".join(chunks), status=status, headers=response_headers)


def routes(app: Flask) -> list[tuple[str, str]]:
    """(rule, endpoint) of every route of the app, from its URL map."""
    return sorted((rule.rule, rule.endpoint) for rule in app.url_map.iter_rules())


def fill(rule: str, value: str) -> str:
    """``rule`` with every converter replaced by ``value`` (digits for ``int`` ones), quoted for a path."""
    out, rest = "", rule
    while "<" in rest:
        before, _, tail = rest.partition("<")
        spec, _, rest = tail.partition(">")
        kind = spec.split(":")[0] if ":" in spec else "string"
        part = value if kind != "int" else ("".join(c for c in value if c.isascii() and c.isdigit()) or "1")
        out += before + (part or "x")
    # PEP 3333: PATH_INFO carries the URL-decoded bytes as latin-1 characters.
    return hostile.wire(out + rest).decode("latin-1")


@pytest.fixture
def frp(make_rp: Callable[..., RP]) -> RP:
    return make_rp(grant_types=["authorization_code", "refresh_token", "client_credentials"])


# Bodies sent to every route, one per method in turn (a deterministic sweep, cheap enough for every run).
SWEEP_BODIES: list[tuple[dict[str, str], bytes | None, str | None]] = [
    ({}, None, None),
    ({"Content-Type": "application/x-www-form-urlencoded"}, b"%D1%81=1&%D1%81=2&max_age=%C2%B2&a=%ED%A0%80", None),
    ({"Content-Type": "application/json"}, hostile.nested(2000), None),
    ({"Content-Type": "multipart/form-data; boundary=\"x"}, b"--x\r\n\r\n", None),
    ({"Host": "a" * 64}, None, "%D1%81=1&%D1%81=2"),
    ({"Cookie": "idp_ui=\x01\xff; idp_lang=\xff", "Authorization": "Basic \xff"}, b"\xff\xfe", "next=%ED%A0%80"),
    ({"Content-Type": "application/x-www-form-urlencoded; charset=\xff"}, b"csrf_token=x&nik=%EF%BC%91", "page=\u00b2"),
]


@pytest.mark.parametrize("signed_in", [True, False], ids=["signed-in", "anonymous"])
def test_every_route_every_method(frp: RP, make_rp: Callable[..., RP], signed_in: bool) -> None:
    n = 0
    for rule, endpoint in routes(frp.app):
        for value in ("1", "\u00b2", "\ud800x", "a" * 300):
            if value != "1" and "<" not in rule:
                continue
            path = fill(rule, value)
            for method in METHODS:
                extra, body, query = SWEEP_BODIES[n % len(SWEEP_BODIES)]
                n += 1
                resp = send(frp, method, path, query=query or "", headers=extra, body=body, signed_in=signed_in)
                check(resp, (method, path, endpoint, extra, body and body[:40], query))


@hostile.fuzz_settings(150)
@given(data=st.data(), method=st.sampled_from(METHODS), headers=hostile.headers, signed_in=st.booleans(),
       body=st.one_of(st.none(), st.builds(hostile.as_form, st.dictionaries(hostile.names, hostile.text, max_size=5)),
                      hostile.json_bytes, st.binary(max_size=200)))
def test_any_route_any_request(frp: RP, data: st.DataObject, method: str, headers: dict[str, str], signed_in: bool,
                               body: bytes | None) -> None:
    rule, endpoint = data.draw(st.sampled_from(routes(frp.app)), label="route")
    path = fill(rule, data.draw(hostile.text, label="path value"))
    query = data.draw(hostile.raw_query(), label="query")
    resp = send(frp, method, path, query=query, headers=headers, body=body, signed_in=signed_in)
    check(resp, (method, path, endpoint))


@hostile.fuzz_settings(120)
@given(data=st.data(), path=st.sampled_from(["/authorize", "/token", "/introspect", "/revoke", "/end_session",
                                             "/userinfo", "/login", "/register-account", "/authorize/consent"]),
       method=st.sampled_from(["GET", "POST"]), own_client=st.booleans())
def test_repeated_and_non_ascii_names(frp: RP, data: st.DataObject, path: str, method: str, own_client: bool) -> None:
    known = {"client_id": frp.client_id, "redirect_uri": frp.redirect_uri, "response_type": "code",
             "scope": "openid"} if own_client else {}
    query = data.draw(hostile.raw_query(known), label="params")
    if method == "GET":
        resp = send(frp, "GET", path, query=query, signed_in=True)
    else:
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        if own_client:
            headers.update(helpers.basic(frp.client_id, frp.secret or ""))
        resp = send(frp, "POST", path, body=query.encode(), headers=headers, signed_in=True)
    check(resp, (method, path, query[:200]))


@hostile.fuzz_settings(80)
@given(value=hostile.numbers)
def test_max_age_in_every_digit_class(frp: RP, value: str) -> None:
    resp = frp.authorize(max_age=value)
    check(resp, value)
    assert resp.status_code == 302
    q = helpers.query(resp.headers["Location"])
    if value.isascii() and value.isdigit() and len(value) <= 10:
        assert "error" not in q, q
    else:
        assert q.get("error") == "invalid_request", (value, q)


@hostile.fuzz_settings(120)
@given(token=hostile.hostile_jwts(), where=st.sampled_from(["token", "introspect", "revoke", "authorize",
                                                           "end_session", "userinfo", "register"]))
def test_jwts_before_signature_checks(frp: RP, token: str, where: str) -> None:
    if where in ("token", "introspect", "revoke"):
        data = {"client_assertion_type": ASSERTION_TYPE, "client_assertion": token, "token": "t",
                "grant_type": "client_credentials"}
        resp = frp.app.test_client().post("/" + where, data=data)
        check(resp, token[:80])
        # invalid_client, or the body limit's 413 (invalid_request) for the largest ones.
        expected = "invalid_request" if resp.status_code == 413 else "invalid_client"
        assert resp.status_code in (400, 401, 413) and resp.get_json()["error"] == expected, resp.get_json()
    elif where == "authorize":
        resp = frp.authorize("POST", id_token_hint=token, prompt="none")
        check(resp, token[:80])
    elif where == "end_session":
        check(frp.browser.post("/end_session", data={"id_token_hint": token}), token[:80])
    elif where == "userinfo":
        check(frp.browser.get("/userinfo", headers={"Authorization": "Bearer " + token}), token[:80])
    else:
        body = {"redirect_uris": ["https://rp.example.org/cb"], "software_statement": token}
        check(frp.browser.post("/register", data=json.dumps(body), content_type="application/json",
                               headers={"Authorization": "Bearer " + token}), token[:80])
