"""A mobile number on the account (issue 16): Indonesian formats normalised to E.164, a code by SMS through
the ``idp.sms`` seam (the outbox sink, and an HTTP gateway played by a real HTTP server started here), the
cost guards (per number, per address, daily cap), the ``phone`` scope's claims (OIDC Core 5.4)."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.citizen.helpers import csrf, forgot, recovery_step, register_and_verify, sign_in
from tests.helpers import choose_english, code_in, sms_outbox
from tests.oauth import helpers

from .conftest import RP


def add_number(browser: FlaskClient, typed: str) -> Any:
    page = browser.get("/account/phone")
    assert page.status_code == 200, page.status_code
    return browser.post("/account/phone", data={"csrf_token": csrf(page.data), "number": typed})


def type_code(browser: FlaskClient, code: str) -> Any:
    page = browser.get("/account/phone")
    return browser.post("/account/phone/verify", data={"csrf_token": csrf(page.data), "code": code})


def signed_in(app: Flask, **person: Any) -> tuple[FlaskClient, int, str]:
    person_id, sub = helpers.create_person(app, **person)
    browser = choose_english(app.test_client())
    helpers.sign_in(app, browser, person_id, sub)
    return browser, person_id, sub


@pytest.mark.parametrize(("typed", "e164"), [
    ("0812-3456-7890", "+6281234567890"),
    ("+62 812 3456 7890", "+6281234567890"),
    ("6281234567890", "+6281234567890"),
    ("81234567890", "+6281234567890"),
    ("(0857) 1234 5678", "+6285712345678"),
])
def test_indonesian_formats_become_e164_and_the_claim(app: Flask, make_rp: Callable[..., RP], typed: str,
                                                      e164: str) -> None:
    rp = make_rp(scope="openid phone")
    assert add_number(rp.browser, typed).status_code == 303
    assert "*" in rp.browser.get("/account/phone").get_data(as_text=True)  # the waiting number, masked
    sent = sms_outbox(app)[-1]
    assert sent["to"] == e164 and sent["kind"] == "phone_verify"
    assert type_code(rp.browser, code_in(sent["text"])).status_code == 303
    assert e164 in rp.browser.get("/account/phone").get_data(as_text=True)
    tokens = rp.tokens(scope="openid phone")
    info = rp.browser.get("/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}).get_json()
    assert info["phone_number"] == e164 and info["phone_number_verified"] is True
    assert "phone" in rp.browser.get("/.well-known/openid-configuration").get_json()["scopes_supported"]


@pytest.mark.parametrize("typed", ["", "021-5551234", "12345", "+1 202 555 0143", "0812-3456-7890\x00",
                                   "٠٨١٢٣٤٥٦٧٨٩٠", "x" * 300, "<script>", "+62 812"])
def test_anything_but_a_mobile_number_is_refused_at_the_field(app: Flask, typed: str) -> None:
    browser, _, _ = signed_in(app)
    resp = add_number(browser, typed)
    assert resp.status_code == 400 and 'id="number-error"' in resp.get_data(as_text=True)
    assert sms_outbox(app) == []


def test_wrong_codes_are_limited_and_a_taken_number_is_refused(app: Flask) -> None:
    browser, _, _ = signed_in(app)
    assert add_number(browser, "0812-1111-2222").status_code == 303
    right = code_in(sms_outbox(app)[-1]["text"])
    wrong = f"{(int(right) + 1) % 10 ** 6:06d}"
    assert [type_code(browser, wrong).status_code for _ in range(5)] == [401, 401, 401, 401, 429]
    assert type_code(browser, right).status_code == 400  # the code went with the fifth wrong one
    assert add_number(browser, "0812-1111-2222").status_code == 303
    assert type_code(browser, code_in(sms_outbox(app)[-1]["text"])).status_code == 303
    other, _, _ = signed_in(app, nik="3603014501900002")
    assert add_number(other, "081211112222").status_code == 303
    taken = type_code(other, code_in(sms_outbox(app)[-1]["text"]))
    assert taken.status_code == 409 and "help desk" in taken.get_data(as_text=True)


def test_cost_guards(oauth_app: Callable[..., Flask]) -> None:
    app = oauth_app(SMS_PER_NUMBER_PER_HOUR=2, SMS_DAILY_CAP=3)
    browser, _, _ = signed_in(app)
    assert [add_number(browser, "0812-2222-3333").status_code for _ in range(3)] == [303, 303, 429]
    assert add_number(browser, "0812-2222-4444").status_code == 303  # the third message today
    assert add_number(browser, "0812-2222-5555").status_code == 429  # the daily cap
    assert len(sms_outbox(app)) == 3


def test_the_per_address_limit(oauth_app: Callable[..., Flask]) -> None:
    """``SMS_PER_IP_PER_HOUR`` counts the texts one client address causes, whichever person and number:
    different numbers and different accounts from one address share it; another address is not held up."""
    app = oauth_app(SMS_PER_IP_PER_HOUR=2)
    first, _, _ = signed_in(app)
    second, _, _ = signed_in(app, nik="3603014501900003")
    elsewhere, _, _ = signed_in(app, nik="3603014501900004")
    for browser, address in ((first, "10.8.0.1"), (second, "10.8.0.1"), (elsewhere, "10.8.0.2")):
        browser.environ_base["REMOTE_ADDR"] = address
    assert add_number(first, "0812-3333-0001").status_code == 303
    assert add_number(second, "0812-3333-0002").status_code == 303
    refused = add_number(first, "0812-3333-0003")  # a third number, a third text from 10.8.0.1
    assert refused.status_code == 429 and 'id="phone-error"' in refused.get_data(as_text=True)
    assert add_number(second, "0812-3333-0004").status_code == 429  # another account, the same address
    assert add_number(elsewhere, "0812-3333-0005").status_code == 303
    assert [m["to"] for m in sms_outbox(app)] == ["+6281233330001", "+6281233330002", "+6281233330005"]


def test_the_page_needs_a_sign_in(app: Flask) -> None:
    assert app.test_client().get("/account/phone").status_code == 303


# --- the HTTP gateway, played by a real HTTP server ---------------------------------------------------
class Gateway:
    """A stand-in SMS gateway: answers each POST with the next scripted status (then 200), after ``delay``."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.script: list[int] = []
        self.delay = 0.0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                length = int(self.headers.get("Content-Length") or 0)
                outer.received.append({"auth": self.headers.get("Authorization"),
                                       "body": json.loads(self.rfile.read(length) or b"{}")})
                time.sleep(outer.delay)
                status = outer.script.pop(0) if outer.script else 200
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/send"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def gateway() -> Iterator[Gateway]:
    found = Gateway()
    yield found
    found.server.shutdown()
    found.server.server_close()


