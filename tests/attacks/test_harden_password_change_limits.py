"""A stolen session guessing the account's password at ``/account/password`` (change password) meets the
sign-in page's brute-force limits: the same per-identifier counters (the account's NIK and e-mail) and
the same per-IP counter, so the page is no way around them, and its failures lock the sign-in page."""

from __future__ import annotations

import secrets
from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient

from idp.extensions import db
from idp.models import AuditEvent
from tests.account.conftest import english, signed_in_citizen
from tests.citizen.helpers import Citizen, csrf, sign_in

MAX = 3  # IDP_LOGIN_MAX_FAILURES; the IP may fail 5 times as often
NEW = "kuda-laut-biru-sore-2026"


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    return make_app(LOGIN_MAX_FAILURES=MAX)


def change(browser: FlaskClient, current: str) -> tuple[int, str]:
    page = browser.get("/account/password")
    resp = browser.post("/account/password", data={"csrf_token": csrf(page.data), "current_password": current,
                                                   "password": NEW, "password_confirm": NEW})
    return resp.status_code, resp.get_data(as_text=True)


def test_wrong_current_passwords_lock_like_the_sign_in_page(app: Flask) -> None:
    browser, citizen = signed_in_citizen(app)
    answers = [change(browser, f"tebakan-{i}-salah")[0] for i in range(MAX)]
    assert answers == [400] * (MAX - 1) + [429]
    status, html = change(browser, citizen.password)  # even the right password waits out the lock
    assert status == 429 and "Too many attempts" in html
    # The lock is the sign-in page's: by NIK and by e-mail, from another address too.
    assert sign_in(english(app, "10.9.0.1"), citizen).status_code == 429
    assert sign_in(english(app, "10.9.0.2"), citizen.email, citizen.password).status_code == 429
    with app.app_context():
        reasons = [e.detail.get("reason") for e in db.session.query(AuditEvent).filter_by(
            event="password.changed", outcome="failure").order_by(AuditEvent.id)]
    assert reasons == ["invalid"] * (MAX - 1) + ["locked", "locked"]


@pytest.mark.parametrize("typed", ["nik", "email"])
def test_sign_in_failures_count_at_the_password_page(app: Flask, typed: str) -> None:
    browser, citizen = signed_in_citizen(app)
    attacker = english(app, "10.9.0.3")
    for _ in range(MAX - 1):
        assert sign_in(attacker, getattr(citizen, typed), "salah-lagi-" + secrets.token_hex(3)).status_code == 401
    assert change(browser, "satu-tebakan-lagi")[0] == 429  # the same counter: the last allowed failure


def test_the_ip_counter_is_shared(app: Flask) -> None:
    """Failures on the sign-in page from one address (any identifiers) and at the password page add up."""
    browser, _citizen = signed_in_citizen(app)
    ip = "127.0.0.1"  # the browser's address (tests.account.conftest.english)
    stranger = english(app, ip)
    for i in range(MAX * 5 - 1):
        assert sign_in(stranger, f"orang{i}@contoh.id", "salah-" + str(i)).status_code == 401
    status, _html = change(browser, "tebakan-pertama")
    assert status == 429


def test_right_password_still_changes_it(app: Flask) -> None:
    browser, citizen = signed_in_citizen(app)
    assert change(browser, "sekali-salah")[0] == 400
    page = browser.get("/account/password")
    resp = browser.post("/account/password", data={"csrf_token": csrf(page.data), "current_password":
                                                   citizen.password, "password": NEW, "password_confirm": NEW})
    assert resp.status_code == 303
    assert sign_in(english(app, "10.9.0.4"), Citizen(citizen.nik, citizen.email, NEW, citizen.name,
                                                     citizen.birthdate)).status_code == 303
