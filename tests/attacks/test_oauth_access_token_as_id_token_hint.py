"""Attack 5 of issue 13: an access token was accepted as ``id_token_hint``.

Every token the provider signs uses the same keys, and ``/end_session`` checked only the signature and
the issuer.  An API that received a person's JWT access token (RFC 9068) could send it back as
``id_token_hint`` and sign the person out everywhere without any confirmation.  Now only ID tokens are
hints (``typ`` and claims), at ``/end_session`` and ``/authorize`` alike.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask

from idp.oauth import backchannel
from idp.oauth.clients import query_client
from tests.oauth import conftest as oauth_fixtures
from tests.oauth import helpers
from tests.oauth.conftest import RP

oauth_app, app, make_rp = oauth_fixtures.oauth_app, oauth_fixtures.app, oauth_fixtures.make_rp


def signed_in(rp: RP) -> bool:
    """The browser's session is alive: prompt=none still gets a code."""
    resp = rp.authorize(prompt="none")
    return resp.status_code == 302 and "code" in helpers.query(resp.headers["Location"])


@pytest.fixture(params=["https://api.example.go.id", None], ids=["with audience", "without audience"])
def jwt_rp(make_rp: Callable[..., RP], request: pytest.FixtureRequest) -> RP:
    extra = {"access_token_audience": request.param} if request.param else {}
    return make_rp(access_token_format="jwt", **extra)


def _logout_token(app: Flask, rp: RP) -> str:
    """What the application's back-channel receiver gets when a session ends (Back-Channel Logout 2.4)."""
    with app.app_context():
        client = query_client(rp.client_id)
        assert client is not None
        return backchannel.logout_token(client, "s" * 32, rp.sub)


@pytest.mark.parametrize("kind", ["access_token", "logout_token"])
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_another_token_cannot_sign_the_person_out(app: Flask, jwt_rp: RP, kind: str, method: str) -> None:
    tokens = jwt_rp.tokens(scope="openid profile")
    hint = tokens["access_token"] if kind == "access_token" else _logout_token(app, jwt_rp)
    assert hint.count(".") == 2  # a JWT signed with the provider's keys
    # The API holds the token and sends the person's browser (a link, an image, a form) to /end_session.
    # The hint alone: it names the signed-in person, so no confirmation page would be shown.
    params = {"id_token_hint": hint}
    if method == "GET":
        resp = jwt_rp.browser.get("/end_session", query_string=params)
    else:
        resp = jwt_rp.browser.post("/end_session", data=params)
    assert resp.status_code == 400, resp.get_data(as_text=True)[:500]
    assert "Location" not in resp.headers  # no redirection after an error (RP-Initiated Logout 4)
    assert signed_in(jwt_rp)
    assert jwt_rp.userinfo_status(tokens["access_token"]) == 200  # nothing was revoked


def test_the_id_token_still_signs_the_person_out(jwt_rp: RP) -> None:
    """The control: the real ID token is a valid hint and ends the session at once."""
    tokens = jwt_rp.tokens(scope="openid profile")
    resp = jwt_rp.browser.get("/end_session", query_string={"id_token_hint": tokens["id_token"],
                                                          "post_logout_redirect_uri": helpers.LOGOUT_REDIRECT})
    assert resp.status_code == 302 and resp.headers["Location"].startswith(helpers.LOGOUT_REDIRECT)
    assert not signed_in(jwt_rp)


def test_an_access_token_is_not_a_hint_at_authorize(jwt_rp: RP) -> None:
    access_token = jwt_rp.tokens(scope="openid profile")["access_token"]
    resp = jwt_rp.authorize(id_token_hint=access_token, prompt="none")
    assert resp.status_code == 302
    assert helpers.query(resp.headers["Location"])["error"] == "invalid_request"
