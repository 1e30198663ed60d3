"""Every account page needs a signed-in session, every POST a CSRF token, and both languages render."""

from __future__ import annotations

import pytest
from flask import Flask

from tests.citizen.helpers import csrf

from .conftest import PAGES, POSTS, english, signed_in_citizen


@pytest.mark.parametrize("path", PAGES)
def test_not_signed_in_get_redirects_to_login(app: Flask, path: str) -> None:
    resp = english(app).get(path)
    assert resp.status_code == 303 and resp.headers["Location"].endswith("/login")


@pytest.mark.parametrize("path", POSTS)
def test_not_signed_in_post_redirects_to_login(app: Flask, path: str) -> None:
    browser = english(app)
    token = csrf(browser.get("/login").data)  # a valid CSRF token: the session check itself must refuse
    resp = browser.post(path, data={"csrf_token": token})
    assert resp.status_code == 303 and resp.headers["Location"].endswith("/login")


@pytest.mark.parametrize("cookie", ["", "x", "a.b", "a.b.c", "é" * 150 + ".x", "A" * 3000])
def test_forged_cookies_are_not_a_session(app: Flask, cookie: str) -> None:
    browser = english(app)
    browser.set_cookie("idp_session", cookie)
    resp = browser.get("/account")
    assert resp.status_code == 303


def test_csrf_missing_is_400_and_changes_nothing(app: Flask) -> None:
    browser, _ = signed_in_citizen(app)
    for path in POSTS:
        resp = browser.post(path, data={"full_name": "Eve"})
        assert resp.status_code in (400, 404), (path, resp.status_code)
        assert resp.status_code != 404 or path.startswith("/account/sessions/end/") \
            or path.startswith("/account/apps/revoke/"), path
    assert browser.get("/account").status_code == 200  # still signed in: nothing ended


@pytest.mark.parametrize("path", PAGES)
@pytest.mark.parametrize(("lang", "word"), [("en", "Your account"), ("id", "Akun")])
def test_pages_render_in_both_languages(app: Flask, path: str, lang: str, word: str) -> None:
    browser, citizen = signed_in_citizen(app)
    resp = browser.get(f"{path}?lang={lang}")  # the language switch
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    assert f'lang="{lang}"' in html and word in html
    assert citizen.nik not in html
