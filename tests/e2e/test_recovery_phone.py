"""Chromium at a phone-sized viewport (390 x 844, tests/e2e/conftest.py), issue 16's journeys: a citizen who
forgot the password gets back in ("Lupa kata sandi?", the mailed code, a new password), and a phone-only
registration confirmed by the SMS code, with the proof of work on (``static/js/pow.js`` solves it); then
a mobile number added on the account pages, and the security notice's "this was not me" link followed.
Screenshots of every step are kept in a folder whose path the test prints (test artefacts)."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.citizen.helpers import mails_to as outbox_mails
from tests.citizen.helpers import make_nik, newest_recovery_code, register_and_verify
from tests.e2e.test_citizen_flow import wait_for
from tests.helpers import code_in, sms_outbox

pytestmark = pytest.mark.e2e

NEW = "pisang goreng hangat sore"


class Shots:
    """Numbered screenshots in the test's folder (the ``screenshots`` fixture, tests/e2e/conftest.py)."""

    def __init__(self, driver: Any, folder: Path) -> None:
        self.driver, self.step, self.folder = driver, 0, folder

    def __call__(self, what: str) -> None:
        self.step += 1
        self.driver.save_screenshot(str(self.folder / f"{self.step:02d}-{what}.png"))


def fits_the_phone(driver: Any) -> None:
    """Nothing wider than the viewport (no sideways scrolling on a phone)."""
    assert driver.execute_script("return document.documentElement.scrollWidth <= window.innerWidth + 1")


def test_forgotten_password_on_a_phone(browser: Any, live_server: Callable[..., Any], screenshots: Path) -> None:
    from selenium.webdriver.common.by import By

    server = live_server()
    citizen = register_and_verify(server.app.test_client())
    driver, shot = browser, Shots(browser, screenshots)
    driver.get(f"{server.url}/login")
    link = wait_for(driver, lambda d: d.find_elements(By.ID, "forgot-password"), "the forgot-password link")[0]
    # The phone asks for English (tests/e2e/conftest.py), yet the page is Indonesian first, the switch in view.
    assert driver.execute_script("return navigator.language").startswith("en")
    assert link.text == "Lupa kata sandi?"
    switch = driver.find_element(By.ID, "lang-switch")
    assert switch.is_displayed() and switch.text == "English"
    assert driver.execute_script("const r = arguments[0].getBoundingClientRect();"
                                 "return r.top >= 0 && r.right <= window.innerWidth && r.height >= 40", switch)
    fits_the_phone(driver)
    shot("sign-in")
    link.click()
    wait_for(driver, lambda d: d.find_elements(By.ID, "send-code"), "the forgot-password page")
    driver.find_element(By.NAME, "identifier").send_keys(citizen.nik)
    shot("forgot")
    driver.find_element(By.ID, "send-code").click()
    wait_for(driver, lambda d: d.find_elements(By.ID, "check-code"), "the code page")
    fits_the_phone(driver)
    shot("code")
    driver.find_element(By.NAME, "code").send_keys(newest_recovery_code(server.app, citizen.email))
    driver.find_element(By.ID, "check-code").click()
    wait_for(driver, lambda d: d.find_elements(By.ID, "set-password"), "the new password page")
    driver.find_element(By.NAME, "password").send_keys(NEW)
    driver.find_element(By.NAME, "password_confirm").send_keys(NEW)
    shot("new-password")
    driver.find_element(By.ID, "set-password").click()
    wait_for(driver, lambda d: d.find_elements(By.ID, "sign-in") and "/login" in d.current_url, "the sign-in page")
    shot("changed")
    driver.find_element(By.NAME, "identifier").send_keys(citizen.nik)
    driver.find_element(By.NAME, "password").send_keys(NEW)
    toggle = driver.find_element(By.CSS_SELECTOR, "button.show-password[aria-controls=password]")
    toggle.click()  # the show-password toggle (static/js/show_password.js)
    assert driver.find_element(By.NAME, "password").get_attribute("type") == "text"
    shot("password-shown")
    driver.find_element(By.ID, "sign-in").click()
    wait_for(driver, lambda d: "/login" not in d.current_url, "the start page, signed in")
    shot("signed-in")

    # Signed in again: add a mobile number (the code from the SMS outbox), on the account menu's page.
    driver.get(f"{server.url}/account/phone")
    wait_for(driver, lambda d: d.find_elements(By.ID, "send-phone-code"), "the mobile number page")
    current = driver.find_element(By.CSS_SELECTOR, "nav [aria-current=page]")
    assert current.get_attribute("href").endswith("/account/phone")
    assert current.value_of_css_property("font-weight") in ("700", "bold")  # marked, not by colour alone
    driver.find_element(By.NAME, "number").send_keys("0812-7777-0002")
    driver.find_element(By.ID, "send-phone-code").click()
    wait_for(driver, lambda d: d.find_elements(By.ID, "verify-phone"), "the code field")
    code = code_in(sms_outbox(server.app, 1, wait=10)[0]["text"])
    driver.find_element(By.NAME, "code").send_keys(code)
    fits_the_phone(driver)
    shot("phone-code")
    driver.find_element(By.ID, "verify-phone").click()
    wait_for(driver, lambda d: d.find_elements(By.ID, "phone-current"), "the confirmed number")
    assert "danger" in driver.find_element(By.ID, "remove-phone").get_attribute("class")
    shot("phone-confirmed")

    # The security notice of the new number carries "this was not me": it signs the person out everywhere.
    deadline, link = time.monotonic() + 10, None
    while link is None and time.monotonic() < deadline:
        texts = [str(m.get_body(("plain",)).get_content()) for m in outbox_mails(server.app, citizen.email)]
        found = [re.search(r"/not-me\?token=\S+", t) for t in texts if "/not-me?token=" in t]
        link = found[-1].group(0) if found else None
        time.sleep(0.1)
    assert link, "no security notice with a 'this was not me' link"
    driver.get(f"{server.url}{link}")
    confirm = wait_for(driver, lambda d: d.find_elements(By.ID, "confirm-not-me"), "the not-me page")[0]
    assert "danger" in confirm.get_attribute("class")
    fits_the_phone(driver)
    shot("not-me")
    confirm.click()
    wait_for(driver, lambda d: d.find_elements(By.ID, "send-code"), "the forgotten-password page, to choose anew")
    shot("choose-a-new-password")
    driver.get(f"{server.url}/account/phone")
    wait_for(driver, lambda d: "/login" in d.current_url, "signed out: the account pages ask for the sign-in")
    shot("signed-out-everywhere")
    print(f"screenshots in {shot.folder}")


