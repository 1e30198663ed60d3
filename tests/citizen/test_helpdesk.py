"""The help desk (issue 16): the configured contact on every dead-end page and in the mails that tell
people to contact it; a sentence naming the province's help desk when none is configured."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from idp.config import ConfigError
from idp.extensions import db
from idp.models import CitizenAccount
from tests.helpers import code_in, sms_outbox

from .helpers import body, csrf, register, register_and_verify, sign_in, wait_for_mails

DESK = {"HELPDESK_NAME": "Layanan Aduan Diskominfo", "HELPDESK_PHONE": "0811-1234-5678 (WhatsApp)",
        "HELPDESK_HOURS": "Senin-Jumat 08.00-16.00 WIB", "HELPDESK_URL": "https://bantuan.example.org/sso"}


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    return make_app(LOGIN_MAX_FAILURES=3, **DESK)


def shows_desk(html: str) -> bool:
    return all(value in html for value in (DESK["HELPDESK_NAME"], DESK["HELPDESK_HOURS"], DESK["HELPDESK_URL"])) \
        and 'id="helpdesk-phone" href="tel:081112345678"' in html


def test_a_locked_sign_in_names_the_desk_page_and_mail(app: Flask) -> None:
    client = app.test_client()
    citizen = register_and_verify(client)
    answers = [sign_in(client, citizen.nik, f"wrong {n}") for n in range(3)]
    assert answers[-1].status_code == 429 and shows_desk(answers[-1].get_data(as_text=True))
    assert not shows_desk(answers[0].get_data(as_text=True))  # a wrong password is no dead end
    locked = [m for m in wait_for_mails(app, citizen.email, 2) if "paused" in str(m["Subject"])]
    text = body(locked[0])
    assert DESK["HELPDESK_NAME"] in text and DESK["HELPDESK_PHONE"] in text and "/forgot-password" in text


def test_a_disabled_account_names_the_desk(app: Flask) -> None:
    client = app.test_client()
    citizen = register_and_verify(client)
    with app.app_context():
        account = db.session.execute(select(CitizenAccount).where(CitizenAccount.email == citizen.email)).scalar_one()
        account.status = "disabled"
        db.session.commit()
    resp = sign_in(client, citizen)
    assert resp.status_code == 403 and shows_desk(resp.get_data(as_text=True))


def test_the_duplicate_mail_names_the_desk(app: Flask) -> None:
    client = app.test_client()
    citizen = register_and_verify(client)
    register(app.test_client(), nik=citizen.nik)
    mails = wait_for_mails(app, citizen.email, 2)
    assert DESK["HELPDESK_NAME"] in body(mails[-1])


def test_without_settings_the_province_desk_is_named(make_app: Callable[..., Flask]) -> None:
    app = make_app()
    client = app.test_client()
    html = client.get("/forgot-password/code").get_data(as_text=True)
    assert 'id="helpdesk"' in html and "help desk of the Province of Banten" in html


@pytest.mark.parametrize("url", ["javascript:alert(1)", "/relative", "ftp://x.example.org/"])
def test_the_desk_link_must_be_a_web_address(make_app: Callable[..., Flask], url: str) -> None:
    with pytest.raises(ConfigError, match="IDP_HELPDESK_URL"):
        make_app(HELPDESK_URL=url)


def sms_code(app: Flask, count: int) -> str:
    texts = sms_outbox(app, count)
    assert len(texts) == count, texts
    return code_in(texts[-1]["text"])


def confirm_number(client: FlaskClient, app: Flask, typed: str, count: int) -> Any:
    page = client.get("/account/phone")
    assert client.post("/account/phone", data={"csrf_token": csrf(page.data), "number": typed}).status_code == 303
    page = client.get("/account/phone")
    return client.post("/account/phone/verify", data={"csrf_token": csrf(page.data), "code": sms_code(app, count)})


def test_a_number_of_another_account_names_the_desk(app: Flask) -> None:
    """"This number belongs to another account ... contact the help desk": the page shows the contact."""
    holder, other = app.test_client(), app.test_client()
    for n, client in enumerate((holder, other)):
        assert sign_in(client, register_and_verify(client)).status_code == 303
        resp = confirm_number(client, app, "0812-7777-0001", n + 1)
        if client is holder:
            assert resp.status_code == 303
            assert not shows_desk(client.get("/account/phone").get_data(as_text=True))
    assert resp.status_code == 409 and shows_desk(resp.get_data(as_text=True))
    assert "another account" in resp.get_data(as_text=True)


def test_linking_a_disabled_account_names_the_desk(app: Flask) -> None:
    client, other = app.test_client(), app.test_client()
    assert sign_in(client, register_and_verify(client)).status_code == 303
    disabled = register_and_verify(other)
    with app.app_context():
        account = db.session.execute(select(CitizenAccount).where(CitizenAccount.email == disabled.email)).scalar_one()
        account.status = "disabled"
        db.session.commit()
    page = client.get("/account/link/citizen")
    resp = client.post("/account/link/citizen", data={"csrf_token": csrf(page.data), "identifier": disabled.nik,
                                                       "password": disabled.password})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 403 and "help desk" in html and shows_desk(html), (resp.status_code, html[:3000])
