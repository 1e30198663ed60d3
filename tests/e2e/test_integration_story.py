"""Issue 6, the whole story in the browser: a developer registers an agency application in the portal and
asks for the ``nik`` scope with a purpose; an administrator (with the required second factor) approves
it in the console; the application, a real relying-party process (clients/example-rp) configured with
the client id and secret the portal showed, signs a citizen in, and the citizen sees the purpose on the
consent page; the developer rotates the secret and the application, still on the old one, keeps
working until the grace period ends."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyotp
import pytest
from sqlalchemy import select

from idp import passwords
from idp.extensions import db
from idp.models import CitizenAccount, Client, utcnow
from idp.sources.ldap import get_connector
from tests import services
from tests.oauth import helpers

from .conftest import directory_settings
from .sso_support import staff_sign_in
from .test_citizen_flow import wait_for

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
PURPOSE = "Memeriksa kependudukan pemohon izin usaha mikro (Perda Banten 3/2026)"
CITIZEN_PASSWORD = "teh manis hangat sore hari"  # noqa: S105 - a test password



@pytest.fixture
def provider(live_server: Callable[..., Any], directory: Any) -> Iterator[Any]:
    server = live_server(
        **directory_settings(directory), MFA_REQUIRED_ROLES=["admin"],
    )
    try:
        yield server
    finally:
        connector = get_connector(server.app)
        if connector is not None:
            connector.close()


def test_register_approve_sign_in_rotate(browsers: Callable[[], Any], provider: Any) -> None:
    from selenium.webdriver.common.by import By

    idp, app = provider.url, provider.app
    rp_port = services.free_port()
    rp = f"http://127.0.0.1:{rp_port}"
    person_id, sub = helpers.create_person(app, name="Rina Warga", email="rina.warga@example.org")
    with app.app_context():
        account = db.session.execute(select(CitizenAccount).where(CitizenAccount.person_id == person_id)).scalar_one()
        account.password_hash = passwords.hash(CITIZEN_PASSWORD)
        db.session.commit()

    # 1. Siti (staff, not an administrator) registers the application in the portal, asking for nik.
    dev = browsers()
    dev.get(f"{idp}/portal?lang=en")
    staff_sign_in(dev, "siti", "Siti-Pass-2026")
    wait_for(dev, lambda d: d.find_elements(By.ID, "create-team"), "the portal (back after the sign-in)")
    dev.find_element(By.ID, "name").send_keys("DPMPTSP Banten")
    dev.find_element(By.ID, "create-team").click()
    wait_for(dev, lambda d: d.find_elements(By.ID, "register-app"), "the team page")
    dev.find_element(By.ID, "register-app").click()
    wait_for(dev, lambda d: d.find_elements(By.ID, "client-form"), "the registration form")
    dev.find_element(By.ID, "client_name").send_keys("Izin Usaha Mikro")
    dev.find_element(By.ID, "redirect_uris").send_keys(f"{rp}/callback")
    dev.find_element(By.ID, "post_logout_redirect_uris").send_keys(f"{rp}/")
    for scope in ("openid", "profile", "nik"):
        dev.execute_script("document.getElementById(arguments[0]).checked = true", f"scope-{scope}")
    dev.execute_script("document.getElementById('grant_types-authorization_code').checked = true")
    dev.find_element(By.ID, "purpose").send_keys(PURPOSE)
    dev.find_element(By.ID, "save-client").click()
    secret = wait_for(dev, lambda d: d.find_elements(By.ID, "client-secret"), "the one-time secret")[0].text
    client_id = dev.find_element(By.ID, "client-id").text
    assert secret and client_id

    # The application is a real process with the credentials the portal showed.
    env = {**os.environ, "RP_ISSUER": idp, "RP_CLIENT_ID": client_id, "RP_CLIENT_SECRET": secret,
           "RP_PORT": str(rp_port), "RP_SCOPES": "openid profile nik", "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, str(ROOT / "clients/example-rp/app.py")], env=env, cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        services.wait_port(rp_port, timeout=20, proc=proc)

        # 2. Budi (administrator) signs in, sets up the required second factor, approves the request.
        admin = browsers()
        admin.get(f"{idp}/admin/scope-requests?lang=en")
        staff_sign_in(admin, "budi", "Budi-Pass-2026")
        totp = wait_for(admin, lambda d: d.find_elements(By.ID, "totp-secret"), "the two-step set-up")[0]
        admin.find_element(By.NAME, "code").send_keys(pyotp.TOTP(totp.text.replace(" ", "")).now())
        admin.find_element(By.ID, "two-step-confirm").click()
        wait_for(admin, lambda d: d.find_elements(By.ID, "recovery-codes"), "the recovery codes")
        admin.get(f"{idp}/admin/scope-requests?lang=en")
        pending = wait_for(admin, lambda d: d.find_elements(By.CSS_SELECTOR, "#pending li"), "the request")
        assert PURPOSE in pending[0].text and "Izin Usaha Mikro" in pending[0].text
        pending[0].find_element(By.CSS_SELECTOR, "button[id^=approve-]").click()
        wait_for(admin, lambda d: d.find_elements(By.ID, "no-pending"), "the emptied list")

        # 3. A citizen signs in at the application, sees the purpose, allows, and arrives signed in.
        citizen = browsers()

        def citizen_signs_in(consent: bool) -> None:
            citizen.delete_all_cookies()  # neither the application's nor the provider's session
            citizen.get(f"{rp}/login")
            wait_for(citizen, lambda d: d.find_elements(By.ID, "sign-in"), "the sign-in page")
            citizen.find_element(By.NAME, "identifier").send_keys(helpers.NIK)
            citizen.find_element(By.NAME, "password").send_keys(CITIZEN_PASSWORD)
            citizen.find_element(By.ID, "sign-in").click()
            if consent:
                shown = wait_for(citizen, lambda d: d.find_elements(By.CSS_SELECTOR, ".scope-purpose"), "consent")
                assert PURPOSE in shown[0].text
                citizen.find_element(By.CSS_SELECTOR, 'button[name="decision"][value="allow"]').click()
            wait_for(citizen, lambda d: d.current_url.startswith(rp) and (d.find_elements(By.ID, "sub")
                                                                          or d.find_elements(By.ID, "error")),
                     "the application")

        citizen_signs_in(consent=True)
        assert citizen.find_element(By.ID, "sub").text == f"sub = {sub}"

        # 4. Siti rotates the secret; the application still has the old one and keeps working ...
        dev.find_element(By.ID, "to-app").click()
        wait_for(dev, lambda d: d.find_elements(By.ID, "rotate-secret"), "the application page")
        dev.find_element(By.ID, "rotate-secret").click()
        assert wait_for(dev, lambda d: d.find_elements(By.ID, "client-secret"), "the new secret")[0].text != secret
        citizen_signs_in(consent=False)  # the consent is remembered
        assert citizen.find_element(By.ID, "sub").text == f"sub = {sub}"

        # 5. ... until the grace period ends: then the token exchange with the old secret is refused.
        with app.app_context():
            row = db.session.execute(select(Client).where(Client.client_id == client_id)).scalar_one()
            row.previous_secret_expires_at = utcnow()  # ORM: the provider forgets its cached copy at once
            db.session.commit()
        citizen_signs_in(consent=False)
        assert "invalid_client" in citizen.find_element(By.ID, "error").text
        assert not citizen.find_elements(By.ID, "sub")
    finally:
        services.stop_process(proc, 5)