def test_phone_only_registration_on_a_phone(browser: Any, live_server: Callable[..., Any],
                                            screenshots: Path) -> None:
    from selenium.webdriver.common.by import By

    server = live_server(PROOF_OF_WORK="always", PROOF_OF_WORK_MAX_NUMBER=20000)  # pow.js does its work too
    driver, shot = browser, Shots(browser, screenshots)
    driver.get(f"{server.url}/register-account")
    wait_for(driver, lambda d: d.find_elements(By.ID, "register-nik"), "the NIK step")
    driver.find_element(By.NAME, "nik").send_keys(make_nik())
    driver.find_element(By.ID, "register-nik").click()
    wait_for(driver, lambda d: d.find_elements(By.ID, "nik-facts"), "the NIK's birth date and sex")
    fits_the_phone(driver)
    shot("nik-facts")
    driver.find_element(By.ID, "confirmed").click()
    for name, value in (("full_name", "Siti Aminah"), ("phone", "0812-6666-0001"), ("password", NEW),
                        ("password_confirm", NEW)):
        driver.find_element(By.NAME, name).send_keys(value)
    wait_for(driver, lambda d: d.find_element(By.ID, "register").is_enabled()
             and d.find_element(By.ID, "altcha").get_attribute("value"), "the proof of work")
    shot("details")
    driver.find_element(By.ID, "register").click()
    wait_for(driver, lambda d: d.find_elements(By.ID, "verify-phone"), "the check-your-phone page")
    assert "+62" in driver.find_element(By.ID, "registered-phone").text
    shot("check-phone")
    code = code_in(sms_outbox(server.app, 1, wait=10)[0]["text"])
    driver.find_element(By.NAME, "code").send_keys(code)
    driver.find_element(By.ID, "verify-phone").click()
    wait_for(driver, lambda d: "/register-account" not in d.current_url, "signed in after the code")
    shot("signed-in")
    print(f"screenshots in {shot.folder}")
