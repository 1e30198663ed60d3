"""A developer registers an application in the portal in a real headless Chromium, sees its secret
once, and rotates it; both secrets then work at the live token endpoint during the grace period."""

from __future__ import annotations

import base64
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .conftest import directory_settings
from .sso_support import staff_sign_in
from .test_citizen_flow import wait_for

pytestmark = pytest.mark.e2e

USERNAME, PASSWORD = "budi", "Budi-Pass-2026"  # a seeded entry of tests/ldap/seed.ldif



@pytest.fixture
def provider(live_server: Any, directory: Any) -> Iterator[Any]:
    from idp.sources.ldap import get_connector

    server = live_server(
        **directory_settings(directory), MFA_REQUIRED_ROLES=[],
    )
    yield server
    connector = get_connector(server.app)
    if connector is not None:
        connector.close()


def _client_credentials(issuer: str, client_id: str, secret: str) -> int:
    raw = f"{urllib.parse.quote(client_id, safe='')}:{urllib.parse.quote(secret, safe='')}".encode()
    request = urllib.request.Request(f"{issuer}/token", data=b"grant_type=client_credentials", method="POST",
                                     headers={"Authorization": "Basic " + base64.b64encode(raw).decode(),
                                              "Content-Type": "application/x-www-form-urlencoded"})
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:  # noqa: S310 - the local test server
            json.load(resp)
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def test_developer_registers_an_application_and_rotates_its_secret(browser: Any, provider: Any,
                                                                   screenshots: Path) -> None:
    from selenium.webdriver.common.by import By

    started = time.monotonic()
    driver = browser
    idp = provider.url
    shots = screenshots
    step = 0

    def shot(name: str) -> None:
        nonlocal step
        step += 1
        driver.save_screenshot(str(shots / f"{step:02d}-{name}.png"))

    # 1. The portal sends a stranger to the sign-in page; Budi signs in as staff.
    driver.get(f"{idp}/portal")
    staff_sign_in(driver, USERNAME, PASSWORD)
    wait_for(driver, lambda d: "/login" not in d.current_url, "the end of the sign-in")

    # 2. Start a team.
    driver.get(f"{idp}/portal?lang=en")
    driver.find_element(By.ID, "name").send_keys("Dinas Perizinan")
    driver.find_element(By.ID, "create-team").click()
    wait_for(driver, lambda d: d.find_elements(By.ID, "register-app"), "the team page")

    # 3. Register an application: a mistake first (a fragment), shown at the field; then corrected.
    driver.find_element(By.ID, "register-app").click()
    wait_for(driver, lambda d: d.find_elements(By.ID, "client-form"), "the registration form")
    driver.find_element(By.ID, "client_name").send_keys("Izin Online")
    driver.find_element(By.ID, "redirect_uris").send_keys("http://127.0.0.1:8123/callback#x")
    driver.find_element(By.ID, "grant_types-client_credentials").click()
    driver.find_element(By.ID, "save-client").click()
    error = wait_for(driver, lambda d: d.find_elements(By.ID, "redirect_uris-error"), "the field's message")
    assert "fragment" in error[0].text
    shot("field-error")
    field = driver.find_element(By.ID, "redirect_uris")
    field.clear()
    field.send_keys("http://127.0.0.1:8123/callback")
    driver.find_element(By.ID, "save-client").click()

    # 4. The secret, once.
    secret = wait_for(driver, lambda d: d.find_elements(By.ID, "client-secret"), "the one-time secret")[0].text
    client_id = driver.find_element(By.ID, "client-id").text
    assert secret and client_id
    shot("secret-once")
    once = driver.current_url
    driver.get(once)
    wait_for(driver, lambda d: d.find_elements(By.ID, "secret-gone"), "the already-shown notice")
    assert secret not in driver.page_source
    assert _client_credentials(idp, client_id, secret) == 200

    # 5. The application's page: no secret, the integration help; rotate the secret.
    driver.find_element(By.ID, "to-app").click()
    wait_for(driver, lambda d: d.find_elements(By.ID, "rotate-secret"), "the application page")
    assert secret not in driver.page_source and client_id in driver.find_element(By.ID, "example-python").text
    shot("application")
    driver.find_element(By.ID, "rotate-secret").click()
    new_secret = wait_for(driver, lambda d: d.find_elements(By.ID, "client-secret"), "the new secret")[0].text
    assert new_secret and new_secret != secret

    # 6. During the grace period both work; the page says until when.
    assert _client_credentials(idp, client_id, new_secret) == 200
    assert _client_credentials(idp, client_id, secret) == 200
    driver.find_element(By.ID, "to-app").click()
    wait_for(driver, lambda d: d.find_elements(By.ID, "grace-note"), "the grace period note")
    assert _client_credentials(idp, client_id, "not-the-secret") == 401
    shot("grace")
    print(f"screenshots in {shots}")
    assert time.monotonic() - started < 90
