"""Fixtures for the administration console tests: an app with the test directory (budi is in
``idp-admins``, siti is not) and signing keys, and browsers signed in as each kind of person."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import pyotp
import pytest
from flask import Flask
from flask.testing import FlaskClient

from idp.sources.ldap import get_connector
from tests.citizen.helpers import csrf, sign_in
from tests.helpers import english
from tests.ldap.conftest import BUDI, SITI, ldap_certs, ldap_settings, slapd_main  # noqa: F401 - fixtures
from tests.oauth.conftest import make_rp, oauth_app  # noqa: F401 - fixtures used by the tests here

__all__ = ["BUDI", "SITI", "english", "ldap_certs", "make_rp", "oauth_app", "slapd_main"]


@pytest.fixture
def app(oauth_app: Callable[..., Flask], slapd_main: Any) -> Iterator[Flask]:
    """PostgreSQL + Redis + slapd; administrators may sign in with the password alone (so that the
    console's own second-factor rule is what is tested)."""
    made = oauth_app(**ldap_settings([slapd_main.url]))
    yield made
    found = get_connector(made)
    if found is not None:
        found.close()


def staff(app: Flask, who: tuple[str, str], ip: str = "127.0.0.1") -> FlaskClient:
    """A browser signed in with a directory account (password only)."""
    browser = english(app, ip)
    resp = sign_in(browser, who[0], who[1], kind="ldap")
    assert resp.status_code == 303, resp.get_data(as_text=True)[:1000]
    return browser


def set_up_totp(browser: FlaskClient) -> str:
    """Turn two-step verification on through the pages (the session then has the MFA level); the secret."""
    page = browser.get("/account/two-step/setup")
    assert page.status_code == 200, page.status_code
    secret = re.search(r'<code id="totp-secret">([A-Z2-7 ]+)</code>', page.get_data(as_text=True)).group(1)
    secret = secret.replace(" ", "")
    done = browser.post("/account/two-step/setup", data={"csrf_token": csrf(page.data),
                                                          "code": pyotp.TOTP(secret).now()})
    assert done.status_code == 200, done.get_data(as_text=True)[:1000]
    return secret


def admin(app: Flask, ip: str = "127.0.0.1") -> FlaskClient:
    """budi, signed in and with two-step verification set up in this session (acr MFA)."""
    browser = staff(app, BUDI, ip)
    set_up_totp(browser)
    return browser


def post_form(browser: FlaskClient, page: str, action: str, data: dict[str, Any] | None = None) -> Any:
    """GET ``page`` for a CSRF token and POST ``data`` to ``action``; never a 500."""
    got = browser.get(page)
    assert got.status_code == 200, (page, got.status_code)
    resp = browser.post(action, data={"csrf_token": csrf(got.data), **(data or {})})
    assert resp.status_code < 500 and b"Traceback" not in resp.data, resp.status_code
    return resp
