"""Single sign-on across two example applications in one headless Chromium (issue 5): sign in at app 1,
open app 2 without the sign-in page, prompt=login and max_age=0 force a fresh sign-in, and logout at
app 1 reaches app 2 through Back-Channel Logout 1.0."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from idp import passwords
from idp.extensions import db
from idp.models import CitizenAccount
from idp.oauth.registration import create_client
from tests import services
from tests.e2e.sso_support import run_rp2
from tests.e2e.test_citizen_flow import wait_for
from tests.oauth import helpers

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
NIK = "3603015501900002"
PASSWORD = "Banten-Sehat-2026!"  # noqa: S105 - a test password


@pytest.fixture
def two_apps(live_server: Callable[..., Any]) -> Iterator[tuple[Any, str, str, str]]:
    """The live provider, app 1 (clients/example-rp) and app 2 (clients/example-rp2) as real processes."""
    server = live_server(JWKS_URI_ALLOW_LOOPBACK=True, BACKCHANNEL_WORKER=True, BACKCHANNEL_POLL_SECONDS=1)
    rp1_port, rp2_port = services.free_port(), services.free_port()
    rp1, rp2 = f"http://127.0.0.1:{rp1_port}", f"http://127.0.0.1:{rp2_port}"
    with server.app.app_context():
        one, secret1 = create_client({
            "client_name": "Contoh Aplikasi", "redirect_uris": [f"{rp1}/callback"],
            "post_logout_redirect_uris": [f"{rp1}/"], "grant_types": ["authorization_code"],
            "response_types": ["code"], "token_endpoint_auth_method": "client_secret_basic",
            "scope": "openid profile email"})
        two, secret2 = create_client({
            "client_name": "Perizinan", "redirect_uris": [f"{rp2}/callback"],
            "post_logout_redirect_uris": [f"{rp2}/"], "grant_types": ["authorization_code"],
            "response_types": ["code"], "token_endpoint_auth_method": "client_secret_basic",
            "scope": "openid profile", "backchannel_logout_uri": f"{rp2}/backchannel-logout",
            "backchannel_logout_session_required": True})
        ids = (one.client_id, two.client_id)
        db.session.commit()
    person_id, sub = helpers.create_person(server.app, name="Siti Aminah", nik=NIK)
    with server.app.app_context():
        account = db.session.execute(db.select(CitizenAccount).filter_by(person_id=person_id)).scalar_one()
        account.password_hash = passwords.hash(PASSWORD)
        db.session.commit()
    env = {**os.environ, "RP_ISSUER": server.url, "RP_CLIENT_ID": ids[0], "RP_CLIENT_SECRET": secret1 or "",
           "RP_PORT": str(rp1_port), "RP_SCOPES": "openid profile email", "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, str(ROOT / "clients/example-rp/app.py")], env=env, cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        services.wait_port(rp1_port, timeout=20, proc=proc)
        with run_rp2(server.url, ids[1], secret2 or "", port=rp2_port):
            yield server, rp1, rp2, sub
    finally:
        services.stop_process(proc, 5)


def test_single_sign_on_across_two_apps(browser: Any, two_apps: tuple[Any, str, str, str]) -> None:
    from selenium.webdriver.common.by import By

    driver = browser
    server, rp1, rp2, sub = two_apps
    idp = server.url
    allow_css = 'button[name="decision"][value="allow"]'

    def sign_in() -> None:
        wait_for(driver, lambda d: d.current_url.startswith(idp) and d.find_elements(By.ID, "sign-in"),
                 "the sign-in page")
        driver.find_element(By.NAME, "identifier").send_keys(NIK)
        driver.find_element(By.NAME, "password").send_keys(PASSWORD)
        driver.find_element(By.ID, "sign-in").click()

    def arrive(rp: str) -> str:
        """Accept a consent page if one shows, then return the sub shown by the app at ``rp``."""
        found = wait_for(driver, lambda d: (d.current_url.startswith(rp) and d.find_elements(By.ID, "sub"))
                         or d.find_elements(By.CSS_SELECTOR, allow_css), f"{rp} or the consent page")
        if not driver.current_url.startswith(rp):
            found[0].click()
            wait_for(driver, lambda d: d.current_url.startswith(rp) and d.find_elements(By.ID, "sub"), rp)
        return str(driver.find_element(By.ID, "sub").text)

    def auth_time() -> int:
        match = re.search(r"auth_time = (\d+)", driver.find_element(By.ID, "auth-time").text)
        assert match, driver.page_source
        return int(match.group(1))

    # 1. Sign in at app 1 with NIK and password.
    driver.get(f"{rp1}/login")
    sign_in()
    assert arrive(rp1) == f"sub = {sub}"

    # 2. App 2: signed in with the same sub, never seeing the sign-in page (a consent page is fine).
    driver.get(f"{rp2}/login")
    found = wait_for(driver, lambda d: (d.current_url.startswith(rp2) and d.find_elements(By.ID, "sub"))
                     or d.find_elements(By.CSS_SELECTOR, allow_css) or d.find_elements(By.ID, "sign-in"),
                     "app 2 or the consent page")
    assert not driver.find_elements(By.ID, "sign-in"), "single sign-on must not show the sign-in page"
    assert found
    assert arrive(rp2) == f"sub = {sub}"
    first = auth_time()

    # 3. prompt=login (OIDC Core 3.1.2.1): the sign-in page again, then back at app 2.
    driver.get(f"{rp2}/login?prompt=login")
    time.sleep(1.1)  # auth_time has one-second resolution
    sign_in()
    assert arrive(rp2) == f"sub = {sub}"
    second = auth_time()
    assert second > first

    # 4. max_age=0: a fresh sign-in, and the new auth_time is later (OIDC Core 3.1.2.1, 2).
    driver.get(f"{rp2}/login?max_age=0")
    time.sleep(1.1)
    sign_in()
    assert arrive(rp2) == f"sub = {sub}"
    assert auth_time() > second

    # 5. Sign out at app 1; the provider tells app 2 over the back channel, so app 2 is signed out too.
    driver.get(f"{rp1}/logout")
    confirm = 'form[action*="end_session"] button[type="submit"]'
    wait_for(driver, lambda d: d.current_url.startswith(rp1) or d.find_elements(By.CSS_SELECTOR, confirm),
             "the sign-out")
    if not driver.current_url.startswith(rp1):
        driver.find_element(By.CSS_SELECTOR, confirm).click()
    wait_for(driver, lambda d: d.current_url.startswith(rp1) and d.find_elements(By.ID, "login"), "app 1 signed out")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        driver.get(f"{rp2}/")
        if driver.find_elements(By.ID, "login"):
            break
        time.sleep(0.5)
    assert driver.find_elements(By.ID, "login") and not driver.find_elements(By.ID, "sub"), \
        "app 2 must be signed out by the back-channel notice"
