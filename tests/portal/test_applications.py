"""Registering and managing an application in the portal: the RFC 7591 rules with field-level messages,
the secret shown once, rotation with a grace period at the real token endpoint, public keys for
private_key_jwt, disable/enable, and deletion after a fresh sign-in."""

from __future__ import annotations

import datetime as dt
import json
import re
import time
from html import unescape
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from idp.extensions import db
from idp.models import AuditEvent, Client, utcnow
from tests.helpers import choose_indonesian
from tests.oauth.helpers import basic

from .conftest import REDIRECT, create_team, post, register, registered, rotate, staff_browser


def _field_error(html: str, field: str) -> str:
    found = re.search(rf'id="{field}-error">([^<]*)<', html)
    assert found, f"no error at {field}: {html[:4000]}"
    return unescape(found.group(1))


@pytest.mark.parametrize(("fields", "field", "words"), [
    ({"redirect_uris": ""}, "redirect_uris", "at least one redirect URI"),
    ({"redirect_uris": "https://app.example.org/cb#frag"}, "redirect_uris", "fragment"),
    ({"redirect_uris": "http://app.example.org/cb"}, "redirect_uris", "must use https"),
    ({"redirect_uris": "https://*.example.org/cb"}, "redirect_uris", "wildcards"),
    ({"redirect_uris": "not a uri"}, "redirect_uris", "spaces"),
    ({"redirect_uris": "ftp://app.example.org/cb"}, "redirect_uris", "absolute https"),
    ({"post_logout_redirect_uris": "http://example.org/"}, "post_logout_redirect_uris", "must use https"),
    ({"grant_types": ["password"]}, "grant_types", "unsupported value 'password'"),
    ({"grant_types": ["implicit", "authorization_code"]}, "grant_types", "unsupported value 'implicit'"),
    ({"grant_types": []}, "grant_types", "at least one grant type"),
    ({"grant_types": ["refresh_token"]}, "grant_types", "only issued with 'authorization_code'"),
    ({"token_endpoint_auth_method": "none", "grant_types": ["client_credentials"]}, "grant_types", "public client"),
    ({"token_endpoint_auth_method": "client_secret_jwt"}, "token_endpoint_auth_method", "unsupported value"),
    ({"token_endpoint_auth_method": "private_key_jwt"}, "jwks", "requires 'jwks' or 'jwks_uri'"),
    ({"subject_type": "secret"}, "subject_type", "unsupported value"),
    ({"subject_type": "pairwise", "redirect_uris": "https://a.example.org/cb\nhttps://b.example.org/cb"},
     "sector_identifier_uri", "several hosts"),
    ({"scope": ["openid", "banking"]}, "scope", "unknown scope 'banking'"),
    ({"logo_uri": "javascript:alert(1)"}, "logo_uri", "absolute https"),
    ({"frontchannel_logout_uri": "https://other.example.org/logout"}, "frontchannel_logout_uri", "scheme, host"),
    ({"backchannel_logout_uri": "https://app.example.org/bc#x"}, "backchannel_logout_uri", "fragment"),
    ({"client_name": "x" * 300}, "client_name", "at most 200"),
    ({"jwks": "{not json"}, "jwks", "not valid JSON"),
    ({"scope": ["openid", "nik"], "purpose": "short"}, "purpose", "at least 20 characters"),
    ({"description": "x" * 2000}, "description", "at most 1000"),
])
def test_registration_rules_with_field_level_messages(app: Flask, fields: dict[str, Any], field: str,
                                                      words: str) -> None:
    browser = staff_browser(app)
    team_id = create_team(browser)
    resp = register(browser, team_id, **fields)
    assert resp.status_code == 400
    html = resp.get_data(as_text=True)
    assert words in _field_error(html, field)
    assert 'id="error-summary"' in html and f'href="#{field}"' in html
    with app.app_context():
        assert db.session.execute(select(Client)).first() is None  # nothing was registered


