"""RP-Initiated Logout 1.0 at /end_session."""

from __future__ import annotations

import re

import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey

from . import helpers

ISS = "http://127.0.0.1:5000"


def _signed_out(rp) -> bool:
    resp = rp.authorize(prompt="none")
    return helpers.query(resp.headers["Location"]).get("error") == "login_required"


def test_logout_with_hint_redirects_with_state(rp) -> None:
    hint = rp.tokens()["id_token"]
    resp = rp.browser.get("/end_session", query_string={
        "id_token_hint": hint, "post_logout_redirect_uri": helpers.LOGOUT_REDIRECT, "state": "bye-1",
        "client_id": rp.client_id})
    assert resp.status_code == 302
    assert resp.headers["Location"] == helpers.LOGOUT_REDIRECT + "?state=bye-1"
    assert "idp_session=;" in resp.headers.get("Set-Cookie", "")
    assert _signed_out(rp)


def test_logout_with_hint_via_post(rp) -> None:
    hint = rp.tokens()["id_token"]
    resp = rp.browser.post("/end_session", data={"id_token_hint": hint,
                                                  "post_logout_redirect_uri": helpers.LOGOUT_REDIRECT})
    assert resp.status_code == 302 and resp.headers["Location"] == helpers.LOGOUT_REDIRECT
    assert _signed_out(rp)


def test_logout_with_hint_and_no_redirect_shows_signed_out_page(rp) -> None:
    hint = rp.tokens()["id_token"]
    resp = rp.browser.get("/end_session", query_string={"id_token_hint": hint})
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/logged_out")
    page = rp.browser.get("/logged_out?lang=en")
    assert page.status_code == 200 and "signed out" in page.get_data(as_text=True)
    assert _signed_out(rp)


def test_expired_hint_is_accepted(rp) -> None:
    hint = rp.expired_id_token_hint("ES256")
    resp = rp.browser.get("/end_session", query_string={"id_token_hint": hint,
                                                         "post_logout_redirect_uri": helpers.LOGOUT_REDIRECT})
    assert resp.status_code == 302 and resp.headers["Location"] == helpers.LOGOUT_REDIRECT
    assert _signed_out(rp)


def test_logout_without_hint_asks_for_confirmation(rp) -> None:
    resp = rp.browser.get("/end_session", query_string={
        "client_id": rp.client_id, "post_logout_redirect_uri": helpers.LOGOUT_REDIRECT, "state": "s1",
        "lang": "en"})
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    assert "Sign out" in html and 'name="csrf_token"' in html
    assert not _signed_out(rp)  # nothing happened yet
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', html))
    assert fields["post_logout_redirect_uri"] == helpers.LOGOUT_REDIRECT
    resp = rp.browser.post("/end_session", data={**fields, "csrf_token": csrf})
    assert resp.status_code == 302 and resp.headers["Location"] == helpers.LOGOUT_REDIRECT + "?state=s1"
    assert _signed_out(rp)


def test_bare_logout_confirmation(rp) -> None:
    html = rp.browser.get("/end_session").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    resp = rp.browser.post("/end_session", data={"csrf_token": csrf, "confirm": "1"})
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/logged_out")
    assert _signed_out(rp)


def test_confirmation_needs_csrf(rp) -> None:
    resp = rp.browser.post("/end_session", data={"confirm": "1"})
    assert resp.status_code == 400
    assert not _signed_out(rp)


BAD_REDIRECTS = ["https://evil.example/", helpers.LOGOUT_REDIRECT + "/", helpers.LOGOUT_REDIRECT + "?x=1",
                 helpers.REDIRECT, "javascript:alert(1)", "' OR 1=1 --"]


@pytest.mark.parametrize("uri", BAD_REDIRECTS)
def test_post_logout_redirect_uri_mismatch_is_an_error_page(rp, uri) -> None:
    hint = rp.tokens()["id_token"]
    for params in ({"id_token_hint": hint, "post_logout_redirect_uri": uri},
                   {"client_id": rp.client_id, "post_logout_redirect_uri": uri},
                   {"post_logout_redirect_uri": uri}):
        resp = rp.browser.get("/end_session", query_string=params)
        assert resp.status_code == 400 and "Location" not in resp.headers
    assert not _signed_out(rp)


