"""Support for the browser tests: the second example RP (clients/example-rp2) as a real process, and a
staff member's sign-in on the provider's page."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests import services

ROOT = Path(__file__).resolve().parents[2]


@contextmanager
def run_rp2(issuer: str, client_id: str, secret: str, scope: str = "openid profile",
            port: int | None = None) -> Iterator[str]:
    """Run app 2 on ``port`` (default: a free one) against ``issuer``; yield its base URL, stop it afterwards."""
    port = port or services.free_port()
    env = {**os.environ, "RP2_ISSUER": issuer, "RP2_CLIENT_ID": client_id, "RP2_CLIENT_SECRET": secret,
           "RP2_PORT": str(port), "RP2_SCOPE": scope, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, str(ROOT / "clients/example-rp2/app.py")], env=env, cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        services.wait_port(port, timeout=20, proc=proc)
        yield f"http://127.0.0.1:{port}"
    finally:
        services.stop_process(proc, 5)


def staff_sign_in(driver: Any, user: str, password: str) -> None:
    """On the provider's sign-in page (waited for): choose Pegawai, type the directory credentials, submit."""
    from selenium.webdriver.common.by import By

    from .test_citizen_flow import wait_for

    wait_for(driver, lambda d: d.find_elements(By.ID, "sign-in"), "the sign-in page")
    driver.find_element(By.CSS_SELECTOR, "input[name=kind][value=ldap]").click()
    driver.find_element(By.NAME, "identifier").send_keys(user)
    driver.find_element(By.NAME, "password").send_keys(password)
    driver.find_element(By.ID, "sign-in").click()
