"""Passkeys in a real Chromium with a virtual authenticator (DevTools protocol, WebAuthn domain): register,
step-up, passwordless sign-in, removal, a cloned authenticator (counter going backwards) and a wrong
origin refused.  The provider's issuer is ``http://localhost:<port>`` (WebAuthn accepts no IP address
as relying-party id)."""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from selenium.webdriver.common.by import By
from sqlalchemy import select

from idp import assurance
from idp.extensions import db
from idp.models import AuditEvent, Passkey
from idp.oauth.registration import create_client
from tests import services
from tests.citizen.helpers import register_and_verify
from tests.conftest import LiveServer
from tests.e2e.test_citizen_flow import wait_for

pytestmark = pytest.mark.e2e


@pytest.fixture
def provider(make_app: Any) -> Iterator[tuple[LiveServer, str]]:
    port = services.free_port()
    server = LiveServer(make_app(ISSUER=f"http://localhost:{port}"), port)
    yield server, f"http://localhost:{port}"
    server.stop()


def virtual_authenticator(driver: Any) -> str:
    driver.execute_cdp_cmd("WebAuthn.enable", {})
    made = driver.execute_cdp_cmd("WebAuthn.addVirtualAuthenticator", {"options": {
        "protocol": "ctap2", "transport": "internal", "hasResidentKey": True, "hasUserVerification": True,
        "isUserVerified": True, "automaticPresenceSimulation": True}})
    return str(made["authenticatorId"])


def password_sign_in(driver: Any, idp: str, citizen: Any) -> None:
    driver.get(f"{idp}/login")
    driver.find_element(By.NAME, "identifier").send_keys(citizen.nik)
    driver.find_element(By.NAME, "password").send_keys(citizen.password)
    driver.find_element(By.ID, "sign-in").click()


def add_passkey(driver: Any, idp: str) -> None:
    driver.get(f"{idp}/account/passkeys")
    driver.find_element(By.NAME, "name").send_keys("HP saya")
    wait_for(driver, lambda d: d.find_element(By.ID, "add-passkey").is_displayed(), "the passkey button")
    driver.find_element(By.ID, "add-passkey").click()
    wait_for(driver, lambda d: d.find_elements(By.ID, "recovery-codes"), "the recovery codes")


def passwordless(driver: Any, idp: str) -> None:
    driver.delete_all_cookies()
    driver.get(f"{idp}/login")
    wait_for(driver, lambda d: d.find_element(By.ID, "sign-in-passkey").is_displayed(), "the passkey sign-in")
    driver.find_element(By.ID, "sign-in-passkey").click()


def signed_in(driver: Any) -> bool:
    return "/login" not in driver.current_url and not driver.find_elements(By.ID, "sign-in")


@pytest.fixture
def citizen_with_passkey(provider: Any, browser: Any) -> tuple[Any, str, Any, str]:
    server, idp = provider
    citizen = register_and_verify(server.app.test_client())
    authenticator = virtual_authenticator(browser)
    password_sign_in(browser, idp, citizen)
    wait_for(browser, signed_in, "the signed-in start page")
    add_passkey(browser, idp)
    return server, idp, citizen, authenticator


def test_register_step_up_and_passwordless(citizen_with_passkey: Any, browser: Any) -> None:
    server, idp, _, _ = citizen_with_passkey
    # Step-up: this session proved a password only; an application asks for the MFA level.
    with server.app.app_context():
        row, _ = create_client({"client_name": "Layanan", "redirect_uris": ["https://layanan.example/cb"],
                                "token_endpoint_auth_method": "none", "scope": "openid"})
        client_id = row.client_id
        db.session.commit()
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    browser.get(f"{idp}/authorize?" + urlencode({
        "response_type": "code", "client_id": client_id, "redirect_uri": "https://layanan.example/cb",
        "scope": "openid", "state": "s", "nonce": "n", "code_challenge": challenge, "code_challenge_method": "S256",
        "acr_values": assurance.MFA, "prompt": "consent"}))
    wait_for(browser, lambda d: d.find_element(By.ID, "use-passkey").is_displayed(), "the passkey step-up")
    browser.find_element(By.ID, "use-passkey").click()
    wait_for(browser, lambda d: "two-step" not in d.current_url, "the end of the step-up")
    if browser.find_elements(By.CSS_SELECTOR, "button[name=decision][value=allow], #allow"):
        browser.find_element(By.CSS_SELECTOR, "button[name=decision][value=allow], #allow").click()
    wait_for(browser, lambda d: d.current_url.startswith("https://layanan.example/cb"), "the application")
    assert "code" in parse_qs(urlsplit(browser.current_url).query)
    # Passwordless, in a browser that forgot the session.
    passwordless(browser, idp)
    wait_for(browser, signed_in, "the passwordless sign-in")
    # Remove it: the passwordless sign-in is fresh and used a second factor.
    browser.get(f"{idp}/account/passkeys")
    browser.find_element(By.CSS_SELECTOR, ".remove-passkey").click()
    wait_for(browser, lambda d: d.find_elements(By.ID, "no-passkeys"), "the emptied list")
    with server.app.app_context():
        assert db.session.execute(select(Passkey)).first() is None


def test_cloned_authenticator_and_wrong_origin_refused(citizen_with_passkey: Any, browser: Any) -> None:
    server, idp, _, authenticator = citizen_with_passkey
    passwordless(browser, idp)
    wait_for(browser, signed_in, "the passwordless sign-in")
    # A clone: the same key with an older counter than the provider has seen.
    found = browser.execute_cdp_cmd("WebAuthn.getCredentials", {"authenticatorId": authenticator})
    credential = found["credentials"][0]
    assert credential["signCount"] >= 1
    browser.execute_cdp_cmd("WebAuthn.removeCredential", {"authenticatorId": authenticator,
                                                          "credentialId": credential["credentialId"]})
    browser.execute_cdp_cmd("WebAuthn.addCredential", {"authenticatorId": authenticator,
                                                       "credential": {**credential, "signCount": 0}})
    passwordless(browser, idp)
    wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, ".flash-error"), "the refusal")
    assert not signed_in(browser)
    with server.app.app_context():
        assert db.session.execute(select(AuditEvent).where(AuditEvent.event == "passkey.clone_suspected")).first()
    # A wrong origin: the same provider reached as 127.0.0.1 is another origin; no sign-in happens.
    other = idp.replace("localhost", "127.0.0.1")
    browser.delete_all_cookies()
    browser.get(f"{other}/login")
    button = browser.find_elements(By.ID, "sign-in-passkey")
    if button and button[0].is_displayed():
        browser.find_element(By.ID, "sign-in-passkey").click()
        wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, ".passkey-status, .flash-error"), "the refusal")
    assert not signed_in(browser)
