"""Teams (members by staff user name or e-mail, ownership hand-over, always one owner), sensitive-scope
requests (created with a purpose, inert until an administrator approves, withdrawn), and the
integration help with its test sign-in through the real authorization and token endpoints."""

from __future__ import annotations

import re
from html import unescape
from urllib.parse import parse_qs, urlsplit

from flask import Flask
from sqlalchemy import select

from idp.consoles import scope_requests
from idp.extensions import db
from idp.models import AuditEvent, Client, ScopeRequest, TeamMember
from idp.oauth.clients import OAuthClient
from tests.citizen.helpers import register_and_verify
from tests.oauth.helpers import basic

from .conftest import BUDI, REDIRECT, SITI, create_team, english, post, registered, staff_browser

PURPOSE = "Verifikasi identitas pemohon izin usaha (UU PDP pasal 16)."


def _person_id(app: Flask, username: str) -> int:
    from idp.models import StaffAccount

    with app.app_context():
        return int(db.session.execute(select(StaffAccount.person_id).where(
            StaffAccount.username == username)).scalar_one())


def test_team_membership_and_ownership_hand_over(app: Flask) -> None:
    budi = staff_browser(app, BUDI)
    siti = staff_browser(app, SITI)  # has signed in once: she can be added
    team_id = create_team(budi, "Bappeda Banten")
    page = f"/portal/teams/{team_id}"
    pk, client_id, _secret = registered(budi, team_id)
    assert siti.get(f"/portal/apps/{pk}").status_code == 404
    # Only existing staff: a citizen's e-mail address or an unknown name is refused at the field.
    citizen = register_and_verify(english(app))
    for who in ["nobody", citizen.email, "", "x" * 300]:
        resp = post(budi, page, {"who": who}, action=f"{page}/members")
        assert resp.status_code == 400, who
        assert 'id="who-error"' in resp.get_data(as_text=True)
    # By e-mail address (any case).
    resp = post(budi, page, {"who": "Siti.Nurhaliza@bantenprov.go.id"}, action=f"{page}/members")
    assert resp.status_code == 303
    resp = post(budi, page, {"who": "siti"}, action=f"{page}/members")
    assert resp.status_code == 400 and "already in the team" in resp.get_data(as_text=True)
    # Siti now sees and manages the team's application, but cannot manage the membership.
    assert siti.get(f"/portal/apps/{pk}").status_code == 200
    assert f'id="app-{pk}"' in siti.get("/portal").get_data(as_text=True)
    budi_id, siti_id = _person_id(app, "budi"), _person_id(app, "siti")
    assert post(siti, page, {"who": "budi"}, action=f"{page}/members").status_code == 403
    assert post(siti, page, action=f"{page}/members/{budi_id}/remove").status_code == 403
    assert post(siti, page, action=f"{page}/members/{siti_id}/owner").status_code == 403
    # The last owner cannot leave; the owner hands over and stays as a member.
    resp = post(budi, page, action=f"{page}/members/{budi_id}/remove")
    assert resp.status_code == 400 and "at least one owner" in resp.get_data(as_text=True)
    assert post(budi, page, action=f"{page}/members/{budi_id}/owner").status_code == 400  # not to oneself
    assert post(budi, page, action=f"{page}/members/{siti_id}/owner").status_code == 303
    with app.app_context():
        roles = dict(db.session.execute(select(TeamMember.person_id, TeamMember.role)
                                        .where(TeamMember.team_id == team_id)).tuples().all())
        assert roles == {budi_id: "member", siti_id: "owner"}
        events = {e.event for e in db.session.execute(select(AuditEvent)).scalars()}
        assert {"portal.member_added", "portal.ownership_handed_over"} <= events
    # Now Siti removes Budi; he no longer sees the application (404).
    assert post(siti, page, action=f"{page}/members/{budi_id}/remove").status_code == 303
    assert budi.get(f"/portal/apps/{pk}").status_code == 404
    assert budi.get(page).status_code == 404
    # A member may leave on their own; the owner cannot.
    assert post(siti, page, {"who": "budi"}, action=f"{page}/members").status_code == 303
    assert post(budi, page, action=f"{page}/members/{budi_id}/remove").status_code == 303
    assert post(siti, page, action=f"{page}/members/{siti_id}/remove").status_code == 400


def test_sensitive_scope_request_is_inert_until_approved(app: Flask) -> None:
    budi = staff_browser(app)
    team_id = create_team(budi)
    pk, client_id, _secret = registered(budi, team_id, scope=["openid", "profile", "nik"], purpose=PURPOSE)
    html = budi.get(f"/portal/apps/{pk}").get_data(as_text=True)
    assert "waiting for an administrator" in html and PURPOSE in unescape(html)
    with app.app_context():
        row = db.session.get(Client, pk)
        assert row is not None and "nik" in row.client_metadata["scope"] and row.approved_scopes == ""
        request_row = db.session.execute(select(ScopeRequest).where(ScopeRequest.client_id == pk)).scalar_one()
        assert (request_row.scope, request_row.status, request_row.purpose) == ("nik", "pending", PURPOSE)
        assert request_row.requested_by == _person_id(app, "budi")
        # The gate: not approved, the scope is dropped (RFC 6749 3.3).
        assert OAuthClient(row).get_allowed_scope("openid profile nik") == "openid profile"
        request_id = request_row.id
        scope_requests.approve(request_row, admin_id=_person_id(app, "budi"), note="Sesuai.")
        db.session.commit()
        row = db.session.get(Client, pk)
        assert OAuthClient(row).get_allowed_scope("openid profile nik") == "openid profile nik"  # type: ignore[arg-type]
    html = budi.get(f"/portal/apps/{pk}").get_data(as_text=True)
    assert "approved" in html and "Sesuai." in html and f'id="withdraw-{request_id}"' not in html


