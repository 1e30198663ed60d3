"""An administrator approves a ``nik`` scope request in the console, then a citizen signing in to that
application sees the approved purpose on the consent page: in a real headless Chromium, against the
live provider with a private slapd (the administrator sets up the required second factor on the way)."""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlencode

import pyotp
import pytest
from sqlalchemy import select

from idp import passwords
from idp.extensions import db
from idp.models import CitizenAccount, ScopeRequest, Team, TeamMember
from idp.oauth.registration import create_client
from idp.sources.ldap import get_connector
from tests.oauth import helpers

from .conftest import directory_settings
from .sso_support import staff_sign_in
from .test_citizen_flow import wait_for

pytestmark = pytest.mark.e2e

PURPOSE = "Verifikasi penerima bantuan sosial provinsi (Pergub Banten 12/2026)"
CITIZEN_PASSWORD = "kopi tubruk di pagi hari"  # noqa: S105 - a test password



@pytest.fixture
def provider(live_server: Callable[..., Any], directory: Any) -> Iterator[Any]:
    """The live provider; administrators must use a second factor (the default rule)."""
    server = live_server(
        **directory_settings(directory), MFA_REQUIRED_ROLES=["admin"],
    )
    try:
        yield server
    finally:
        connector = get_connector(server.app)
        if connector is not None:
            connector.close()


def test_admin_approves_nik_and_the_citizen_sees_the_purpose(browsers: Callable[[], Any], provider: Any) -> None:
    from selenium.webdriver.common.by import By

    idp = provider.url
    app = provider.app
    with app.app_context():
        person_id, _sub = helpers.create_person(app, name="Dewi Lestari", email="dewi.warga@example.org")
        account = db.session.execute(select(CitizenAccount).where(CitizenAccount.person_id == person_id)).scalar_one()
        account.password_hash = passwords.hash(CITIZEN_PASSWORD)
        dev_id, _ = helpers.create_person(app, name="Dian Developer", email="dian@dinsos.example.org",
                                          nik="3603014501900002")
        team = Team(name="Dinas Sosial")
        db.session.add(team)
        db.session.flush()
        db.session.add(TeamMember(team_id=team.id, person_id=dev_id, role="owner"))
        row, _secret = create_client({
            "client_name": "Bantuan Sosial", "redirect_uris": ["https://bansos.example.org/callback"],
            "grant_types": ["authorization_code"], "response_types": ["code"],
            "token_endpoint_auth_method": "client_secret_basic", "scope": "openid profile nik",
        })
        row.team_id = team.id
        client_id = row.client_id
        db.session.add(ScopeRequest(client_id=row.id, scope="nik", purpose=PURPOSE, requested_by=dev_id))
        db.session.commit()

    # 1. The administrator signs in with the directory password and sets up the authenticator app.
    admin = browsers()
    admin.get(f"{idp}/admin/scope-requests")
    staff_sign_in(admin, "budi", "Budi-Pass-2026")
    secret_el = wait_for(admin, lambda d: d.find_elements(By.ID, "totp-secret"), "the two-step set-up page")
    secret = secret_el[0].text.replace(" ", "")
    admin.find_element(By.NAME, "code").send_keys(pyotp.TOTP(secret).now())
    admin.find_element(By.ID, "two-step-confirm").click()
    wait_for(admin, lambda d: d.find_elements(By.ID, "recovery-codes"), "the recovery codes")

    # 2. The console lists the request with its purpose; approve it.
    admin.get(f"{idp}/admin/scope-requests")
    pending = wait_for(admin, lambda d: d.find_elements(By.CSS_SELECTOR, "#pending li"), "the pending request")
    assert PURPOSE in pending[0].text and "Dinas Sosial" in pending[0].text and "nik" in pending[0].text
    pending[0].find_element(By.CSS_SELECTOR, "button[id^=approve-]").click()
    wait_for(admin, lambda d: d.find_elements(By.ID, "no-pending"), "the emptied list")
    assert PURPOSE in admin.find_element(By.ID, "approved").text

    # 3. A citizen signs in to the application and sees the purpose next to the NIK on the consent page.
    citizen = browsers()
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    citizen.get(f"{idp}/authorize?" + urlencode({
        "response_type": "code", "client_id": client_id, "redirect_uri": "https://bansos.example.org/callback",
        "scope": "openid nik", "state": "s1", "nonce": "n1", "code_challenge": challenge,
        "code_challenge_method": "S256"}))
    wait_for(citizen, lambda d: d.find_elements(By.ID, "sign-in"), "the sign-in page")
    citizen.find_element(By.NAME, "identifier").send_keys(helpers.NIK)
    citizen.find_element(By.NAME, "password").send_keys(CITIZEN_PASSWORD)
    citizen.find_element(By.ID, "sign-in").click()
    shown = wait_for(citizen, lambda d: d.find_elements(By.CSS_SELECTOR, ".scope-purpose"), "the consent page")
    assert PURPOSE in shown[0].text
    assert "NIK" in citizen.find_element(By.CSS_SELECTOR, "ul.scopes").text
