"""Page polish found on a phone (issue 16): the remember-me checkbox inside its label, destructive buttons
marked, a cancel on the sign-out confirmation, an otpauth:// link beside the QR code, the start page
links to the account pages."""

from __future__ import annotations

import re
from typing import Any

from flask import Flask

from .conftest import signed_in_citizen


def test_the_remember_checkbox_sits_in_its_label(app: Flask) -> None:
    html = app.test_client().get("/login").get_data(as_text=True)
    assert re.search(r'<label for="remember" class="tap"><input[^>]*id="remember"', html)


def test_signed_in_pages(app: Flask) -> None:
    browser, _ = signed_in_citizen(app)
    assert re.search(r'href="/account" id="account-link"', browser.get("/").get_data(as_text=True))
    assert 'class="danger" id="confirm-delete"' in browser.get("/account/delete").get_data(as_text=True)
    assert 'class="danger" id="sign-out-everywhere"' in browser.get("/account/sessions").get_data(as_text=True)
    setup = browser.get("/account/two-step/setup").get_data(as_text=True)
    assert re.search(r'<a href="otpauth://totp/[^"]+" id="totp-link">', setup)
    confirm = browser.get("/end_session").get_data(as_text=True)
    assert 'id="cancel-sign-out"' in confirm


def test_the_consent_page_names_the_account_and_the_applications_policies(app: Flask, make_rp: Any) -> None:
    rp = make_rp(first_party=False, policy_uri="https://app.example.org/privasi",
                 tos_uri="https://app.example.org/syarat")
    page = rp.authorize()
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and 'id="consent-account"' in html and "Siti Aminah" in html
    assert 'href="https://app.example.org/privasi"' in html and 'href="https://app.example.org/syarat"' in html


def test_assurance_levels_are_words(app: Flask) -> None:
    browser, _ = signed_in_citizen(app)
    html = browser.get("/account/sessions").get_data(as_text=True)
    assert "urn:" not in html and "password" in html
