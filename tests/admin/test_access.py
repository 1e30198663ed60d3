"""Who reaches the administration console: nobody signed in goes to the sign-in page, citizens and
staff who are not administrators get 403 (a page, never a 500), an administrator without a second
factor in this session gets the page that explains it, and an administrator with it gets the console."""

from __future__ import annotations

import time
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from idp.extensions import db
from idp.models import Person
from tests.account.conftest import signed_in_citizen
from tests.citizen.helpers import csrf
from tests.helpers import choose_indonesian

from .conftest import BUDI, SITI, admin, english, post_form, staff

GETS = ["/admin", "/admin/scope-requests", "/admin/people", "/admin/people/{me}", "/admin/clients",
        "/admin/audit", "/admin/audit.csv", "/admin/tokens", "/admin/keys"]
POSTS = ["/admin/scope-requests/1/approve", "/admin/scope-requests/1/refuse", "/admin/scope-requests/1/revoke",
         "/admin/people", "/admin/people/{me}/lock", "/admin/people/{me}/unlock",
         "/admin/people/{me}/end-sessions", "/admin/clients/1/disable", "/admin/clients/1/enable",
         "/admin/clients/1/delete", "/admin/tokens", "/admin/keys/rotate"]


def _me(app: Flask) -> int:
    with app.app_context():
        return db.session.execute(select(Person.id).order_by(Person.id.desc())).scalars().first() or 1


def _check(browser: FlaskClient, app: Flask, token_page: str, expect: Any) -> None:
    me = _me(app)
    token = csrf(browser.get(token_page).data)
    for path in GETS:
        expect(path, browser.get(path.format(me=me)))
    for path in POSTS:
        expect(path, browser.post(path.format(me=me), data={"csrf_token": token}))


def test_anonymous_goes_to_the_sign_in_page(app: Flask) -> None:
    def expect(path: str, resp: Any) -> None:
        # The sign-in page, with the console page to return to afterwards (idp.web.common.safe_next).
        location = resp.headers.get("Location", "")
        assert resp.status_code == 303 and location.startswith("/login?next=/admin"), (path, resp.status_code)

    _check(english(app), app, "/login", expect)


@pytest.mark.parametrize("who", ["citizen", "staff"])
def test_non_administrators_get_403(app: Flask, who: str) -> None:
    browser = signed_in_citizen(app)[0] if who == "citizen" else staff(app, SITI)

    def expect(path: str, resp: Any) -> None:
        assert resp.status_code == 403, (path, resp.status_code)
        assert 'id="admin-forbidden"' in resp.get_data(as_text=True), path

    _check(browser, app, "/account/sessions", expect)


def test_an_administrator_without_a_second_factor_gets_the_explanation(app: Flask) -> None:
    browser = staff(app, BUDI)

    def expect(path: str, resp: Any) -> None:
        html = resp.get_data(as_text=True)
        assert resp.status_code == 403 and 'id="admin-needs-mfa"' in html, (path, resp.status_code)
        assert 'href="/account/two-step/setup"' in html and 'id="admin-console"' not in html

    _check(browser, app, "/account/sessions", expect)


def test_an_administrator_with_a_second_factor_gets_the_console(app: Flask) -> None:
    browser = admin(app)
    me = _me(app)
    for path in GETS:
        resp = browser.get(path.format(me=me))
        assert resp.status_code == 200, (path, resp.status_code)
        assert resp.headers["Cache-Control"] == "no-store"
    assert 'id="admin-console"' in browser.get("/admin").get_data(as_text=True)
    token = csrf(browser.get("/admin/keys").data)
    for path in POSTS:
        resp = browser.post(path.format(me=me), data={"csrf_token": token})
        assert resp.status_code not in (403, 500), (path, resp.status_code)


def test_every_post_needs_the_csrf_token(app: Flask) -> None:
    browser = admin(app)
    me = _me(app)
    for path in POSTS:
        resp = browser.post(path.format(me=me), data={"note": "x", "sid": "x"})
        assert resp.status_code == 400, (path, resp.status_code)
    with app.app_context():
        assert db.session.get(Person, me).status == "active"


def test_destructive_actions_need_a_recent_sign_in(app: Flask) -> None:
    browser = admin(app)
    from idp.people import session as login_session

    with app.test_request_context():
        found = login_session.read(browser.get_cookie("idp_session").value)
        found.auth_time = int(time.time()) - 301
        login_session.save(found)
    assert 'id="reauth-needed"' in browser.get("/admin/keys").get_data(as_text=True)
    me = _me(app)
    for action in (f"/admin/people/{me}/end-sessions", "/admin/keys/rotate", "/admin/clients/1/disable"):
        resp = post_form(browser, "/admin/keys", action)
        assert resp.status_code == 403 and 'id="reauth"' in resp.get_data(as_text=True), action
    assert browser.get("/admin").status_code == 200  # the session itself still works


def test_the_console_renders_in_indonesian(app: Flask) -> None:
    browser = admin(app)
    choose_indonesian(browser)  # it chose English to sign in; back to Indonesian
    me = _me(app)
    for path in GETS:
        resp = browser.get(path.format(me=me))
        assert resp.status_code == 200, (path, resp.status_code)
    assert 'lang="id"' in browser.get("/admin").get_data(as_text=True)
