"""Fixtures for the account page tests: an app with signing keys (for the relying-party tests) and
English test clients that sign a citizen in through the real pages."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.citizen.helpers import Citizen, csrf, register_and_verify, sign_in
from tests.helpers import english
from tests.ldap.conftest import ldap_app, ldap_certs, slapd_main  # noqa: F401 - fixtures used here
from tests.oauth.conftest import RP, make_rp, oauth_app  # noqa: F401 - fixtures used by the tests here

__all__ = ["RP", "english", "ldap_app", "ldap_certs", "make_rp", "oauth_app", "slapd_main"]

PAGES = ["/account", "/account/linked", "/account/sessions", "/account/apps", "/account/password",
         "/account/data", "/account/delete", "/account/two-step", "/account/two-step/setup"]
POSTS = ["/account", "/account/email", "/account/sessions/end/x", "/account/sessions/end-all",
         "/account/apps/revoke/1", "/account/password", "/account/data", "/account/delete",
         "/account/two-step/setup", "/account/two-step/recovery-codes", "/account/two-step/disable"]


@pytest.fixture
def app(oauth_app: Callable[..., Flask]) -> Flask:
    return oauth_app()


def signed_in_citizen(app: Flask, **kwargs: Any) -> tuple[FlaskClient, Citizen]:
    """A browser with a freshly registered, verified and signed-in citizen."""
    browser = english(app)
    citizen = register_and_verify(browser, **kwargs)
    resp = sign_in(browser, citizen)
    assert resp.status_code == 303, resp.data[:2000]
    return browser, citizen


def post_page(browser: FlaskClient, page: str, data: dict[str, Any] | None = None,
              action: str | None = None) -> Any:
    """GET ``page`` for its CSRF token and POST ``data`` to ``action`` (default ``page``)."""
    got = browser.get(page)
    assert got.status_code in (200, 403), got.status_code
    resp = browser.post(action or page, data={"csrf_token": csrf(got.data), **(data or {})})
    assert resp.status_code != 500 and b"Traceback" not in resp.data
    return resp
