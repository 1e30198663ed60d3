"""Security notices (issue 16): a mail (an SMS when only a phone is confirmed) when the password, the address,
the number or the second factor changes and on a sign-in from a new device, each with a "this was not me"
link that ends every session and token and starts the recovery."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from tests.citizen.helpers import PASSWORD, body, csrf, mails_to, register, sign_in, wait_for_mails

from .conftest import RP, english, post_page, signed_in_citizen
from .test_phone import add_number, code_in, sms_outbox, type_code
from .test_two_step import set_up

NEW = "bakso urat kuah pedas"
LINK_RE = re.compile(r"https?://\S+(/not-me\?token=\S+)")


def notices(app: Flask, address: str, count: int, words: str) -> list[Any]:
    found = [m for m in wait_for_mails(app, address, count) if words in str(m["Subject"])]
    assert found, [str(m["Subject"]) for m in mails_to(app, address)]
    return found


def not_me(browser: FlaskClient, path: str) -> Any:
    page = browser.get(path)
    assert page.status_code == 200 and 'id="confirm-not-me"' in page.get_data(as_text=True)
    token = re.search(r'name="token" type="hidden" value="([^"]+)"', page.get_data(as_text=True)).group(1)  # type: ignore[union-attr]
    return browser.post("/not-me", data={"csrf_token": csrf(page.data), "token": token})


def test_password_change_notice_and_this_was_not_me(app: Flask, make_rp: Callable[..., RP]) -> None:
    browser, citizen = signed_in_citizen(app)
    resp = post_page(browser, "/account/password", {"current_password": PASSWORD, "password": NEW,
                                                    "password_confirm": NEW})
    assert resp.status_code == 303
    [notice] = notices(app, citizen.email, 2, "password was changed")
    path = LINK_RE.search(body(notice)).group(1)  # type: ignore[union-attr]
    assert "/forgot-password" in body(notice)
    victim = english(app, "10.3.0.1")
    assert browser.get(path).status_code == 200 and browser.get("/account").status_code == 200  # a GET changes nothing
    done = not_me(victim, path)
    assert done.status_code == 303 and done.headers["Location"].endswith("/forgot-password")
    assert browser.get("/account").status_code == 303  # every session ended
    again = victim.get(path)
    assert again.status_code == 400  # used once


def test_a_new_device_is_reported_the_known_one_not(app: Flask) -> None:
    browser, citizen = signed_in_citizen(app)  # the first sign-in: nothing to compare with
    assert sign_in(browser, citizen).status_code == 303  # the same browser again
    assert not [m for m in mails_to(app, citizen.email) if "New sign-in" in str(m["Subject"])]
    other = english(app, "10.3.1.1")
    other.environ_base["HTTP_USER_AGENT"] = "Mozilla/5.0 (Linux; Android 14) Chrome/131.0 Mobile Safari/537.36"
    assert sign_in(other, citizen).status_code == 303
    [notice] = notices(app, citizen.email, 2, "New sign-in")
    assert "Chrome / Android" in body(notice) and LINK_RE.search(body(notice))


def test_second_factor_and_phone_changes_are_reported(app: Flask) -> None:
    browser, citizen = signed_in_citizen(app)
    set_up(browser)
    notices(app, citizen.email, 2, "Two-step verification")
    assert add_number(browser, "0812-4444-0001").status_code == 303
    assert type_code(browser, code_in(sms_outbox(app)[-1]["text"])).status_code == 303
    page = browser.get("/account/phone")
    assert browser.post("/account/phone/remove", data={"csrf_token": csrf(page.data)}).status_code == 303
    notices(app, citizen.email, 3, "mobile number")


def test_a_phone_only_person_gets_the_notice_by_sms(oauth_app: Callable[..., Flask]) -> None:
    app = oauth_app()
    browser = english(app)
    citizen, _ = register(browser, email_address="", phone="0812-4444-0002")
    page = browser.get("/register-account/sent")
    code = code_in(wait_for_sms(app, "phone_verify")[0]["text"])  # sent from a thread
    assert browser.post("/register-account/verify-phone",
                        data={"csrf_token": csrf(page.data), "code": code}).status_code == 303
    other = english(app, "10.3.2.1")
    assert sign_in(other, citizen.nik, citizen.password).status_code == 303
    wait = wait_for_sms(app, "notice_new_device")
    assert wait and "/not-me?token=" in wait[0]["text"]


def wait_for_sms(app: Flask, kind: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for _ in range(100):
        found = [m for m in sms_outbox(app) if m["kind"] == kind]
        if found:
            break
        time.sleep(0.05)
    return found
