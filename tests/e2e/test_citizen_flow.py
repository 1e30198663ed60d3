"""A citizen registers, confirms the e-mail, signs in to the example relying party and signs out,
all in a real headless Chromium against the live provider and the example RP as a separate process."""

from __future__ import annotations

import base64
import email
import email.policy
import hashlib
import os
import re
import secrets
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest

from idp.extensions import db
from idp.oauth.registration import create_client
from tests import services

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
NIK = "3603015501900001"  # a woman born 15-01-1990 (day + 40), Kabupaten Serang
NAME = "Siti Aminah"
PASSWORD = "Banten-Sehat-2026!"  # noqa: S105 - a test password


@pytest.fixture
def provider_and_rp(live_server: Callable[..., Any]) -> Iterator[tuple[Any, str, str]]:
    """The live provider, the example RP (a real process) and the RP's client id."""
    server = live_server()
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
            "scope": "openid profile email",
        })
        client_id = row.client_id
        db.session.commit()
    env = {**os.environ, "RP_ISSUER": server.url, "RP_CLIENT_ID": client_id, "RP_CLIENT_SECRET": secret or "",
           "RP_PORT": str(rp_port), "RP_SCOPES": "openid profile email", "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, str(ROOT / "clients/example-rp/app.py")], env=env, cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        services.wait_port(rp_port, timeout=20, proc=proc)
        yield server, rp, client_id
    finally:
        services.stop_process(proc, 5)


def newest_mail(outbox: Path, address: str, timeout: float = 10) -> email.message.EmailMessage:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for path in sorted(outbox.glob("*.eml"), key=lambda p: p.stat().st_mtime, reverse=True):
            msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            if str(msg["To"]).lower() == address.lower():
                return msg  # type: ignore[return-value]
        time.sleep(0.1)
    raise AssertionError(f"no mail to {address} in {outbox}")


def wait_for(driver: Any, predicate: Callable[[Any], Any], what: str, timeout: float = 15) -> Any:
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        return WebDriverWait(driver, timeout).until(predicate)
    except TimeoutException:
        errors = [e.text for e in driver.find_elements(By.CSS_SELECTOR, ".field-error, [role=alert]")]
        raise AssertionError(f"timed out waiting for {what}; at {driver.current_url}; errors: {errors}") from None


def test_register_verify_sign_in_and_out(browser: Any, provider_and_rp: tuple[Any, str, str],
                                         screenshots: Path) -> None:
    from selenium.webdriver.common.by import By

    started = time.monotonic()
    driver = browser
    server, rp, client_id = provider_and_rp
    idp = server.url
    shots = screenshots
    step = 0

    def shot(name: str) -> None:
        nonlocal step
        step += 1
        driver.save_screenshot(str(shots / f"{step:02d}-{name}.png"))

    def at(prefix: str, what: str) -> None:
        wait_for(driver, lambda d: d.current_url.startswith(prefix), what)

    # 1. The RP sends the browser to the provider's sign-in page.
    driver.get(f"{rp}/login")
    at(f"{idp}/", "the provider sign-in page")
    wait_for(driver, lambda d: d.find_elements(By.ID, "sign-in"), "the sign-in button")
    shot("sign-in")

    # 2. Follow the registration link (it keeps the pending request in ?req=).
    link = driver.find_element(By.ID, "register-link")
    assert "req=" in link.get_attribute("href")
    link.click()
    wait_for(driver, lambda d: d.find_elements(By.ID, "register-nik"), "the registration form (NIK)")
    assert "/register-account" in driver.current_url and "req=" in driver.current_url
    # Step 1: the NIK alone; step 2 shows its birth date and sex to confirm (issue 16: nothing to mistype).
    driver.find_element(By.NAME, "nik").send_keys(NIK)
    driver.find_element(By.ID, "register-nik").click()
    wait_for(driver, lambda d: d.find_elements(By.ID, "register"), "the registration form")
    assert driver.find_element(By.ID, "nik-birthdate").text and driver.find_element(By.ID, "nik-sex").text
    assert not driver.find_elements(By.NAME, "birthdate")
    driver.find_element(By.ID, "confirmed").click()
    address = f"warga-{secrets.token_hex(5)}@example.org"
    for name, value in (("full_name", NAME), ("email", address), ("password", PASSWORD),
                        ("password_confirm", PASSWORD)):
        field = driver.find_element(By.NAME, name)
        field.clear()
        field.send_keys(value)
    shot("register-filled")
    driver.find_element(By.ID, "register").click()
    wait_for(driver, lambda d: d.find_elements(By.ID, "registered"), "the registered page")
    assert address[:1] + "***@example.org" in driver.find_element(By.ID, "registered").text
    shot("registered")

    # 3. Open the verification link from the mail and press the button.
    outbox = Path(server.app.extensions["idp"].config["OUTBOX_DIR"])
    found = re.search(r"https?://\S+/verify-email\?token=\S+", str(newest_mail(outbox, address).get_content()))
    assert found, "no verification link in the mail"
    parts = urlsplit(found.group(0))
    driver.get(f"{idp}{parts.path}?{parts.query}")
    button = driver.find_element(By.ID, "confirm-email")
    shot("verify")
    button.click()

    # 4. Confirmed in the browser that registered: signed in, straight on to the application (issue 16).
    # 5. Consent, then back at the RP with the claims.
    allow = wait_for(driver, lambda d: d.find_elements(By.CSS_SELECTOR, 'button[name="decision"][value="allow"]'),
                     "the consent page")
    shot("consent")
    allow[0].click()
    wait_for(driver, lambda d: d.current_url.startswith(rp) and d.find_elements(By.ID, "sub"), "the RP home")
    shot("rp-signed-in")
    sub = driver.find_element(By.ID, "sub").text
    assert sub.startswith("sub = ") and len(sub) > len("sub = ")
    assert NIK not in sub
    assert NAME in driver.find_element(By.ID, "claims").text

    # 6. Sign out through the RP (the provider may ask to confirm), back at the RP signed out.
    driver.get(f"{rp}/logout")
    wait_for(driver, lambda d: d.current_url.startswith(rp) or d.find_elements(
        By.CSS_SELECTOR, 'form[action*="end_session"] button[type="submit"]'), "the sign-out")
    if not driver.current_url.startswith(rp):
        shot("logout-confirm")
        driver.find_element(By.CSS_SELECTOR, 'form[action*="end_session"] button[type="submit"]').click()
    wait_for(driver, lambda d: d.current_url.startswith(rp) and d.find_elements(By.ID, "login"),
             "the RP signed-out home")
    assert not driver.find_elements(By.ID, "sub")
    shot("rp-signed-out")

    # 7. The provider session is gone: prompt=none comes back with login_required.
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    query = urlencode({"client_id": client_id, "redirect_uri": f"{rp}/callback", "response_type": "code",
                       "scope": "openid", "prompt": "none", "state": "x", "code_challenge": challenge,
                       "code_challenge_method": "S256"})
    driver.get(f"{idp}/authorize?{query}")
    wait_for(driver, lambda d: d.current_url.startswith(rp) and "login_required" in d.current_url,
             "the RP with error=login_required")
    assert driver.find_element(By.ID, "error").text.endswith("login_required")
    shot("prompt-none")

    print(f"screenshots in {shots}")
    assert time.monotonic() - started < 60
