"""The UserInfo endpoint: bearer tokens per RFC 6750, claims per scope, the sensitive nik claim."""

from __future__ import annotations

import pytest

from idp.oauth import tokens

from . import helpers


def test_userinfo_via_header_get_and_post(rp) -> None:
    body = rp.tokens(scope="openid profile email")
    for method in ("get", "post"):
        resp = getattr(rp.browser, method)("/userinfo", headers={"Authorization": "Bearer " + body["access_token"]})
        assert resp.status_code == 200
        info = resp.get_json()
        assert info["sub"] == rp.sub and info["name"] == "Siti Aminah" and info["birthdate"] == "1990-01-05"
        assert info["email_verified"] is True and "nik" not in info
        assert resp.headers["Cache-Control"] == "no-store"


def test_userinfo_via_form_body(rp) -> None:
    body = rp.tokens()
    resp = rp.browser.post("/userinfo", data={"access_token": body["access_token"]})
    assert resp.status_code == 200 and resp.get_json()["sub"] == rp.sub


def test_claims_follow_scope(rp) -> None:
    body = rp.tokens(scope="openid")
    info = rp.browser.get("/userinfo", headers={"Authorization": "Bearer " + body["access_token"]}).get_json()
    assert info == {"sub": rp.sub}


def test_token_in_query_is_not_accepted(rp) -> None:
    body = rp.tokens()
    for method in ("get", "post"):
        resp = getattr(rp.browser, method)("/userinfo?access_token=" + body["access_token"])
        assert resp.status_code == 401
        assert resp.headers["WWW-Authenticate"].startswith("Bearer")


def test_two_token_methods_is_invalid_request(rp) -> None:
    body = rp.tokens()
    resp = rp.browser.post("/userinfo", data={"access_token": body["access_token"]},
                           headers={"Authorization": "Bearer " + body["access_token"]})
    assert resp.status_code == 400 and resp.get_json()["error"] == "invalid_request"


BAD_TOKENS = ["unknown", "' OR 1=1 --", "x" * 5000, "a.b.c", "%00", "Bearer", ".", "abc." + "f" * 64]


@pytest.mark.parametrize("value", BAD_TOKENS)
def test_unknown_tokens(rp, value) -> None:
    resp = rp.browser.get("/userinfo", headers={"Authorization": "Bearer " + value})
    assert resp.status_code == 401
    assert resp.headers["WWW-Authenticate"].startswith('Bearer error="invalid_token"')
    assert resp.get_json()["error"] == "invalid_token"


@pytest.mark.parametrize("header", ["Basic abc", "Bearer", "Bearer  ", "Token x", "bearer"])
def test_malformed_authorization_header(rp, header) -> None:
    resp = rp.browser.get("/userinfo", headers={"Authorization": header})
    assert resp.status_code in (400, 401)
    assert "WWW-Authenticate" in resp.headers


def test_revoked_and_expired_tokens(rp) -> None:
    import time

    body = rp.tokens()
    auth = {"Authorization": "Bearer " + body["access_token"]}
    with rp.app.test_request_context():
        tokens.revoke_access_token(body["access_token"])
    assert rp.browser.get("/userinfo", headers=auth).status_code == 401
    body = rp.tokens()
    auth = {"Authorization": "Bearer " + body["access_token"]}
    assert rp.app.extensions["idp"].store.touch("at", body["access_token"], 1)
    time.sleep(1.2)
    resp = rp.browser.get("/userinfo", headers=auth)
    assert resp.status_code == 401 and 'error="invalid_token"' in resp.headers["WWW-Authenticate"]


def test_token_without_openid_scope_is_insufficient(rp) -> None:
    body = rp.tokens(scope="profile")
    resp = rp.browser.get("/userinfo", headers={"Authorization": "Bearer " + body["access_token"]})
    assert resp.status_code == 403 and 'error="insufficient_scope"' in resp.headers["WWW-Authenticate"]


def _consent(rp) -> None:
    resp = rp.authorize(scope="openid nik")
    assert resp.status_code == 200, resp.headers.get("Location")
    html = resp.get_data(as_text=True)
    assert "NIK" in html
    import re

    req = re.search(r'name="req" value="([^"]+)"', html).group(1)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    resp = rp.browser.post("/authorize/consent", data={"req": req, "csrf_token": csrf, "decision": "allow"})
    assert resp.status_code == 302 and "code" in helpers.query(resp.headers["Location"])


def test_nik_released_to_approved_client_with_consent(make_rp) -> None:
    rp = make_rp(approved_scopes="nik", first_party=True)
    _consent(rp)  # even a first-party client needs consent for a sensitive scope
    body = rp.tokens(scope="openid nik")
    assert body["scope"] == "openid nik"
    info = rp.browser.get("/userinfo", headers={"Authorization": "Bearer " + body["access_token"]}).get_json()
    assert info["nik"] == helpers.NIK


def test_nik_not_released_to_unapproved_client(make_rp) -> None:
    rp = make_rp(first_party=True)
    body = rp.tokens(scope="openid nik")
    assert body["scope"] == "openid"
    info = rp.browser.get("/userinfo", headers={"Authorization": "Bearer " + body["access_token"]}).get_json()
    assert "nik" not in info


def test_nik_stops_when_approval_withdrawn(make_rp) -> None:
    rp = make_rp(approved_scopes="nik")
    _consent(rp)
    body = rp.tokens(scope="openid nik")
    from idp.extensions import db
    from idp.models import Client

    with rp.app.app_context():
        db.session.query(Client).filter_by(client_id=rp.client_id).update({"approved_scopes": ""})
        db.session.commit()
    info = rp.browser.get("/userinfo", headers={"Authorization": "Bearer " + body["access_token"]}).get_json()
    assert "nik" not in info


def test_cors_for_browser_clients(rp) -> None:
    pre = rp.browser.options("/userinfo", headers={"Origin": "https://spa.example",
                                                   "Access-Control-Request-Method": "GET",
                                                   "Access-Control-Request-Headers": "authorization"})
    assert pre.status_code == 200 and pre.headers["Access-Control-Allow-Origin"] == "*"
    assert "Authorization" in pre.headers["Access-Control-Allow-Headers"]
    body = rp.tokens()
    resp = rp.browser.get("/userinfo", headers={"Authorization": "Bearer " + body["access_token"],
                                                "Origin": "https://spa.example"})
    assert resp.headers["Access-Control-Allow-Origin"] == "*"
    assert rp.browser.options("/token").headers["Access-Control-Allow-Origin"] == "*"


def test_a_disabled_clients_token_stops_at_userinfo(rp) -> None:
    """Disabling (or deleting) a client ends its access tokens at userinfo too, not only at introspection."""
    from sqlalchemy import select

    from idp.extensions import db
    from idp.models import Client

    token = rp.tokens()["access_token"]
    assert rp.userinfo_status(token) == 200
    with rp.app.app_context():
        db.session.execute(select(Client).where(Client.client_id == rp.client_id)).scalar_one().disabled = True
        db.session.commit()
    resp = rp.browser.get("/userinfo", headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 401 and 'error="invalid_token"' in resp.headers["WWW-Authenticate"]