def test_request_and_withdraw_a_sensitive_scope_later(app: Flask) -> None:
    budi = staff_browser(app)
    team_id = create_team(budi)
    pk, _client_id, _secret = registered(budi, team_id)
    page = f"/portal/apps/{pk}"
    for data, field in [({"scope": "staff", "purpose": "short"}, "purpose"),
                        ({"scope": "profile", "purpose": PURPOSE}, "scope"),
                        ({"scope": "", "purpose": PURPOSE}, "scope")]:
        resp = post(budi, page, data, action=f"{page}/scopes")
        assert resp.status_code == 400 and f'id="{field}-error"' in resp.get_data(as_text=True), data
    assert post(budi, page, {"scope": "staff", "purpose": PURPOSE}, action=f"{page}/scopes").status_code == 303
    resp = post(budi, page, {"scope": "staff", "purpose": PURPOSE}, action=f"{page}/scopes")
    assert resp.status_code == 400 and "already waiting" in resp.get_data(as_text=True)
    with app.app_context():
        row = db.session.get(Client, pk)
        assert row is not None and row.client_metadata["scope"] == "openid profile email staff"
        assert OAuthClient(row).get_allowed_scope("openid staff") == "openid"
        request_id = db.session.execute(select(ScopeRequest.id).where(ScopeRequest.client_id == pk)).scalar_one()
    assert post(budi, page, action=f"{page}/scopes/{request_id}/withdraw").status_code == 303
    assert post(budi, page, action=f"{page}/scopes/{request_id}/withdraw").status_code == 400  # not pending now
    assert post(budi, page, action=f"{page}/scopes/999999/withdraw").status_code == 400
    with app.app_context():
        assert db.session.get(ScopeRequest, request_id).status == "withdrawn"  # type: ignore[union-attr]
        events = [e.event for e in db.session.execute(select(AuditEvent)).scalars()]
        assert "portal.scope_requested" in events and "portal.scope_withdrawn" in events
    assert "withdrawn" in budi.get(page).get_data(as_text=True)


def test_integration_help_and_test_sign_in(app: Flask) -> None:
    budi = staff_browser(app)
    team_id = create_team(budi)
    pk, client_id, secret = registered(budi, team_id)
    issuer = app.extensions["idp"].config["ISSUER"].rstrip("/")
    html = unescape(budi.get(f"/portal/apps/{pk}").get_data(as_text=True))
    discovery = f"{issuer}/.well-known/openid-configuration"
    for example in ("example-python", "example-node", "example-apache", "example-php", "example-php_plain"):
        block = re.search(rf'id="{example}">(.*?)</code>', html, re.S)
        assert block and client_id in block.group(1), example
    assert "<h3>PHP (no library)</h3>" in html
    assert f'server_metadata_url="{discovery}"' in html and f"OIDCProviderMetadataURL {discovery}" in html
    assert f'new URL("{issuer}")' in html and f"OIDCRedirectURI {REDIRECT}" in html
    test_page = budi.get(f"/portal/apps/{pk}/test").get_data(as_text=True)
    url = unescape(re.search(r'href="([^"]+)" id="start-test"', test_page).group(1))  # type: ignore[union-attr]
    verifier = re.search(r'id="test-verifier">([^<]+)<', test_page).group(1)  # type: ignore[union-attr]
    params = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    assert url.startswith(issuer + "/authorize?")
    assert params["client_id"] == client_id and params["redirect_uri"] == REDIRECT
    assert params["code_challenge_method"] == "S256" and params["state"] and params["nonce"]
    # The flow runs at the real endpoints: consent, then the code goes to the application's redirect URI.
    consent = budi.get(url[len(issuer):])
    assert consent.status_code == 200 and "Perizinan Online" in consent.get_data(as_text=True)
    form = {name: value for name, value in re.findall(r'name="(csrf_token|req)" value="([^"]+)"',
                                                      consent.get_data(as_text=True))}
    resp = budi.post("/authorize/consent", data={**form, "decision": "allow"})
    assert resp.status_code == 302 and resp.headers["Location"].startswith(REDIRECT + "?")
    back = {k: v[0] for k, v in parse_qs(urlsplit(resp.headers["Location"]).query).items()}
    assert back["state"] == params["state"]
    token = budi.post("/token", data={"grant_type": "authorization_code", "code": back["code"],
                                      "redirect_uri": REDIRECT, "code_verifier": verifier},
                      headers=basic(client_id, secret or ""))
    assert token.status_code == 200 and "id_token" in token.get_json()
    # No test sign-in without the code grant.
    pk2, _cid, _sec = registered(budi, team_id, grant_types=["client_credentials"], redirect_uris="", scope=[])
    assert budi.get(f"/portal/apps/{pk2}/test").status_code == 400
    assert 'id="test-sign-in"' not in budi.get(f"/portal/apps/{pk2}").get_data(as_text=True)
