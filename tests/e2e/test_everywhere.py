""""Sign out everywhere" with two real browsers: one Back-Channel Logout notice per session (issue 5).

Two headless Chromium instances (two profiles, so two sign-in sessions of one person) sign in to the
second example application (clients/example-rp2, a real process with a back-channel receiver).  From the
first browser's account page the person signs out everywhere: the provider sends the application one
logout token per session (each with its own ``sid``), and the application signs out both browsers.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import select

from idp import passwords
from idp.extensions import db
from idp.models import CitizenAccount, LogoutNotice
from idp.oauth.registration import create_client
from tests.e2e.sso_support import run_rp2
from tests.e2e.test_citizen_flow import wait_for
from tests.oauth import helpers

pytestmark = pytest.mark.e2e

NIK = "3603015501900003"
PASSWORD = "Banten-Aman-2026!"  # noqa: S105 - a test password
ALLOW = 'button[name="decision"][value="allow"]'


@pytest.fixture
def provider_and_app(live_server: Callable[..., Any]) -> Iterator[tuple[Any, str, str]]:
    """The live provider (delivery thread on) and app 2 with a back-channel logout URI."""
    from tests import services

    server = live_server(JWKS_URI_ALLOW_LOOPBACK=True, BACKCHANNEL_WORKER=True, BACKCHANNEL_POLL_SECONDS=1)
    port = services.free_port()
    rp = f"http://127.0.0.1:{port}"
    with server.app.app_context():
        client, secret = create_client({
            "client_name": "Perizinan", "redirect_uris": [f"{rp}/callback"],
            "post_logout_redirect_uris": [f"{rp}/"], "grant_types": ["authorization_code"],
            "response_types": ["code"], "token_endpoint_auth_method": "client_secret_basic",
            "scope": "openid profile", "backchannel_logout_uri": f"{rp}/backchannel-logout",
            "backchannel_logout_session_required": True})
        client_id = client.client_id
        db.session.commit()
    person_id, _sub = helpers.create_person(server.app, name="Budi Santoso", nik=NIK)
    with server.app.app_context():
        account = db.session.execute(select(CitizenAccount).filter_by(person_id=person_id)).scalar_one()
        account.password_hash = passwords.hash(PASSWORD)
        db.session.commit()
    with run_rp2(server.url, client_id, secret or "", port=port):
        yield server, rp, client_id


def sign_in_at(driver: Any, idp: str, rp: str) -> None:
    from selenium.webdriver.common.by import By

    driver.get(f"{rp}/login")
    wait_for(driver, lambda d: d.current_url.startswith(idp) and d.find_elements(By.ID, "sign-in"), "sign-in page")
    driver.find_element(By.NAME, "identifier").send_keys(NIK)
    driver.find_element(By.NAME, "password").send_keys(PASSWORD)
    driver.find_element(By.ID, "sign-in").click()
    found = wait_for(driver, lambda d: (d.current_url.startswith(rp) and d.find_elements(By.ID, "sub"))
                     or d.find_elements(By.CSS_SELECTOR, ALLOW), "the application or the consent page")
    if not driver.current_url.startswith(rp):
        found[0].click()
        wait_for(driver, lambda d: d.current_url.startswith(rp) and d.find_elements(By.ID, "sub"), "the application")


def signed_out_at(driver: Any, rp: str, timeout: float = 20) -> bool:
    from selenium.webdriver.common.by import By

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        driver.get(f"{rp}/")
        if driver.find_elements(By.ID, "login") and not driver.find_elements(By.ID, "sub"):
            return True
        time.sleep(0.5)
    return False


def test_sign_out_everywhere_sends_one_notice_per_session(browsers: Callable[[], Any],
                                                           provider_and_app: tuple[Any, str, str]) -> None:
    from selenium.webdriver.common.by import By

    server, rp, client_id = provider_and_app
    phone, counter = browsers(), browsers()
    sign_in_at(phone, server.url, rp)
    sign_in_at(counter, server.url, rp)

    phone.get(f"{server.url}/account/sessions")
    wait_for(phone, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#sessions > li")) == 2, "two sessions listed")
    phone.find_element(By.ID, "sign-out-everywhere").click()
    wait_for(phone, lambda d: "/account" not in d.current_url, "signed out at the provider")

    assert signed_out_at(phone, rp), "the application must sign out the first browser"
    assert signed_out_at(counter, rp), "the application must sign out the second browser"
    with server.app.app_context():
        rows = db.session.execute(select(LogoutNotice).where(LogoutNotice.client_id == client_id)).scalars().all()
        assert len(rows) == 2 and len({r.sid for r in rows}) == 2, "one notice per session, each with its sid"
        assert {r.status for r in rows} == {"delivered"}
    # The second browser is signed out at the provider too: the application sends it to the sign-in page.
    counter.get(f"{rp}/login")
    wait_for(counter, lambda d: d.current_url.startswith(server.url) and d.find_elements(By.ID, "sign-in"),
             "the sign-in page again")