def test_hint_for_another_client_id(make_rp) -> None:
    a, b = make_rp(), make_rp()
    hint = a.tokens()["id_token"]
    resp = a.browser.get("/end_session", query_string={"id_token_hint": hint, "client_id": b.client_id})
    assert resp.status_code == 400


def _bad_hints(rp) -> list[str]:
    import base64
    import json

    def b64(d: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()

    claims = {"iss": ISS, "sub": rp.sub, "aud": rp.client_id}
    return [b64({"alg": "none"}) + "." + b64(claims) + ".",
            jwt.encode({"alg": "RS256"}, claims, RSAKey.generate_key(2048, private=True)),
            "not.a.jwt", "' OR 1=1 --", "x" * 5000]


def test_forged_hints_are_refused(rp) -> None:
    for hint in _bad_hints(rp):
        resp = rp.browser.get("/end_session", query_string={"id_token_hint": hint,
                                                             "post_logout_redirect_uri": helpers.LOGOUT_REDIRECT})
        assert resp.status_code == 400 and "Location" not in resp.headers, hint[:40]
    assert not _signed_out(rp)


@pytest.mark.parametrize("params", [{"client_id": "unknown"}, {"client_id": "x" * 5000},
                                    {"client_id": "' OR 1=1 --", "post_logout_redirect_uri": helpers.LOGOUT_REDIRECT},
                                    {"state": "a\x00b"}, {"ui_locales": "<script>"}])
def test_hostile_logout_parameters(rp, params) -> None:
    resp = rp.browser.get("/end_session", query_string=params)
    assert resp.status_code in (200, 400, 414) and "Location" not in resp.headers
    assert "<script>" not in resp.get_data(as_text=True)


def test_repeated_parameter(rp) -> None:
    resp = rp.browser.get(f"/end_session?client_id={rp.client_id}&client_id={rp.client_id}")
    assert resp.status_code == 400


def test_ui_locales_on_confirmation(rp) -> None:
    resp = rp.browser.get("/end_session", query_string={"ui_locales": "en"})
    assert '<html lang="en">' in resp.get_data(as_text=True)


def test_hint_of_another_person_asks_first(rp) -> None:
    hint = rp.tokens()["id_token"]
    other_id, other_sub = helpers.create_person(rp.app, email="o@example.org", nik="3603014501900002")
    helpers.sign_in(rp.app, rp.browser, other_id, other_sub)
    resp = rp.browser.get("/end_session", query_string={"id_token_hint": hint,
                                                         "post_logout_redirect_uri": helpers.LOGOUT_REDIRECT})
    assert resp.status_code == 200 and 'name="csrf_token"' in resp.get_data(as_text=True)
    assert not _signed_out(rp)


def test_logout_is_audited(rp) -> None:
    from idp.extensions import db
    from idp.models import AuditEvent

    hint = rp.tokens()["id_token"]
    rp.browser.get("/end_session", query_string={"id_token_hint": hint})
    with rp.app.app_context():
        event = db.session.query(AuditEvent).filter_by(event="logout").one()
        assert event.person_id == rp.person_id and event.client_id == rp.client_id


def test_cross_site_post_is_repeated_as_get(rp) -> None:
    hint = rp.tokens()["id_token"]
    other = rp.app.test_client()  # a POST from another site: no session cookie
    resp = other.post("/end_session", data={"id_token_hint": hint, "state": "x y",
                                            "post_logout_redirect_uri": helpers.LOGOUT_REDIRECT})
    assert resp.status_code == 303 and resp.headers["Location"].startswith("/end_session?")
    resp = rp.browser.get(resp.headers["Location"])  # the browser follows with its cookie
    assert resp.status_code == 302 and resp.headers["Location"] == helpers.LOGOUT_REDIRECT + "?state=x+y"
    assert _signed_out(rp)
