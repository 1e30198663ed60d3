"""Issue 13, also found: loopback redirect URIs must match any port (RFC 8252 7.3), and nothing else.

A native app listens on an ephemeral port, so a registered ``http://127.0.0.1/cb`` (or ``[::1]``, with or
without a port) matches the same URI on any port.  Everything else stays an exact match: the hostile
variants below (other path, host, spelling, user information, query) are refused with the error page,
never redirected to.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask

from tests.oauth import conftest as oauth_fixtures
from tests.oauth import helpers
from tests.oauth.conftest import RP

oauth_app, app, make_rp = oauth_fixtures.oauth_app, oauth_fixtures.app, oauth_fixtures.make_rp

REGISTERED = ["http://127.0.0.1/cb", "http://[::1]:8080/native/cb?app=1", "https://rp.example.org/cb"]


@pytest.fixture
def native(make_rp: Callable[..., RP]) -> RP:
    return make_rp(redirect_uris=REGISTERED, secret=None)


@pytest.mark.parametrize("uri", ["http://127.0.0.1:51234/cb", "http://127.0.0.1:1/cb", "http://127.0.0.1/cb",
                                 "http://127.0.0.1:80/cb", "http://[::1]/native/cb?app=1",
                                 "http://[::1]:65535/native/cb?app=1"])
def test_any_port_on_a_registered_loopback_uri(native: RP, uri: str) -> None:
    native.redirect_uri = uri
    tokens = native.tokens(scope="openid")  # the code comes back to that port and is redeemed with it
    assert tokens["access_token"] and tokens["id_token"]


HOSTILE = [
    "http://127.0.0.1:51234/other", "http://127.0.0.1:51234/cb/", "http://127.0.0.1:51234/cb?x=1",
    "http://127.0.0.1:51234/CB", "http://127.0.0.1:51234", "http://localhost:51234/cb", "http://localhost/cb",
    "http://127.0.0.2:51234/cb", "http://127.1:51234/cb", "http://0x7f000001:51234/cb",
    "http://user@127.0.0.1:51234/cb", "http://127.0.0.1:51234@evil.example/cb",
    "http://127.0.0.1.evil.example:51234/cb", "https://127.0.0.1:51234/cb", "HTTP://127.0.0.1:51234/cb",
    "http://127.0.0.1:99999/cb", "http://127.0.0.1:0/cb", "http://127.0.0.1:/cb", "http://127.0.0.1:+80/cb",
    "http://127.0.0.1:51234/cb#frag", "http://[::1]:51234/native/cb", "http://[::1]:51234/native/cb?app=2",
    "http://[::ffff:127.0.0.1]:51234/cb", "http://[0:0:0:0:0:0:0:1]:8080/native/cb?app=1",
    "http://127.0.0.1:51234/cb\\@evil.example", "https://rp.example.org:8443/cb", "http://rp.example.org/cb",
]


@pytest.mark.parametrize("uri", HOSTILE)
def test_everything_else_is_still_an_exact_match(app: Flask, native: RP, uri: str) -> None:
    resp = native.browser.get("/authorize", query_string=native.auth_params(redirect_uri=uri))
    assert resp.status_code == 400 and "Location" not in resp.headers


def test_the_token_request_must_repeat_the_same_port(native: RP) -> None:
    verifier, challenge = helpers.pkce_pair()
    native.redirect_uri = "http://127.0.0.1:51234/cb"
    code, _ = native.get_code(code_challenge=challenge, code_challenge_method="S256")
    resp = native.token(code, verifier=verifier, redirect_uri="http://127.0.0.1:60000/cb")
    assert resp.status_code == 400 and resp.get_json()["error"] == "invalid_grant"
