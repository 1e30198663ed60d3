"""Who reaches the developer portal: staff only (403 for citizens, the sign-in page for strangers), and
a developer only their own teams' applications (404 for the others, as for ones that do not exist)."""

from __future__ import annotations

from flask import Flask

from tests.citizen.helpers import register_and_verify, sign_in

from .conftest import SITI, create_team, english, post, registered, staff_browser

PAGES = ["/portal", "/portal/teams/1", "/portal/teams/1/apps/new", "/portal/apps/1", "/portal/apps/1/edit",
         "/portal/apps/1/delete", "/portal/apps/1/test", "/portal/apps/1/secret/x"]
POSTS = ["/portal/teams", "/portal/teams/1/members", "/portal/teams/1/members/1/remove",
         "/portal/teams/1/members/1/owner", "/portal/teams/1/apps/new", "/portal/apps/1/edit",
         "/portal/apps/1/rotate", "/portal/apps/1/end-grace", "/portal/apps/1/keys", "/portal/apps/1/disable",
         "/portal/apps/1/enable", "/portal/apps/1/delete", "/portal/apps/1/scopes", "/portal/apps/1/scopes/1/withdraw"]


def test_not_signed_in_goes_to_the_sign_in_page(app: Flask) -> None:
    browser = english(app)
    for path in PAGES:
        resp = browser.get(path)
        assert resp.status_code == 303, path
        assert resp.headers["Location"].startswith("/login"), path
    for path in POSTS:
        resp = browser.post(path, data={"csrf_token": "x"})
        assert resp.status_code in (303, 400), path  # the CSRF check may answer first; never a 500


def test_a_citizen_gets_403_not_a_500(app: Flask) -> None:
    browser = english(app)
    citizen = register_and_verify(browser)
    assert sign_in(browser, citizen).status_code == 303
    for path in PAGES:
        resp = browser.get(path)
        assert resp.status_code == 403, path
        assert 'id="forbidden"' in resp.get_data(as_text=True)
    resp = browser.get("/portal")
    assert "staff" in resp.get_data(as_text=True)


def test_staff_reach_the_portal(app: Flask) -> None:
    browser = staff_browser(app)
    resp = browser.get("/portal")
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    assert 'id="no-teams"' in html and 'id="create-team"' in html
    assert resp.headers["Cache-Control"] == "no-store"
    # Indonesian by default.
    indonesian = app.test_client()
    from tests.ldap.test_login import post_login

    assert post_login(indonesian, "budi", "Budi-Pass-2026").status_code == 303
    assert indonesian.get("/portal").status_code == 200


def test_another_teams_application_is_404(app: Flask) -> None:
    budi = staff_browser(app)
    team_id = create_team(budi, "Bappeda")
    pk, client_id, _secret = registered(budi, team_id)
    siti = staff_browser(app, SITI)
    create_team(siti, "Dinas Lain")
    for path in [f"/portal/apps/{pk}", f"/portal/apps/{pk}/edit", f"/portal/apps/{pk}/delete",
                 f"/portal/apps/{pk}/test", f"/portal/teams/{team_id}", f"/portal/teams/{team_id}/apps/new",
                 "/portal/apps/999999", "/portal/teams/999999", "/portal/apps/99999999999999999999"]:
        assert siti.get(path).status_code == 404, path
    token = _csrf_of(siti)
    for action in ["rotate", "end-grace", "disable", "enable", "delete", "keys", "scopes", "edit"]:
        resp = siti.post(f"/portal/apps/{pk}/{action}", data={"csrf_token": token, "jwks_uri": "https://x.example/k",
                                                              "client_name": "Taken over"})
        assert resp.status_code == 404, action
    for action in ["members", "members/1/remove", "members/1/owner", "apps/new"]:
        assert siti.post(f"/portal/teams/{team_id}/{action}", data={"csrf_token": token, "who": "siti"}
                         ).status_code == 404, action
    assert f'id="app-{pk}"' not in siti.get("/portal").get_data(as_text=True)
    # Nothing changed.
    with app.app_context():
        from idp.extensions import db
        from idp.models import Client

        row = db.session.get(Client, pk)
        assert row is not None and not row.disabled and row.client_metadata["client_name"] == "Perizinan Online"
        assert row.previous_secret_hash is None


def test_hostile_ids_and_values_are_not_500(app: Flask) -> None:
    browser = staff_browser(app)
    for path in ["/portal/apps/0", "/portal/apps/-1", "/portal/apps/2147483648", "/portal/teams/0",
                 "/portal/apps/1/secret/%00", "/portal/apps/1/secret/" + "a" * 500]:
        assert browser.get(path).status_code == 404, path
    team_id = create_team(browser)
    for name in ["", " ", "x" * 300, "a\x00b"]:
        resp = post(browser, "/portal", {"name": name}, action="/portal/teams")
        assert resp.status_code == 400, name
    resp = post(browser, "/portal", {"name": "dinas kominfo"}, action="/portal/teams")
    assert resp.status_code == 400 and "already exists" in resp.get_data(as_text=True)
    resp = browser.post(f"/portal/teams/{team_id}/apps/new", data={"client_name": "x"})  # no CSRF token
    assert resp.status_code == 400
    hostile = "a\x00b<script>'\"\u202e"
    fields = ["client_name", "description", "client_uri", "logo_uri", "policy_uri", "tos_uri", "redirect_uris",
              "post_logout_redirect_uris", "backchannel_logout_uri", "frontchannel_logout_uri", "grant_types",
              "token_endpoint_auth_method", "jwks", "jwks_uri", "subject_type", "sector_identifier_uri", "scope",
              "purpose"]
    for name in fields:
        data = {"client_name": "Aplikasi", "redirect_uris": "https://app.example.org/cb",
                "grant_types": "authorization_code", "scope": ["openid", "nik"], "purpose": "x" * 30, name: hostile}
        resp = post(browser, f"/portal/teams/{team_id}/apps/new", data)
        assert resp.status_code == 400, name
        assert "<script>'" not in resp.get_data(as_text=True), name
    for name in ["who"]:
        assert post(browser, f"/portal/teams/{team_id}", {name: hostile},
                    action=f"/portal/teams/{team_id}/members").status_code == 400


def _csrf_of(browser: object) -> str:
    from tests.citizen.helpers import csrf

    return csrf(browser.get("/portal").data)  # type: ignore[attr-defined]


def test_every_page_renders_in_indonesian(app: Flask) -> None:
    from tests.ldap.test_login import post_login

    from .conftest import register

    browser = app.test_client()  # no Accept-Language: Indonesian, the default
    assert post_login(browser, "budi", "Budi-Pass-2026").status_code == 303
    team_id = create_team(browser)
    resp = register(browser, team_id, scope=["openid", "nik"], purpose="Verifikasi identitas pemohon izin usaha.")
    assert resp.status_code == 303
    pk = int(resp.headers["Location"].split("/apps/")[1].split("/")[0])
    for path in ["/portal", f"/portal/teams/{team_id}", f"/portal/teams/{team_id}/apps/new", f"/portal/apps/{pk}",
                 f"/portal/apps/{pk}/edit", f"/portal/apps/{pk}/delete", f"/portal/apps/{pk}/test"]:
        page = browser.get(path)
        assert page.status_code == 200, path
        assert 'lang="id"' in page.get_data(as_text=True), path
    bad = register(browser, team_id, redirect_uris="http://example.org/cb")
    assert bad.status_code == 400 and 'id="redirect_uris-error"' in bad.get_data(as_text=True)
