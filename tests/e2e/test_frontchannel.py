"""Front-Channel Logout 1.0 in a real headless Chromium with clients/example-rp as a real process (issue 5).

The application runs on ``http://localhost:<port>`` and the provider on ``http://127.0.0.1:<port>``:
two different sites, so the logout iframe is a cross-site frame in which the browser does not send
the application's SameSite=Lax cookie.  The application must therefore act on the ``sid`` it
receives (kept on its server), which is what this test shows: its session is gone at the next visit.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from idp import passwords
from idp.extensions import db
from idp.models import CitizenAccount
from idp.oauth.registration import create_client
from tests import services
from tests.e2e.test_citizen_flow import wait_for
from tests.oauth import helpers

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
NIK = "3603015501900003"
PASSWORD = "Banten-Sehat-2026!"  # noqa: S105 - a test password


class SlowApp:
    """An application whose front-channel logout page never answers in time (its callback answers at once)."""

    def __init__(self) -> None:
        self.port = services.free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.asked: list[str] = []
        self.client_id = ""
        self.release = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                if self.path.startswith("/fc"):
                    outer.asked.append(self.path)
                    outer.release.wait(20)
                body = b"<!doctype html><title>slow app</title><p id='slow'>ok</p>"
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def slow_app() -> Iterator[SlowApp]:
    app = SlowApp()
    try:
        yield app
    finally:
        app.stop()


@pytest.fixture
def provider_and_rp(live_server: Callable[..., Any], tmp_path: Path,
                    slow_app: SlowApp) -> Iterator[tuple[Any, str, Path]]:
    """The live provider and clients/example-rp, registered with a frontchannel_logout_uri; its log file.

    The slow application is registered too (first-party, so no consent page), as ``client_id`` "slow-app".
    """
    server = live_server()
    with server.app.app_context():
        slow, _secret = create_client({
            "client_name": "Lambat", "redirect_uris": [f"{slow_app.url}/cb"], "grant_types": ["authorization_code"],
            "response_types": ["code"], "token_endpoint_auth_method": "client_secret_basic",
            "scope": "openid", "frontchannel_logout_uri": f"{slow_app.url}/fc"}, first_party=True)
        slow_app.client_id = slow.client_id
        db.session.commit()
    port = services.free_port()
    rp = f"http://localhost:{port}"
    with server.app.app_context():
        client, secret = create_client({
            "client_name": "Contoh Aplikasi", "redirect_uris": [f"{rp}/callback"],
            "post_logout_redirect_uris": [f"{rp}/"], "grant_types": ["authorization_code"],
            "response_types": ["code"], "token_endpoint_auth_method": "client_secret_basic",
            "scope": "openid profile email", "frontchannel_logout_uri": f"{rp}/frontchannel-logout",
            "frontchannel_logout_session_required": True})
        client_id = client.client_id
        db.session.commit()
    person_id, _sub = helpers.create_person(server.app, name="Siti Aminah", nik=NIK)
    with server.app.app_context():
        account = db.session.execute(db.select(CitizenAccount).filter_by(person_id=person_id)).scalar_one()
        account.password_hash = passwords.hash(PASSWORD)
        db.session.commit()
    env = {**os.environ, "RP_ISSUER": server.url, "RP_CLIENT_ID": client_id, "RP_CLIENT_SECRET": secret or "",
           "RP_PORT": str(port), "PYTHONUNBUFFERED": "1"}
    env.pop("RP_HTTPS", None)
    logfile = tmp_path / "example-rp.log"
    with logfile.open("wb") as out:
        proc = subprocess.Popen([sys.executable, str(ROOT / "clients/example-rp/app.py")], env=env, cwd=ROOT,
                                stdout=out, stderr=subprocess.STDOUT)
    try:
        services.wait_port(port, timeout=20, proc=proc)
        yield server, rp, logfile
    finally:
        services.stop_process(proc, 5)


def _received(logfile: Path) -> list[tuple[str, str, str]]:
    """(iss, sid, cookie_cleared) of every front-channel logout the application logged."""
    text = logfile.read_text(errors="replace")
    return re.findall(r"front-channel logout iss=(\S+) sid=(\S+) cookie_cleared=(\w+)", text)


def test_frontchannel_logout_reaches_the_example_rp(browser: Any, provider_and_rp: tuple[Any, str, Path],
                                                    slow_app: SlowApp) -> None:
    from selenium.webdriver.common.by import By

    driver = browser
    server, rp, logfile = provider_and_rp
    idp = server.url
    allow_css = 'button[name="decision"][value="allow"]'

    def sign_in_at_rp() -> str:
        """Sign in at the application; the ``sid`` claim of the ID token it shows."""
        driver.get(f"{rp}/login")
        wait_for(driver, lambda d: d.current_url.startswith(idp) and d.find_elements(By.ID, "sign-in"),
                 "the sign-in page")
        driver.find_element(By.NAME, "identifier").send_keys(NIK)
        driver.find_element(By.NAME, "password").send_keys(PASSWORD)
        driver.find_element(By.ID, "sign-in").click()
        found = wait_for(driver, lambda d: (d.current_url.startswith(rp) and d.find_elements(By.ID, "claims"))
                         or d.find_elements(By.CSS_SELECTOR, allow_css), "the application or the consent page")
        if not driver.current_url.startswith(rp):
            found[0].click()
            wait_for(driver, lambda d: d.current_url.startswith(rp) and d.find_elements(By.ID, "claims"), rp)
        claims = json.loads(driver.find_element(By.ID, "claims").text)
        assert claims["iss"] == idp and claims["sid"]
        return str(claims["sid"])

    def wait_received(sid: str) -> tuple[str, str, str]:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            for entry in _received(logfile):
                if entry[1] == sid:
                    return entry
            time.sleep(0.2)
        raise AssertionError(f"the application never received sid {sid}: {logfile.read_text()[-2000:]}")

    # 1. Sign out at the provider itself (its own page, confirmed): the signed-out page carries the iframe.
    sid = sign_in_at_rp()
    driver.get(f"{idp}/end_session")
    confirm = 'form[action*="end_session"] button[type="submit"]'
    wait_for(driver, lambda d: d.find_elements(By.CSS_SELECTOR, confirm), "the sign-out confirmation")
    driver.find_element(By.CSS_SELECTOR, confirm).click()
    wait_for(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "iframe.frontchannel-logout"), "the signed-out page")
    frame = driver.find_element(By.CSS_SELECTOR, "iframe.frontchannel-logout")
    assert frame.get_attribute("src").startswith(f"{rp}/frontchannel-logout?iss=")
    iss, got_sid, cleared = wait_received(sid)
    assert (iss, got_sid) == (idp, sid)
    # Cross-site frame: no SameSite=Lax cookie, so the application could only act on the sid.
    assert cleared == "False"
    driver.get(f"{rp}/")
    assert driver.find_elements(By.ID, "login") and not driver.find_elements(By.ID, "sub"), \
        "the application's session must be gone after the front-channel logout"
    browser_logs = [e for e in driver.get_log("browser") if "Content Security Policy" in e.get("message", "")]
    assert not browser_logs, browser_logs

    # 2. RP-initiated logout with post_logout_redirect_uri: the interstitial loads the iframe, then the
    #    script continues to the application (with its state).
    second = sign_in_at_rp()
    assert second != sid
    driver.get(f"{rp}/logout")
    wait_for(driver, lambda d: d.current_url.startswith(rp) and d.find_elements(By.ID, "login"),
             "back at the application, signed out")
    assert "state=" in driver.current_url
    iss, got_sid, _cleared = wait_received(second)
    assert (iss, got_sid) == (idp, second)

    # 3. An application whose logout page hangs does not keep the person waiting: the interstitial
    #    continues after its short timeout (about 3 s).
    third = sign_in_at_rp()
    driver.get(f"{idp}/authorize?" + urlencode({
        "response_type": "code", "client_id": slow_app.client_id, "redirect_uri": f"{slow_app.url}/cb",
        "scope": "openid", "state": "s", "nonce": "n"}))  # joins the session (single sign-on)
    wait_for(driver, lambda d: d.current_url.startswith(slow_app.url) and d.find_elements(By.ID, "slow"),
             "the slow application's callback")
    started = time.monotonic()
    driver.get(f"{rp}/logout")
    wait_for(driver, lambda d: d.current_url.startswith(rp) and d.find_elements(By.ID, "login"),
             "back at the application although one logout page hangs")
    waited = time.monotonic() - started
    assert 2.5 <= waited < 15, waited
    assert len(slow_app.asked) == 1 and f"sid={third}" in slow_app.asked[0]
    assert wait_received(third)[1] == third
