"""Attack 6 of issue 13: any confidential client could introspect every token (RFC 7662 4, scanning).

A client registered for its own purposes sent other applications' tokens to ``/introspect`` and learned
whether they were live, whose they were (``sub``) and what they allowed.  Now a client learns about the
tokens issued to it and, as a resource server, about the tokens meant for its API (its registered
``access_token_audience``); for anything else the answer is ``{"active": false}``, as for an unknown token.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask

from tests.oauth import conftest as oauth_fixtures
from tests.oauth import helpers
from tests.oauth.conftest import RP

oauth_app, app, make_rp = oauth_fixtures.oauth_app, oauth_fixtures.app, oauth_fixtures.make_rp

API = "https://pajak.api.banten.go.id"
SCOPE = "openid profile offline_access"


def introspect(app: Flask, token: str, creds: tuple[str, str | None]) -> dict[str, Any]:
    resp = app.test_client().post("/introspect", data={"token": token}, headers=helpers.basic(creds[0], creds[1] or ""))
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return dict(resp.get_json())


def server(app: Flask, audience: str | None) -> tuple[str, str]:
    extra = {"access_token_audience": audience} if audience else {}
    cid, secret = helpers.create_client(app, grant_types=["client_credentials"], response_types=[], **extra)
    assert secret
    return cid, secret


@pytest.mark.parametrize("token_format", ["opaque", "jwt"])
def test_only_the_client_and_its_api_learn_about_a_token(app: Flask, make_rp: Callable[..., RP],
                                                         token_format: str) -> None:
    rp = make_rp(grant_types=["authorization_code", "refresh_token"], access_token_audience=API,
                 access_token_format=token_format)
    tokens = rp.tokens(scope=SCOPE)
    access, refresh = tokens["access_token"], tokens["refresh_token"]
    stranger = server(app, None)  # any other confidential client: the scanner
    other_api = server(app, "https://kepegawaian.api.banten.go.id")
    pajak = server(app, API)
    assert rp.secret

    # The attack: it is refused exactly like an unknown token, for both kinds.
    for creds in (stranger, other_api):
        assert introspect(app, access, creds) == {"active": False}
        assert introspect(app, refresh, creds) == {"active": False}
    assert introspect(app, "unknown-token", stranger) == {"active": False}

    own = introspect(app, access, (rp.client_id, rp.secret))
    assert own["active"] is True and own["sub"] == rp.sub and own["aud"] == API
    meant_for = introspect(app, access, pajak)
    assert meant_for["active"] is True and meant_for["client_id"] == rp.client_id and meant_for["aud"] == API
    # A refresh token is only ever for the client it was issued to.
    assert introspect(app, refresh, pajak) == {"active": False}
    assert introspect(app, refresh, (rp.client_id, rp.secret))["active"] is True


def test_a_token_without_an_api_is_only_its_clients(app: Flask, make_rp: Callable[..., RP]) -> None:
    rp = make_rp()
    access = rp.tokens(scope="openid profile")["access_token"]
    assert introspect(app, access, server(app, API)) == {"active": False}
    assert introspect(app, access, server(app, None)) == {"active": False}
    assert rp.secret and introspect(app, access, (rp.client_id, rp.secret))["active"] is True