def test_register_shows_the_client_id_and_the_secret_once(app: Flask) -> None:
    browser = staff_browser(app)
    team_id = create_team(browser)
    resp = register(browser, team_id, client_name="Perizinan Online", description="Izin usaha daring.",
                    client_uri="https://app.example.org/", logo_uri="https://app.example.org/logo.png",
                    policy_uri="https://app.example.org/privasi", tos_uri="https://app.example.org/syarat",
                    post_logout_redirect_uris="https://app.example.org/\n\n",
                    backchannel_logout_uri="https://app.example.org/bc",
                    frontchannel_logout_uri="https://app.example.org/fc",
                    grant_types=["authorization_code", "refresh_token"])
    assert resp.status_code == 303
    once = resp.headers["Location"]
    assert "/secret/" in once
    page = browser.get(once)
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    html = page.get_data(as_text=True)
    client_id = re.search(r'id="client-id">([^<]+)<', html).group(1)  # type: ignore[union-attr]
    secret = re.search(r'id="client-secret">([^<]+)<', html).group(1)  # type: ignore[union-attr]
    # Never again: not on a reload, not on the application's page.
    again = browser.get(once)
    assert again.status_code == 410 and secret not in again.get_data(as_text=True)
    pk = int(re.search(r"/portal/apps/(\d+)", once).group(1))  # type: ignore[union-attr]
    app_page = browser.get(f"/portal/apps/{pk}").get_data(as_text=True)
    assert client_id in app_page and secret not in app_page
    with app.app_context():
        row = db.session.execute(select(Client).where(Client.client_id == client_id)).scalar_one()
        assert row.client_secret_hash and secret not in row.client_secret_hash  # a keyed hash only
        meta = row.client_metadata
        assert meta["redirect_uris"] == [REDIRECT] and meta["post_logout_redirect_uris"] == ["https://app.example.org/"]
        assert meta["description"] == "Izin usaha daring." and meta["backchannel_logout_uri"].endswith("/bc")
        assert meta["grant_types"] == ["authorization_code", "refresh_token"]
        assert meta["scope"] == "openid profile email"
        assert row.team_id == team_id and row.approved_scopes == "" and not row.first_party
        events = [e.event for e in db.session.execute(select(AuditEvent)).scalars()]
        assert "portal.team_created" in events and "portal.client_registered" in events
    # The secret works at the token endpoint (an unknown code, but the client is authenticated).
    resp = browser.post("/token", data={"grant_type": "authorization_code", "code": "x", "redirect_uri": REDIRECT},
                        headers=basic(client_id, secret))
    assert resp.get_json()["error"] == "invalid_grant"


def _client_credentials(browser: FlaskClient, client_id: str, secret: str, post_body: bool = False) -> Any:
    if post_body:
        return browser.post("/token", data={"grant_type": "client_credentials", "client_id": client_id,
                                            "client_secret": secret})
    return browser.post("/token", data={"grant_type": "client_credentials"}, headers=basic(client_id, secret))


def test_rotation_keeps_the_old_secret_for_the_grace_period(app: Flask) -> None:
    browser = staff_browser(app)
    team_id = create_team(browser)
    pk, client_id, old = registered(browser, team_id, grant_types=["client_credentials"], redirect_uris="",
                                    scope=[])
    assert old
    assert _client_credentials(browser, client_id, old).status_code == 200
    new = rotate(browser, pk)
    assert new != old
    started = utcnow()
    for secret in (old, new):  # both work during the grace period, in the header and in the body
        assert _client_credentials(browser, client_id, secret).status_code == 200
    with app.app_context():
        row = db.session.get(Client, pk)
        assert row is not None and row.previous_secret_expires_at is not None
        assert abs((row.previous_secret_expires_at - started).total_seconds() - 86400) < 60
    html = browser.get(f"/portal/apps/{pk}").get_data(as_text=True)
    assert 'id="grace-note"' in html
    # The grace period ends (set in the past in the database): the old secret is refused.
    with app.app_context():
        row = db.session.get(Client, pk)
        row.previous_secret_expires_at = utcnow() - dt.timedelta(seconds=1)  # type: ignore[union-attr]
        db.session.commit()
    refused = _client_credentials(browser, client_id, old)
    assert refused.status_code == 401 and refused.get_json()["error"] == "invalid_client"
    assert _client_credentials(browser, client_id, old, post_body=True).get_json()["error"] == "invalid_client"
    assert _client_credentials(browser, client_id, new).status_code == 200
    assert _client_credentials(browser, client_id, "wrong").status_code == 401


