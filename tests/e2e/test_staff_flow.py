"""A civil servant signs in with directory credentials to the (unmodified) example relying party, in a
real headless Chromium: the live provider uses a private slapd, the RP runs as its own process and
asks for ``openid profile email staff`` through its ``RP_SCOPES`` setting."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from idp.extensions import db
from idp.oauth.registration import create_client
from idp.sources.ldap import get_connector
from tests import services

from .conftest import directory_settings
from .test_citizen_flow import ROOT, wait_for

pytestmark = pytest.mark.e2e

SCOPES = "openid profile email staff"
USERNAME, PASSWORD = "budi", "Budi-Pass-2026"  # a seeded entry of tests/ldap/seed.ldif
NIP = "198503152010011002"
UNIT = "Dinas Komunikasi, Informatika, Statistik dan Persandian"



@pytest.fixture
def provider_and_rp(live_server: Callable[..., Any], directory: Any) -> Iterator[tuple[Any, str]]:
    """The live provider with the directory, and the example RP (a real process) approved for ``staff``."""
    server = live_server(
        **directory_settings(directory),
        MFA_REQUIRED_ROLES=[],  # the second factor of administrators has its own browser test
    )
    rp_port = services.free_port()
    rp = f"http://127.0.0.1:{rp_port}"
    with server.app.app_context():
        # As `idp clients create ... --scope "openid profile email staff" --approve-scope staff` does.
        row, secret = create_client({
            "client_name": "Aplikasi Kepegawaian",
            "redirect_uris": [f"{rp}/callback"],
            "post_logout_redirect_uris": [f"{rp}/"],
            "grant_types": ["authorization_code"],
            "response_types": ["code"],
            "token_endpoint_auth_method": "client_secret_basic",
            "scope": SCOPES,
        }, approved_scopes="staff")
        client_id = row.client_id
        db.session.commit()
    env = {**os.environ, "RP_ISSUER": server.url, "RP_CLIENT_ID": client_id, "RP_CLIENT_SECRET": secret or "",
           "RP_PORT": str(rp_port), "RP_SCOPES": SCOPES, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, str(ROOT / "clients/example-rp/app.py")], env=env, cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        services.wait_port(rp_port, timeout=20, proc=proc)
        yield server, rp
    finally:
        services.stop_process(proc, 5)
        connector = get_connector(server.app)
        if connector is not None:  # its pooled service connections would otherwise be left to the GC
            connector.close()


def test_staff_member_signs_in_to_the_example_rp(browser: Any, provider_and_rp: tuple[Any, str],
                                                 screenshots: Path) -> None:
    from selenium.webdriver.common.by import By

    started = time.monotonic()
    driver = browser
    server, rp = provider_and_rp
    idp = server.url
    shots = screenshots
    step = 0

    def shot(name: str) -> None:
        nonlocal step
        step += 1
        driver.save_screenshot(str(shots / f"{step:02d}-{name}.png"))

    # 1. The RP sends the browser to the provider's sign-in page, which offers Warga and Pegawai.
    driver.get(f"{rp}/login")
    wait_for(driver, lambda d: d.current_url.startswith(f"{idp}/") and d.find_elements(By.ID, "sign-in"),
             "the provider sign-in page")
    radios = driver.find_elements(By.CSS_SELECTOR, "input[name=kind]")
    assert sorted(r.get_attribute("value") for r in radios) == ["citizen", "ldap"]
    assert not any(r.is_selected() for r in radios)  # neither is pre-checked
    shot("sign-in")

    # 2. Choose Pegawai, type the directory user name and password.
    driver.find_element(By.CSS_SELECTOR, "input[name=kind][value=ldap]").click()
    assert driver.find_element(By.CSS_SELECTOR, "input[name=kind][value=ldap]").is_selected()
    driver.find_element(By.NAME, "identifier").send_keys(USERNAME)
    driver.find_element(By.NAME, "password").send_keys(PASSWORD)
    shot("sign-in-filled")
    driver.find_element(By.ID, "sign-in").click()

    # 3. Consent (the staff scope is sensitive: always asked), then back at the RP with the claims.
    allow = wait_for(driver, lambda d: d.find_elements(By.CSS_SELECTOR, 'button[name="decision"][value="allow"]'),
                     "the consent page")
    shot("consent")
    allow[0].click()
    wait_for(driver, lambda d: d.current_url.startswith(rp) and d.find_elements(By.ID, "sub"), "the RP home")
    shot("rp-signed-in")
    id_token = driver.find_element(By.ID, "claims").text
    userinfo = driver.find_element(By.ID, "userinfo").text
    for shown in (id_token, userinfo):
        assert NIP in shown and UNIT in shown
        assert "Budi Santoso" in shown and '"admin"' in shown
    assert "urn:bantenprov:sso:acr:staff" in id_token
    assert "3603011503850002" not in id_token + userinfo  # the staff member's NIK is never released here

    print(f"screenshots in {shots}")
    assert time.monotonic() - started < 60


def test_wrong_directory_password_stays_on_the_sign_in_page(browser: Any, provider_and_rp: tuple[Any, str]) -> None:
    from selenium.webdriver.common.by import By

    driver = browser
    server, rp = provider_and_rp
    driver.get(f"{rp}/login")
    wait_for(driver, lambda d: d.find_elements(By.ID, "sign-in"), "the provider sign-in page")
    driver.find_element(By.CSS_SELECTOR, "input[name=kind][value=ldap]").click()
    driver.find_element(By.NAME, "identifier").send_keys(USERNAME)
    driver.find_element(By.NAME, "password").send_keys("not-the-password")
    driver.find_element(By.ID, "sign-in").click()
    error = wait_for(driver, lambda d: d.find_elements(By.ID, "login-error"), "the error message")
    assert error[0].text.strip()
    assert driver.current_url.startswith(server.url)
    # The page keeps the pending request: signing in now still ends at the RP.
    driver.find_element(By.CSS_SELECTOR, "input[name=kind][value=ldap]").click()
    driver.find_element(By.NAME, "identifier").clear()
    driver.find_element(By.NAME, "identifier").send_keys(USERNAME)
    driver.find_element(By.NAME, "password").send_keys(PASSWORD)
    driver.find_element(By.ID, "sign-in").click()
    allow = wait_for(driver, lambda d: d.find_elements(By.CSS_SELECTOR, 'button[name="decision"][value="allow"]'),
                     "the consent page")
    allow[0].click()
    wait_for(driver, lambda d: d.current_url.startswith(rp) and d.find_elements(By.ID, "sub"), "the RP home")
    assert NIP in driver.find_element(By.ID, "claims").text
