"""Empty credential fields beyond the sign-in page (issue 16): the current password, the new password, the
SMS code, the current authenticator code, the password a confirmation link asks for in another browser,
the forgotten-password form.  Each empty (or white-space-only) field comes back at the field, marked
``aria-invalid`` and named in ``aria-describedby``; nothing is tried, nothing counts towards a lock or
uses up a code, so the right value still works afterwards.  The sign-in page and linking have their own
tests (tests/citizen/test_signin.py, tests/ldap/test_login.py, tests/ldap/test_linking.py)."""

from __future__ import annotations

import re
from typing import Any

import pyotp
import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.citizen.helpers import PASSWORD, confirm, register, sign_in, verification_link
from tests.helpers import REQUIRED, code_in, english, field_error, field_input, sms_outbox

from .conftest import post_page, signed_in_citizen
from .test_phone import add_number, type_code
from .test_two_step import code, set_up

NEW = "sate ayam pakai lontong"


@pytest.fixture
def app(oauth_app: Any) -> Flask:
    # One counted failure would lock the NIK: any empty field that counted shows at the next sign-in.
    return oauth_app(LOGIN_MAX_FAILURES=1)


# (page, where the form posts, what is sent, the field answered, the words at the field)
EMPTY_FIELDS = [
    ("/account/password", None, {"current_password": "", "password": NEW, "password_confirm": NEW},
     "current_password", REQUIRED),
    ("/account/password", None, {"current_password": " \t ", "password": NEW, "password_confirm": NEW},
     "current_password", REQUIRED),
    ("/account/password", None, {"current_password": PASSWORD, "password": "", "password_confirm": ""},
     "password", REQUIRED),
    ("/account/password", None, {"current_password": PASSWORD, "password": "   ", "password_confirm": "   "},
     "password", REQUIRED),
    ("/forgot-password", None, {"identifier": ""}, "identifier",
     "Enter your NIK, your e-mail address or your mobile number."),
    ("/forgot-password", None, {"identifier": "\u3000"}, "identifier",
     "Enter your NIK, your e-mail address or your mobile number."),
]


@pytest.mark.parametrize(("page", "action", "data", "field", "words"), EMPTY_FIELDS)
def test_empty_fields_are_answered_at_the_field_and_count_nothing(app: Flask, page: str, action: str | None,
                                                                    data: dict[str, str], field: str,
                                                                    words: str) -> None:
    browser, citizen = signed_in_citizen(app)
    for _ in range(6):  # beyond the address's limit (five times the name's) too
        resp = post_page(browser, page, data, action)
        assert resp.status_code == 400
        html = resp.get_data(as_text=True)
        assert field_error(html, field) == words
        assert "required" in field_input(html, field).split()
        assert "is wrong" not in html and "not right" not in html
    assert sign_in(english(app), citizen).status_code == 303  # neither the NIK nor the address is locked


def test_empty_sms_codes_do_not_use_up_the_code(app: Flask) -> None:
    browser, _ = signed_in_citizen(app)
    assert add_number(browser, "0812-7777-0001").status_code == 303
    sent = code_in(sms_outbox(app)[-1]["text"])
    for typed in ["", " ", "\t"] * 3:  # nine: the code allows five wrong tries
        resp = type_code(browser, typed)
        assert resp.status_code == 400
        assert field_error(resp.get_data(as_text=True), "code") == REQUIRED
        assert "required" in field_input(resp.get_data(as_text=True), "code").split()
    assert type_code(browser, sent).status_code == 303
    assert "+62" in browser.get("/account/phone").get_data(as_text=True)


def test_an_empty_current_authenticator_code_is_required_not_counted(app: Flask) -> None:
    """Replacing the authenticator asks for a code of the current one: left empty, it is asked for again."""
    browser, _ = signed_in_citizen(app)
    secret, _ = set_up(browser)
    for _ in range(3):
        page = browser.get("/account/two-step/setup")
        new_secret = re.search(r'<code id="totp-secret">([A-Z2-7 ]+)</code>',
                               page.get_data(as_text=True)).group(1).replace(" ", "")
        resp = post_page(browser, "/account/two-step/setup", {"code": pyotp.TOTP(new_secret).now(),
                                                              "current_code": " "})
        assert resp.status_code == 400
        assert field_error(resp.get_data(as_text=True), "current_code") == REQUIRED
    page = browser.get("/account/two-step/setup")
    new_secret = re.search(r'<code id="totp-secret">([A-Z2-7 ]+)</code>',
                           page.get_data(as_text=True)).group(1).replace(" ", "")
    done = post_page(browser, "/account/two-step/setup", {"code": pyotp.TOTP(new_secret).now(),
                                                          "current_code": code(secret)})
    assert done.status_code == 200 and 'id="recovery-codes"' in done.get_data(as_text=True)


def confirmation_page(browser: FlaskClient, link: str, password: str) -> Any:
    page = browser.get(link)
    token = re.search(r'name="token" type="hidden" value="([^"]+)"', page.get_data(as_text=True)).group(1)
    csrf = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page.get_data(as_text=True)).group(1)
    return browser.post("/verify-email", data={"csrf_token": csrf, "token": token, "password": password})


def test_an_empty_password_does_not_use_up_the_confirmation_link(app: Flask) -> None:
    """Opened in another browser, the link asks for the registration's password; five wrong ones use it up,
    empty ones do not count."""
    citizen, resp = register(english(app))
    assert resp.status_code == 303
    link = verification_link(app, citizen.email)
    other = english(app, "10.2.0.1")
    for typed in ["", "   "] * 5:
        asked = confirmation_page(other, link, typed)
        assert asked.status_code == 400
        assert field_error(asked.get_data(as_text=True), "password") == REQUIRED
    assert confirm(other, link, password=citizen.password).status_code == 303
    assert sign_in(english(app), citizen).status_code == 303