def test_a_second_rotation_ends_the_oldest_secret_and_end_grace_stops_the_previous(app: Flask) -> None:
    browser = staff_browser(app)
    team_id = create_team(browser)
    pk, client_id, first = registered(browser, team_id, grant_types=["client_credentials"], redirect_uris="",
                                      scope=[])
    second = rotate(browser, pk)
    third = rotate(browser, pk)
    assert _client_credentials(browser, client_id, first or "").status_code == 401
    assert _client_credentials(browser, client_id, second).status_code == 200
    resp = post(browser, f"/portal/apps/{pk}", action=f"/portal/apps/{pk}/end-grace")
    assert resp.status_code == 303
    assert _client_credentials(browser, client_id, second).status_code == 401
    assert _client_credentials(browser, client_id, third).status_code == 200
    with app.app_context():
        events = [e.event for e in db.session.execute(select(AuditEvent).where(
            AuditEvent.client_id == client_id)).scalars()]
        assert events.count("portal.secret_rotated") == 2 and "portal.previous_secret_ended" in events


def _rsa_public() -> dict[str, Any]:
    from joserfc.jwk import RSAKey

    key = RSAKey.generate_key(2048)
    return {**key.as_dict(private=False), "use": "sig", "kid": "k1"}


RSA_PUBLIC = _rsa_public()


