"""Fixtures for the developer portal tests: an app with the real directory (slapd) and signing keys,
and helpers that drive the portal's pages as a signed-in staff member."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.citizen.helpers import csrf
from tests.helpers import english
from tests.ldap.conftest import BUDI, SITI, ldap_app, ldap_certs, slapd_main  # noqa: F401 - fixtures used here
from tests.oauth.conftest import TEST_DATA_KEY

__all__ = ["BUDI", "SITI", "english", "ldap_app", "ldap_certs", "slapd_main"]

REDIRECT = "https://app.example.org/callback"


@pytest.fixture
def app(ldap_app: Callable[..., Flask]) -> Flask:
    """PostgreSQL, Redis and slapd; signing keys made (the test sign-in and tokens need them)."""
    from idp.oauth import keys

    made = ldap_app(DATA_KEYS=[TEST_DATA_KEY])
    with made.app_context():
        keys.ensure()
    return made


def staff_browser(app: Flask, who: tuple[str, str] = BUDI) -> FlaskClient:
    """A browser with a staff member signed in through the real sign-in page and directory."""
    from tests.ldap.test_login import post_login

    browser = english(app)
    resp = post_login(browser, *who)
    assert resp.status_code == 303, resp.get_data(as_text=True)[:2000]
    return browser


def post(browser: FlaskClient, page: str, data: dict[str, Any] | None = None, action: str | None = None) -> Any:
    """GET ``page`` for its CSRF token, POST ``data`` to ``action`` (default ``page``); never a 500."""
    got = browser.get(page)
    assert got.status_code == 200, (page, got.status_code)
    resp = browser.post(action or page, data={"csrf_token": csrf(got.data), **(data or {})})
    assert resp.status_code < 500 and b"Traceback" not in resp.data, resp.get_data(as_text=True)[:2000]
    return resp


def create_team(browser: FlaskClient, name: str = "Dinas Kominfo") -> int:
    resp = post(browser, "/portal", {"name": name}, action="/portal/teams")
    assert resp.status_code == 303, resp.get_data(as_text=True)[:2000]
    found = re.search(r"/portal/teams/(\d+)$", resp.headers["Location"])
    assert found, resp.headers["Location"]
    return int(found.group(1))


def app_form(**fields: Any) -> dict[str, Any]:
    """The registration form's fields for a confidential web application, overridden by ``fields``."""
    data: dict[str, Any] = {"client_name": "Perizinan Online", "redirect_uris": REDIRECT,
                            "grant_types": ["authorization_code"], "token_endpoint_auth_method": "client_secret_basic",
                            "subject_type": "public", "scope": ["openid", "profile", "email"]}
    data.update(fields)
    return {k: v for k, v in data.items() if v is not None}


def register(browser: FlaskClient, team_id: int, **fields: Any) -> Any:
    return post(browser, f"/portal/teams/{team_id}/apps/new", app_form(**fields))


def registered(browser: FlaskClient, team_id: int, **fields: Any) -> tuple[int, str, str | None]:
    """Register an application; (its database id, client id, secret shown on the one-time page)."""
    resp = register(browser, team_id, **fields)
    assert resp.status_code == 303, resp.get_data(as_text=True)[:3000]
    location = resp.headers["Location"]
    pk = int(re.search(r"/portal/apps/(\d+)", location).group(1))  # type: ignore[union-attr]
    if "/secret/" not in location:
        page = browser.get(location).get_data(as_text=True)
        return pk, _code(page, "client-id"), None
    page = browser.get(location)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    return pk, _code(html, "client-id"), _code(html, "client-secret")


def rotate(browser: FlaskClient, pk: int) -> str:
    resp = post(browser, f"/portal/apps/{pk}", action=f"/portal/apps/{pk}/rotate")
    assert resp.status_code == 303 and "/secret/" in resp.headers["Location"]
    return _code(browser.get(resp.headers["Location"]).get_data(as_text=True), "client-secret")


def _code(html: str, element_id: str) -> str:
    found = re.search(rf'id="{element_id}">([^<]+)<', html)
    assert found, f"no #{element_id} in the page"
    return found.group(1)
