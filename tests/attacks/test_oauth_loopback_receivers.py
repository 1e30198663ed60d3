"""Issue 13, also found: the refusal of an http://127.0.0.1 back-channel logout URI.

It said "http is allowed only on 127.0.0.1" about a 127.0.0.1 address.  Now it says what is refused
(the provider calling loopback/private addresses or http) and which setting allows it.  With the
development issuer of ``make run`` (http on loopback) such receivers are simply allowed, so back-channel
logout can be tried on one machine; an https issuer or production keeps refusing.
"""

from __future__ import annotations

import pytest

from tests.oauth import conftest as oauth_fixtures
from tests.oauth.test_registration import GOOD, iat, register

oauth_app = oauth_fixtures.oauth_app

RECEIVER = "http://127.0.0.1:8080/backchannel"


def test_loopback_receivers_follow_a_loopback_issuer(oauth_app) -> None:
    app = oauth_app(ISSUER="http://127.0.0.1:5000", JWKS_URI_ALLOW_LOOPBACK="auto")
    assert app.extensions["idp"].config["JWKS_URI_ALLOW_LOOPBACK"] is True
    resp = register(app.test_client(), iat(app), dict(GOOD, backchannel_logout_uri=RECEIVER))
    assert resp.status_code == 201, resp.get_json()
    assert resp.get_json()["backchannel_logout_uri"] == RECEIVER


@pytest.mark.parametrize("settings", [
    {"ISSUER": "https://sso.banten.go.id", "JWKS_URI_ALLOW_LOOPBACK": "auto"},
    {"ISSUER": "http://127.0.0.1:5000", "JWKS_URI_ALLOW_LOOPBACK": "false"},
], ids=["https issuer", "switched off"])
@pytest.mark.parametrize("uri", [RECEIVER, "https://127.0.0.1/backchannel", "http://rp.example.org/bc"])
def test_the_refusal_names_what_and_the_setting(oauth_app, settings, uri) -> None:
    app = oauth_app(**settings)
    assert app.extensions["idp"].config["JWKS_URI_ALLOW_LOOPBACK"] is False
    resp = register(app.test_client(), iat(app), dict(GOOD, backchannel_logout_uri=uri))
    assert resp.status_code == 400
    body = resp.get_json()
    description = body["error_description"]
    assert body["error"] == "invalid_client_metadata" and "'backchannel_logout_uri'" in description
    assert "IDP_JWKS_URI_ALLOW_LOOPBACK" in description
    assert "allowed only on 127.0.0.1" not in description