def test_private_key_jwt_keys_refuse_private_members(app: Flask) -> None:
    browser = staff_browser(app)
    team_id = create_team(browser)
    private = dict(RSA_PUBLIC, d="c2VjcmV0", p="c2VjcmV0", q="c2VjcmV0")
    resp = register(browser, team_id, token_endpoint_auth_method="private_key_jwt",
                    jwks=json.dumps({"keys": [private]}))
    assert resp.status_code == 400
    assert "private key material" in _field_error(resp.get_data(as_text=True), "jwks")
    # Public keys only: registered, no secret.
    pk, client_id, secret = registered(browser, team_id, token_endpoint_auth_method="private_key_jwt",
                                       jwks=json.dumps({"keys": [RSA_PUBLIC]}))
    assert secret is None
    page = f"/portal/apps/{pk}"
    for jwks, words in [(json.dumps({"keys": [dict(RSA_PUBLIC, d="eA")]}), "private key material"),
                        (json.dumps({"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}), "only RSA and EC public keys"),
                        ("[1, 2", "not valid JSON"), (json.dumps({"keys": []}), "non-empty 'keys'")]:
        resp = post(browser, page, {"jwks": jwks}, action=f"{page}/keys")
        assert resp.status_code == 400
        assert words in _field_error(resp.get_data(as_text=True), "jwks"), words
    resp = post(browser, page, {"jwks_uri": "http://keys.example.org/jwks"}, action=f"{page}/keys")
    assert resp.status_code == 400 and "https" in _field_error(resp.get_data(as_text=True), "jwks_uri")
    resp = post(browser, page, {}, action=f"{page}/keys")
    assert resp.status_code == 400
    resp = post(browser, page, {"jwks_uri": "https://keys.example.org/jwks"}, action=f"{page}/keys")
    assert resp.status_code == 303
    with app.app_context():
        row = db.session.get(Client, pk)
        assert row is not None and row.client_metadata["jwks_uri"] == "https://keys.example.org/jwks"
        assert "jwks" not in row.client_metadata and row.client_secret_hash is None
    # No secret to rotate for a private_key_jwt client.
    resp = post(browser, page, action=f"{page}/rotate")
    assert resp.status_code == 400


def test_disable_and_enable(app: Flask) -> None:
    browser = staff_browser(app)
    team_id = create_team(browser)
    pk, client_id, secret = registered(browser, team_id, grant_types=["client_credentials"], redirect_uris="",
                                       scope=[])
    page = f"/portal/apps/{pk}"
    assert post(browser, page, action=f"{page}/disable").status_code == 303
    assert 'id="disabled-note"' in browser.get(page).get_data(as_text=True)
    assert _client_credentials(browser, client_id, secret or "").status_code == 401
    assert post(browser, page, action=f"{page}/enable").status_code == 303
    assert _client_credentials(browser, client_id, secret or "").status_code == 200


def test_edit_keeps_the_subject_type_and_sensitive_scopes(app: Flask) -> None:
    browser = staff_browser(app)
    team_id = create_team(browser)
    pk, client_id, _secret = registered(browser, team_id, scope=["openid", "nik"],
                                        purpose="Verifikasi identitas pemohon izin usaha.")
    edit = f"/portal/apps/{pk}/edit"
    assert 'value="Perizinan Online"' in browser.get(edit).get_data(as_text=True)
    changed = {"client_name": "Perizinan", "redirect_uris": REDIRECT + "\nhttps://app.example.org/cb2",
               "grant_types": ["authorization_code"], "token_endpoint_auth_method": "client_secret_post",
               "scope": ["openid", "email"]}
    resp = post(browser, edit, {**changed, "subject_type": "pairwise"})
    assert resp.status_code == 400
    assert "cannot change" in _field_error(resp.get_data(as_text=True), "subject_type")
    resp = post(browser, edit, {**changed, "subject_type": "public", "description": "Baru"})
    assert resp.status_code == 303
    with app.app_context():
        row = db.session.get(Client, pk)
        assert row is not None
        assert row.client_metadata["client_name"] == "Perizinan" and row.client_metadata["description"] == "Baru"
        assert row.client_metadata["scope"] == "openid email nik"  # nik stays requested (inert until approved)
        assert row.client_metadata["token_endpoint_auth_method"] == "client_secret_post"


def test_delete_needs_a_fresh_sign_in_and_revokes_the_tokens(app: Flask) -> None:
    browser = staff_browser(app)
    team_id = create_team(browser)
    pk, client_id, secret = registered(browser, team_id, grant_types=["client_credentials"], redirect_uris="",
                                       scope=["staff"], purpose="Daftar pegawai untuk aplikasi kepegawaian.")
    token = _client_credentials(browser, client_id, secret or "").get_json()["access_token"]
    page = f"/portal/apps/{pk}/delete"
    # A sign-in older than five minutes: the page asks for a new one, the POST is refused.
    _age_session(app, browser, 301)
    html = browser.get(page).get_data(as_text=True)
    assert 'id="reauth-needed"' in html
    from tests.citizen.helpers import csrf

    refused = browser.post(page, data={"csrf_token": csrf(browser.get(f"/portal/apps/{pk}").data)})
    assert refused.status_code == 403
    with app.app_context():
        assert db.session.get(Client, pk) is not None
    # Sign in again: the deletion goes through, the tokens stop working.
    from tests.ldap.test_login import post_login

    assert post_login(browser, "budi", "Budi-Pass-2026").status_code == 303
    resp = post(browser, page, {})
    assert resp.status_code == 303 and resp.headers["Location"].endswith(f"/portal/teams/{team_id}")
    with app.app_context():
        assert db.session.get(Client, pk) is None
        assert db.session.execute(select(AuditEvent).where(AuditEvent.event == "portal.client_deleted",
                                                           AuditEvent.client_id == client_id)).first()
    assert browser.get(f"/portal/apps/{pk}").status_code == 404
    assert _client_credentials(browser, client_id, secret or "").status_code == 401
    introspected = browser.post("/introspect", data={"token": token}, headers=basic(client_id, secret or ""))
    assert introspected.status_code == 401


def _age_session(app: Flask, browser: FlaskClient, seconds: int) -> None:
    """Make this browser's sign-in ``seconds`` older, in the real session store."""
    from idp.people import session as login_session

    with app.test_request_context():
        cookie = browser.get_cookie("idp_session")
        assert cookie is not None
        found = login_session.read(cookie.value)
        assert found is not None
        found.auth_time = int(time.time()) - seconds
        login_session.save(found)


def test_uploaded_public_keys_authenticate_with_private_key_jwt(app: Flask) -> None:
    from joserfc.jwk import RSAKey

    from tests.oauth.test_private_key_jwt import assertion, token_request

    key = RSAKey.generate_key(2048, parameters={"kid": "portal-1"})
    browser = staff_browser(app)
    team_id = create_team(browser)
    _pk, client_id, secret = registered(browser, team_id, token_endpoint_auth_method="private_key_jwt",
                                        grant_types=["client_credentials"], redirect_uris="", scope=[],
                                        jwks=json.dumps({"keys": [key.as_dict(private=False)]}))
    assert secret is None
    issuer = app.extensions["idp"].config["ISSUER"].rstrip("/")
    resp = token_request(app, assertion(client_id, key, aud=issuer + "/token"))
    assert resp.status_code == 200, resp.get_json()
    other = RSAKey.generate_key(2048, parameters={"kid": "portal-1"})
    refused = token_request(app, assertion(client_id, other, aud=issuer + "/token"))
    assert refused.get_json()["error"] == "invalid_client"


def test_client_secret_post_during_and_after_the_grace_period(app: Flask) -> None:
    browser = staff_browser(app)
    team_id = create_team(browser)
    pk, client_id, old = registered(browser, team_id, grant_types=["client_credentials"], redirect_uris="",
                                    scope=[], token_endpoint_auth_method="client_secret_post")
    new = rotate(browser, pk)
    assert _client_credentials(browser, client_id, old or "", post_body=True).status_code == 200
    assert _client_credentials(browser, client_id, new, post_body=True).status_code == 200
    with app.app_context():
        row = db.session.get(Client, pk)
        row.previous_secret_expires_at = utcnow()  # type: ignore[union-attr]  # ends now: "until", not "through"
        db.session.commit()
    assert _client_credentials(browser, client_id, old or "", post_body=True).status_code == 401
    assert _client_credentials(browser, client_id, new, post_body=True).status_code == 200


@pytest.mark.parametrize(("fields", "field", "words"), [
    ({"redirect_uris": "https://app.example.org/cb#frag"}, "redirect_uris", "tidak boleh berisi fragmen"),
    ({"redirect_uris": "http://app.example.org/cb"}, "redirect_uris", "harus memakai https"),
    ({"grant_types": []}, "grant_types", "pilih paling sedikit satu jenis grant"),
])
def test_field_messages_in_indonesian(app: Flask, fields: dict[str, Any], field: str, words: str) -> None:
    """The shared registration rules' reasons are said in the page's language (Indonesian by default)."""
    browser = staff_browser(app)
    choose_indonesian(browser)  # it chose English to sign in; back to Indonesian
    team_id = create_team(browser)
    resp = register(browser, team_id, **fields)
    assert resp.status_code == 400
    message = _field_error(resp.get_data(as_text=True), field)
    assert words in message and "Tidak diterima" in message


def test_the_access_token_audience_is_registered_and_checked(app: Flask) -> None:
    """Issue 13: the API identifier (RFC 9068 aud) is a field of the form, and must be an absolute URI."""
    browser = staff_browser(app)
    team_id = create_team(browser)
    bad = register(browser, team_id, access_token_audience="pajak")
    assert bad.status_code == 400
    assert "absolute URI" in _field_error(bad.get_data(as_text=True), "access_token_audience")
    _pk, client_id, _secret = registered(browser, team_id, access_token_audience="https://pajak.api.banten.go.id")
    with app.app_context():
        row = db.session.execute(select(Client).where(Client.client_id == client_id)).scalar_one()
        assert row.client_metadata["access_token_audience"] == "https://pajak.api.banten.go.id"
