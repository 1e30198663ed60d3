"""A civil servant links their citizen account in a real headless Chromium, and the (unmodified) example
relying party then sees the same ``sub`` whichever of the two credentials signs in.

The live provider uses a private slapd (seeded entry ``budi``, whose directory entry records a NIK); the
citizen account with that NIK was registered beforehand through the pages; the example RP runs as its
own process and asks for ``openid profile email``.
"""

from __future__ import annotations

import datetime as dt
import json
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
from tests.citizen.helpers import Citizen, register_and_verify
from tests.helpers import english

from .conftest import directory_settings
from .test_citizen_flow import ROOT, wait_for

pytestmark = pytest.mark.e2e

SCOPES = "openid profile email"
USERNAME, PASSWORD = "budi", "Budi-Pass-2026"  # a seeded entry of tests/ldap/seed.ldif
BUDI_NIK, BUDI_BIRTH = "3603011503850002", dt.date(1985, 3, 15)  # the NIK budi's entry records



@pytest.fixture
def provider_and_rp(live_server: Callable[..., Any], directory: Any) -> Iterator[tuple[Any, str]]:
    """The live provider with the directory, and the example RP (a real process, an ordinary client)."""
    server = live_server(
        **directory_settings(directory),
        MFA_REQUIRED_ROLES=[],  # the second factor of administrators has its own browser test
    )
    rp_port = services.free_port()
    rp = f"http://127.0.0.1:{rp_port}"
    with server.app.app_context():
        row, secret = create_client({
            "client_name": "Contoh Aplikasi",
            "redirect_uris": [f"{rp}/callback"],
            "post_logout_redirect_uris": [f"{rp}/"],
            "grant_types": ["authorization_code"],
            "response_types": ["code"],
            "token_endpoint_auth_method": "client_secret_basic",
            "scope": SCOPES,
        })
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
        if connector is not None:
            connector.close()


def _sign_in(driver: Any, rp: str, idp: str, kind: str, identifier: str, password: str) -> None:
    from selenium.webdriver.common.by import By

    driver.get(f"{rp}/login")
    wait_for(driver, lambda d: d.current_url.startswith(f"{idp}/") and d.find_elements(By.ID, "sign-in"),
             "the provider sign-in page")
    driver.find_element(By.CSS_SELECTOR, f"input[name=kind][value={kind}]").click()
    driver.find_element(By.NAME, "identifier").send_keys(identifier)
    driver.find_element(By.NAME, "password").send_keys(password)
    driver.find_element(By.ID, "sign-in").click()


def _rp_sub(driver: Any, rp: str) -> str:
    """Allow on the consent page when it is shown, then read the ``sub`` the RP shows (ID token and userinfo)."""
    from selenium.webdriver.common.by import By

    found = wait_for(driver, lambda d: (d.current_url.startswith(rp) and d.find_elements(By.ID, "sub"))
                     or d.find_elements(By.CSS_SELECTOR, 'button[name="decision"][value="allow"]'),
                     "the consent page or the RP home")
    if not driver.current_url.startswith(rp):
        found[0].click()
        wait_for(driver, lambda d: d.current_url.startswith(rp) and d.find_elements(By.ID, "sub"), "the RP home")
    claims = json.loads(driver.find_element(By.ID, "claims").text)
    userinfo = json.loads(driver.find_element(By.ID, "userinfo").text)
    assert claims["sub"] == userinfo["sub"]
    return str(claims["sub"])


def test_staff_member_links_the_citizen_account_and_the_rp_sees_one_sub(
        browser: Any, provider_and_rp: tuple[Any, str], screenshots: Path) -> None:
    from selenium.webdriver.common.by import By

    started = time.monotonic()
    driver = browser
    server, rp = provider_and_rp
    idp = server.url
    client = english(server.app, "10.4.0.1")
    citizen: Citizen = register_and_verify(client, nik=BUDI_NIK, birthdate=BUDI_BIRTH)
    shots = screenshots
    step = 0

    def shot(name: str) -> None:
        nonlocal step
        step += 1
        driver.save_screenshot(str(shots / f"{step:02d}-{name}.png"))

    # 1. The staff member signs in at the RP's request and is offered the link (a question, nothing more).
    _sign_in(driver, rp, idp, "ldap", USERNAME, PASSWORD)
    offer = wait_for(driver, lambda d: d.find_elements(By.ID, "link-offer"), "the link offer")
    assert "/account/link/citizen" in driver.current_url
    assert citizen.email not in driver.page_source and citizen.name not in offer[0].text
    shot("offer")

    # 2. A wrong citizen password links nothing; the right NIK and password do.
    driver.find_element(By.NAME, "identifier").send_keys(citizen.nik)
    driver.find_element(By.NAME, "password").send_keys("not-the-password")
    driver.find_element(By.ID, "link").click()
    wait_for(driver, lambda d: d.find_elements(By.ID, "link-error"), "the refusal")
    driver.find_element(By.NAME, "identifier").clear()
    driver.find_element(By.NAME, "identifier").send_keys(citizen.nik)
    driver.find_element(By.NAME, "password").send_keys(citizen.password)
    shot("link-filled")
    driver.find_element(By.ID, "link").click()

    # 3. Back to the RP (consent once), which shows the identity's sub.
    staff_sub = _rp_sub(driver, rp)
    shot("rp-as-staff")

    # 4. The account page lists both credentials.
    driver.get(f"{idp}/account/linked")
    links = wait_for(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#links > li"), "the linked accounts")
    assert len(links) == 2
    assert not driver.find_elements(By.ID, "link-citizen") and not driver.find_elements(By.ID, "link-ldap")
    shot("linked")

    # 5. A new visit signs in with the citizen credential: the RP sees the same sub.
    driver.delete_all_cookies()  # provider and RP share the host 127.0.0.1: both sessions are gone
    _sign_in(driver, rp, idp, "citizen", citizen.nik, citizen.password)
    citizen_sub = _rp_sub(driver, rp)
    shot("rp-as-citizen")
    assert citizen_sub == staff_sub

    print(f"screenshots in {shots}")
    assert time.monotonic() - started < 90
