"""/account/apps: the applications with a consent; withdrawing one makes its refresh tokens fail."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from idp.extensions import db
from idp.models import AuditEvent, Client, Consent
from tests.citizen.helpers import csrf

from .conftest import RP, post_page, signed_in_citizen

SCOPE = "openid profile email offline_access"


def consent_for(rp: RP, scopes: str = SCOPE) -> int:
    with rp.app.app_context():
        client = db.session.execute(select(Client).where(Client.client_id == rp.client_id)).scalar_one()
        consent = Consent(person_id=rp.person_id, client_id=client.id, scopes=scopes)
        db.session.add(consent)
        db.session.commit()
        return consent.id


def refresh(rp: RP, token: str) -> Any:
    return rp.client_post("/token", {"grant_type": "refresh_token", "refresh_token": token})


@pytest.fixture
def two_rps(make_rp: Callable[..., RP]) -> tuple[RP, RP]:
    grants = ["authorization_code", "refresh_token"]
    return make_rp(grant_types=grants, client_name="Perizinan"), make_rp(grant_types=grants, client_name="Pajak")


def test_revoke_makes_that_apps_refresh_token_fail(two_rps: tuple[RP, RP]) -> None:
    rp, other = two_rps
    consent_id = consent_for(rp)
    consent_for(other)
    mine, theirs = rp.tokens(scope=SCOPE), other.tokens(scope=SCOPE)
    page = rp.browser.get("/account/apps?lang=en")
    html = page.get_data(as_text=True)
    assert "Perizinan" in html and "Pajak" in html and "Your e-mail address" in html
    resp = rp.browser.post(f"/account/apps/revoke/{consent_id}", data={"csrf_token": csrf(page.data)})
    assert resp.status_code == 303
    assert refresh(rp, mine["refresh_token"]).status_code == 400
    assert rp.userinfo_status(mine["access_token"]) == 401
    assert refresh(other, theirs["refresh_token"]).status_code == 200  # the other application keeps its access
    with rp.app.app_context():
        assert db.session.get(Consent, consent_id) is None
        event = db.session.execute(select(AuditEvent).where(AuditEvent.event == "consent.revoked")).scalar_one()
        assert event.person_id == rp.person_id and event.client_id == rp.client_id


@pytest.mark.parametrize("target", ["0", "999999", "-1", "abc", "1%00", "9" * 40])
def test_hostile_or_foreign_consent_ids(app: Flask, make_rp: Callable[..., RP], target: str) -> None:
    rp = make_rp()
    victim_consent = consent_for(rp)
    browser, _ = signed_in_citizen(app)  # another person
    for value in (target, str(victim_consent)):
        resp = post_page(browser, "/account/sessions", action=f"/account/apps/revoke/{value}")
        assert resp.status_code in (404, 405)
    with app.app_context():
        assert db.session.get(Consent, victim_consent) is not None


def test_no_apps(app: Flask) -> None:
    browser, _ = signed_in_citizen(app)
    html = browser.get("/account/apps").get_data(as_text=True)
    assert 'id="no-apps"' in html and not re.search(r"/account/apps/revoke/", html)