def test_the_gateway_gets_the_message_with_its_token(oauth_app: Callable[..., Flask], gateway: Gateway) -> None:
    app = oauth_app(SMS_GATEWAY_URL=gateway.url, SMS_GATEWAY_TOKEN="gw-secret")
    browser, _, _ = signed_in(app)
    assert add_number(browser, "0813-1234-5678").status_code == 303
    [call] = gateway.received
    assert call["auth"] == "Bearer gw-secret" and call["body"]["to"] == "+6281312345678"
    assert type_code(browser, code_in(call["body"]["text"])).status_code == 303
    assert sms_outbox(app) == []


def test_the_gateway_is_retried_after_errors_not_after_refusals(oauth_app: Callable[..., Flask],
                                                                gateway: Gateway) -> None:
    app = oauth_app(SMS_GATEWAY_URL=gateway.url, SMS_RETRIES=2)
    browser, _, _ = signed_in(app)
    gateway.script = [503, 502]
    assert add_number(browser, "0813-2222-0001").status_code == 303
    assert len(gateway.received) == 3
    gateway.script = [400]
    failed = add_number(browser, "0813-2222-0002")
    assert failed.status_code == 503 and 'id="phone-error"' in failed.get_data(as_text=True)
    assert len(gateway.received) == 4  # a refusal is final


