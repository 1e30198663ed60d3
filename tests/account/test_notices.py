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
from sqlalchemy import select

from idp.extensions import db
from idp.models import Passkey
from tests.citizen.helpers import PASSWORD, body, csrf, mails_to, register, sign_in, wait_for_mails
from tests.helpers import code_in, sms_outbox
from tests.webauthn_soft import SoftAuthenticator

from .conftest import RP, english, post_page, signed_in_citizen
from .test_passkeys import ISSUER, RP_ID, add_passkey, passwordless
from .test_phone import add_number, type_code
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
    # A first number is reported too: it is a new recovery channel and sign-in identifier.
    [added] = notices(app, citizen.email, 3, "mobile number")
    assert LINK_RE.search(body(added))
    page = browser.get("/account/phone")
    assert browser.post("/account/phone/remove", data={"csrf_token": csrf(page.data)}).status_code == 303
    assert len(notices(app, citizen.email, 4, "mobile number")) == 2


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


def wait_for_sms(app: Flask, kind: str, count: int = 1) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for _ in range(100):
        found = [m for m in sms_outbox(app) if m["kind"] == kind]
        if len(found) >= count:
            break
        time.sleep(0.05)
    return found


def phone_only_citizen(app: Flask, number: str) -> tuple[FlaskClient, Any]:
    """A citizen registered with a mobile number only, confirmed and signed in."""
    browser = english(app)
    citizen, _ = register(browser, email_address="", phone=number)
    page = browser.get("/register-account/sent")
    code = code_in(wait_for_sms(app, "phone_verify")[0]["text"])  # sent from a thread
    assert browser.post("/register-account/verify-phone",
                        data={"csrf_token": csrf(page.data), "code": code}).status_code == 303
    return browser, citizen


def test_a_phone_only_persons_number_change_is_told_to_the_replaced_number(oauth_app: Callable[..., Flask]) -> None:
    """The holder of the new number may be the intruder: the old number, the owner's, is told too, with a
    "this was not me" link of its own that still works after the new number's link was used."""
    app = oauth_app()
    browser, _ = phone_only_citizen(app, "0812-4444-0003")
    assert not wait_for_sms(app, "notice_phone")  # confirming the registration's number is no change
    assert add_number(browser, "0812-4444-0004").status_code == 303
    assert type_code(browser, code_in(sms_outbox(app)[-1]["text"])).status_code == 303
    sent = {m["to"]: m for m in wait_for_sms(app, "notice_phone", 2)}
    assert set(sent) == {"+6281244440003", "+6281244440004"}
    links = {to: re.search(r"/not-me\?token=\S+", m["text"]).group(0) for to, m in sent.items()}  # type: ignore[union-attr]
    assert len(set(links.values())) == 2
    assert not_me(english(app, "10.3.3.1"), links["+6281244440004"]).status_code == 303
    owner = not_me(english(app, "10.3.3.2"), links["+6281244440003"])
    assert owner.status_code == 303 and owner.headers["Location"].endswith("/forgot-password")


def test_a_phone_only_persons_removed_number_is_told(oauth_app: Callable[..., Flask]) -> None:
    app = oauth_app()
    browser, _ = phone_only_citizen(app, "0812-4444-0005")
    page = browser.get("/account/phone")
    assert browser.post("/account/phone/remove", data={"csrf_token": csrf(page.data)}).status_code == 303
    [sent] = wait_for_sms(app, "notice_phone")
    assert sent["to"] == "+6281244440005" and "/not-me?token=" in sent["text"]


def test_adding_and_removing_a_passkey_is_reported(oauth_app: Callable[..., Flask]) -> None:
    app = oauth_app(ISSUER=ISSUER)  # a host name: passkeys work
    browser, citizen = signed_in_citizen(app)
    authenticator = SoftAuthenticator(RP_ID, ISSUER)
    assert add_passkey(browser, authenticator).status_code == 200
    [added] = notices(app, citizen.email, 2, "Two-step verification")
    assert "passkey" in body(added) and LINK_RE.search(body(added))
    fresh = english(app, "10.3.4.1")
    assert passwordless(fresh, authenticator).status_code == 303  # a fresh sign-in with the passkey
    with app.app_context():
        passkey_id = db.session.execute(select(Passkey.id)).scalar_one()
    token = csrf(fresh.get("/account/passkeys").data)
    assert fresh.post(f"/account/passkeys/{passkey_id}/remove", data={"csrf_token": token}).status_code == 303
    found = [m for m in wait_for_mails(app, citizen.email, 4) if "Two-step verification" in str(m["Subject"])]
    assert len(found) == 2 and LINK_RE.search(body(found[-1]))
