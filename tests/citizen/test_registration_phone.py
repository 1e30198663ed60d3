"""A registration with a mobile number only cannot dead-end (issue 16): the "check your phone" page names the
number (masked), speaks of codes and texts (no e-mail wording), sends the code again under the SMS limits,
and lets the person correct a mistyped number; a duplicate's page looks the same and sends nothing."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from idp.extensions import db
from idp.models import CitizenAccount
from tests.helpers import code_in, sms_outbox

from .helpers import csrf, register, sign_in


def post_on_page(client: FlaskClient, action: str, data: dict[str, Any] | None = None) -> Any:
    page = client.get("/register-account/sent")
    return client.post(action, data={"csrf_token": csrf(page.data), **(data or {})})


def registered(app: Flask, number: str) -> tuple[FlaskClient, Any]:
    client = app.test_client()
    citizen, resp = register(client, email_address="", phone=number)
    assert resp.status_code == 303
    return client, citizen


def test_the_phone_page_speaks_of_the_number_not_of_mail(make_app: Callable[..., Flask]) -> None:
    app = make_app()
    client, _ = registered(app, "0812-6666-0001")
    page = client.get("/register-account/sent").get_data(as_text=True)
    assert "+62" in page and "0001" in page and "66660001" not in page  # masked
    assert 'id="resend-phone-code"' in page and 'id="correct-phone"' in page
    assert "spam folder" not in page and "/verify-email/resend" not in page and "e-mail" not in page.lower()
    # With an e-mail address too, both ways stay.
    both = app.test_client()
    register(both, phone="0812-6666-0002")
    page = both.get("/register-account/sent").get_data(as_text=True)
    assert 'id="resend-phone-code"' in page and 'id="correct-email"' in page and "/verify-email/resend" in page


def test_send_the_code_again(make_app: Callable[..., Flask]) -> None:
    app = make_app()
    client, citizen = registered(app, "0812-6666-0003")
    first = code_in(sms_outbox(app, 1)[0]["text"])
    resp = post_on_page(client, "/register-account/resend-code")
    assert resp.status_code == 303 and resp.headers["Location"] == "/register-account/sent"
    [_, again] = sms_outbox(app, 2)
    assert again["to"] == "+6281266660003"
    assert "new code" in client.get("/register-account/sent").get_data(as_text=True)
    if code_in(again["text"]) != first:  # (one chance in a million that they are the same)
        wrong = post_on_page(client, "/register-account/verify-phone", {"code": first})
        assert wrong.status_code == 401  # the new code replaced the earlier one
    done = post_on_page(client, "/register-account/verify-phone", {"code": code_in(again["text"])})
    assert done.status_code == 303 and client.get("/account").status_code == 200
    assert sign_in(app.test_client(), "081266660003", citizen.password).status_code == 303


@pytest.mark.parametrize("limit", [{"SMS_PER_NUMBER_PER_HOUR": 2}, {"SMS_PER_IP_PER_HOUR": 2},
                                   {"SMS_DAILY_CAP": 2}])
def test_resending_is_under_the_sms_limits(make_app: Callable[..., Flask], limit: dict[str, int]) -> None:
    """Past a limit no text leaves, the page answers the same, and the code already sent keeps working."""
    app = make_app(**limit)
    client, _ = registered(app, "0812-6666-0004")
    assert post_on_page(client, "/register-account/resend-code").status_code == 303
    sent = sms_outbox(app, 2)
    assert len(sent) == 2
    assert post_on_page(client, "/register-account/resend-code").status_code == 303
    time.sleep(0.3)
    assert len(sms_outbox(app, 3, wait=0.5)) == 2  # the third was refused by the limit
    done = post_on_page(client, "/register-account/verify-phone", {"code": code_in(sent[-1]["text"])})
    assert done.status_code == 303


def test_resending_is_limited_per_registration(make_app: Callable[..., Flask]) -> None:
    app = make_app()
    client, _ = registered(app, "0812-6666-0005")
    answers = [post_on_page(client, "/register-account/resend-code").status_code for _ in range(4)]
    assert answers == [303, 303, 303, 429]


def test_correct_the_number(make_app: Callable[..., Flask]) -> None:
    app = make_app()
    client, citizen = registered(app, "0812-6666-0006")  # meant 0812-6666-0007
    mistyped = code_in(sms_outbox(app, 1)[0]["text"])
    resp = post_on_page(client, "/register-account/correct-phone", {"number": "0812 6666 0007"})
    assert resp.status_code == 303
    [_, corrected] = sms_outbox(app, 2)
    assert corrected["to"] == "+6281266660007"
    page = client.get("/register-account/sent").get_data(as_text=True)
    assert "0007" in page and "0006" not in page
    if mistyped != code_in(corrected["text"]):
        assert post_on_page(client, "/register-account/verify-phone", {"code": mistyped}).status_code == 401
    done = post_on_page(client, "/register-account/verify-phone", {"code": code_in(corrected["text"])})
    assert done.status_code == 303
    with app.app_context():
        account = db.session.execute(select(CitizenAccount)).scalar_one()
        assert account.person.phone_number == "+6281266660007"
    assert sign_in(app.test_client(), "081266660007", citizen.password).status_code == 303


@pytest.mark.parametrize("typed", ["", "021-5551234", "+1 202 555 0143", "<script>", "0812\x00"])
def test_a_correction_that_is_no_mobile_number_is_refused_at_the_field(make_app: Callable[..., Flask],
                                                                       typed: str) -> None:
    app = make_app()
    client, _ = registered(app, "0812-6666-0008")
    resp = post_on_page(client, "/register-account/correct-phone", {"number": typed})
    assert resp.status_code == 400 and 'id="number-error"' in resp.get_data(as_text=True)
    assert 'id="correct-phone" open' in resp.get_data(as_text=True)
    assert len(sms_outbox(app, 2, wait=0.3)) == 1


def test_a_duplicate_resends_and_corrects_nothing(make_app: Callable[..., Flask]) -> None:
    app = make_app()
    owner, _ = registered(app, "0812-6666-0009")
    code = code_in(sms_outbox(app, 1)[0]["text"])
    assert post_on_page(owner, "/register-account/verify-phone", {"code": code}).status_code == 303
    dup = app.test_client()
    _, resp = register(dup, email_address="", phone="0812-6666-0009")  # the owner's confirmed number
    assert resp.status_code == 303
    assert post_on_page(dup, "/register-account/resend-code").status_code == 303
    assert post_on_page(dup, "/register-account/correct-phone", {"number": "0812-6666-0011"}).status_code == 303
    time.sleep(0.3)
    assert [m["to"] for m in sms_outbox(app, 2, wait=0.3)] == ["+6281266660009"]