def test_a_slow_gateway_times_out(oauth_app: Callable[..., Flask], gateway: Gateway) -> None:
    app = oauth_app(SMS_GATEWAY_URL=gateway.url, SMS_TIMEOUT=1, SMS_RETRIES=1)
    browser, _, _ = signed_in(app)
    gateway.delay = 1.5
    started = time.monotonic()
    assert add_number(browser, "0813-3333-0001").status_code == 503
    assert len(gateway.received) == 2 and time.monotonic() - started < 6


# --- the number as a sign-in identifier and a recovery channel ------------------------------------------
def citizen_with_phone(app: Flask, number: str) -> tuple[Any, FlaskClient]:
    browser = choose_english(app.test_client())
    citizen = register_and_verify(browser)
    assert sign_in(browser, citizen).status_code == 303
    assert add_number(browser, number).status_code == 303
    assert type_code(browser, code_in(sms_outbox(app)[-1]["text"])).status_code == 303
    return citizen, browser


@pytest.mark.parametrize("typed", ["0812-7777-0001", "+62 812 7777 0001", "6281277770001"])
def test_sign_in_with_the_number_in_any_format(app: Flask, typed: str) -> None:
    citizen, _ = citizen_with_phone(app, "081277770001")
    assert sign_in(app.test_client(), typed, citizen.password).status_code == 303
    assert sign_in(app.test_client(), typed, "not the password at all").status_code == 401


def test_an_unverified_number_signs_nobody_in(app: Flask) -> None:
    browser = app.test_client()
    citizen = register_and_verify(browser)
    assert sign_in(browser, citizen).status_code == 303
    assert add_number(browser, "0812-7777-0002").status_code == 303  # code sent, never typed
    assert sign_in(app.test_client(), "081277770002", citizen.password).status_code == 401


def test_wrong_passwords_by_number_count_on_the_accounts_counter(oauth_app: Callable[..., Flask]) -> None:
    """Spreading guesses over the formats of one number, the NIK and the address locks all of them."""
    app = oauth_app(LOGIN_MAX_FAILURES=3)
    citizen, _ = citizen_with_phone(app, "081277770003")
    answers = [sign_in(app.test_client(), typed, "wrong guess").status_code
               for typed in ("081277770003", "+6281277770003", "81277770003")]
    assert answers == [401, 401, 429]


def test_recovery_by_sms(app: Flask) -> None:
    citizen, _ = citizen_with_phone(app, "081277770004")
    before = len(sms_outbox(app))
    stranger = app.test_client()
    assert forgot(stranger, "0812 7777 0004").status_code == 303
    deadline = time.monotonic() + 5
    while len(sms_outbox(app)) == before and time.monotonic() < deadline:
        time.sleep(0.05)
    sent = sms_outbox(app)[-1]
    assert sent["to"] == "+6281277770004" and sent["kind"] == "recovery_code"
    code = re.search(r"\b(\d{8})\b", sent["text"]).group(1)  # type: ignore[union-attr]
    assert recovery_step(stranger, "/forgot-password/code", {"code": code}).status_code == 303
    new = "rujak cingur pedas sekali"
    done = recovery_step(stranger, "/forgot-password/new", {"password": new, "password_confirm": new})
    assert done.status_code == 303
    assert sign_in(app.test_client(), "081277770004", new).status_code == 303
    # An unknown number: the same answer, no message.
    count = len(sms_outbox(app))
    assert forgot(app.test_client(), "0812 7777 0099").status_code == 303
    time.sleep(0.3)
    assert len(sms_outbox(app)) == count
