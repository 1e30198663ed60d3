"""The forgotten password (issue 16): "Lupa kata sandi?" on the sign-in page, a mailed code, a new password
that ends every session and token, a notice mail; staff are sent to their directory's process; the help
desk on every dead end."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from idp.extensions import db
from idp.models import CitizenAccount, Client, Consent
from tests.citizen.helpers import (
    PASSWORD,
    csrf,
    forgot,
    mails_to,
    make_nik,
    newest_recovery_code,
    recovery_step,
    register,
    reset_password,
    sign_in,
    wait_for_mails,
)

from .conftest import RP, english, signed_in_citizen

NEW = "nasi uduk dan teh manis"
HELPDESK = {"HELPDESK_NAME": "Layanan Aduan Diskominfo", "HELPDESK_PHONE": "+62 811 1234 5678",
            "HELPDESK_HOURS": "Senin-Jumat 08.00-16.00 WIB", "HELPDESK_URL": "https://bantuan.example.org/sso"}


def test_the_sign_in_page_offers_it_in_indonesian_first(app: Flask) -> None:
    html = app.test_client().get("/login").get_data(as_text=True)
    assert 'id="forgot-password"' in html and "Lupa kata sandi?" in html
    assert 'href="/forgot-password"' in html


def test_reset_ends_sessions_and_tokens_and_mails_a_notice(app: Flask, make_rp: Callable[..., RP]) -> None:
    browser, citizen = signed_in_citizen(app)
    with app.app_context():
        account = db.session.execute(select(CitizenAccount).where(CitizenAccount.email == citizen.email)).scalar_one()
        person_id, sub = account.person_id, account.person.sub
    rp = make_rp(grant_types=["authorization_code", "refresh_token"])
    rp.person_id, rp.sub = person_id, sub
    rp.sign_in()
    with app.app_context():
        client = db.session.execute(select(Client).where(Client.client_id == rp.client_id)).scalar_one()
        db.session.add(Consent(person_id=person_id, client_id=client.id, scopes="openid"))
        db.session.commit()
    issued = rp.tokens(scope="openid offline_access")

    stranger = english(app, "10.9.0.1")
    done = reset_password(stranger, app, citizen, NEW)
    assert done.status_code == 303 and done.headers["Location"].endswith("/login")
    assert "Your password is changed" in stranger.get("/login").get_data(as_text=True)

    assert browser.get("/account").status_code == 303  # every session ended
    assert rp.client_post("/token", {"grant_type": "refresh_token",
                                     "refresh_token": issued["refresh_token"]}).status_code == 400
    assert sign_in(english(app, "10.9.0.2"), citizen.nik, PASSWORD).status_code == 401
    assert sign_in(english(app, "10.9.0.3"), citizen.nik, NEW).status_code == 303
    notices = [m for m in wait_for_mails(app, citizen.email, 3) if "was changed" in str(m["Subject"])]
    assert len(notices) == 1 and "/forgot-password" in notices[0].get_content()


def test_the_flow_returns_to_the_application(app: Flask) -> None:
    _, citizen = signed_in_citizen(app)
    stranger = english(app, "10.9.1.1")
    req = "abcdefghijklmnop"
    page = stranger.get(f"/forgot-password?req={req}")
    assert f'name="req" type="hidden" value="{req}"' in page.get_data(as_text=True)
    assert stranger.post("/forgot-password", data={"csrf_token": csrf(page.data), "identifier": citizen.email,
                                                   "req": req}).status_code == 303
    code = newest_recovery_code(app, citizen.email)
    assert recovery_step(stranger, "/forgot-password/code", {"code": code}).status_code == 303
    done = recovery_step(stranger, "/forgot-password/new", {"password": NEW, "password_confirm": NEW})
    assert done.status_code == 303 and done.headers["Location"].endswith(f"/login?req={req}")


def test_a_weak_password_is_refused_and_the_flow_goes_on(app: Flask) -> None:
    _, citizen = signed_in_citizen(app)
    stranger = english(app, "10.9.2.1")
    assert forgot(stranger, citizen.email).status_code == 303
    code = newest_recovery_code(app, citizen.email)
    assert recovery_step(stranger, "/forgot-password/code", {"code": code}).status_code == 303
    for weak in (citizen.nik, "short", "password123"):
        resp = recovery_step(stranger, "/forgot-password/new", {"password": weak, "password_confirm": weak})
        assert resp.status_code == 400
    mismatch = recovery_step(stranger, "/forgot-password/new", {"password": NEW, "password_confirm": NEW + "x"})
    assert mismatch.status_code == 400
    ok = recovery_step(stranger, "/forgot-password/new", {"password": NEW, "password_confirm": NEW})
    assert ok.status_code == 303
    assert sign_in(english(app, "10.9.2.2"), citizen.email, NEW).status_code == 303


def test_a_reset_lifts_the_sign_in_lock(oauth_app: Callable[..., Flask]) -> None:
    app = oauth_app(LOGIN_MAX_FAILURES=3)
    _, citizen = signed_in_citizen(app)
    attacker = english(app, "10.9.3.1")
    assert [sign_in(attacker, citizen.nik, "wrong guess " + str(i)).status_code for i in range(3)][-1] == 429
    assert reset_password(english(app, "10.9.3.2"), app, citizen, NEW).status_code == 303
    assert sign_in(english(app, "10.9.3.3"), citizen.nik, NEW).status_code == 303


@pytest.mark.parametrize("staff_url", ["", "https://sso-help.bantenprov.example/reset"])
def test_staff_are_sent_to_their_directory(oauth_app: Callable[..., Flask], staff_url: str) -> None:
    app = oauth_app(STAFF_PASSWORD_RESET_URL=staff_url)
    browser = english(app)
    page = browser.get("/forgot-password").get_data(as_text=True)
    assert 'id="staff-note"' in page
    assert (f'href="{staff_url}"' in page) == bool(staff_url)
    resp = forgot(browser, "budi.santoso")  # a staff user name: not a citizen identifier
    assert resp.status_code == 400 and "Staff of the provincial government" in resp.get_data(as_text=True)


HOSTILE = ["", " ", "x" * 300, "a\x00@example.org", "budi@", "3603\u202e0155", "1" * 17, "<script>@x"]


@pytest.mark.parametrize("typed", HOSTILE)
def test_hostile_identifiers_get_a_clear_answer(app: Flask, typed: str) -> None:
    resp = forgot(english(app), typed)
    assert resp.status_code in (303, 400)
    assert b"Traceback" not in resp.data


@pytest.mark.parametrize("typed", ["", "1" * 40, "abc", "\x00" * 8, "12345678" * 4 + "9"])
def test_hostile_codes_are_wrong_codes(app: Flask, typed: str) -> None:
    _, citizen = signed_in_citizen(app)
    stranger = english(app, "10.9.4.1")
    forgot(stranger, citizen.nik)
    resp = recovery_step(stranger, "/forgot-password/code", {"code": typed})
    assert resp.status_code in (400, 401)


def test_steps_without_a_flow_are_a_dead_end_with_the_help_desk(oauth_app: Callable[..., Flask]) -> None:
    app = oauth_app(**HELPDESK)
    browser = english(app)
    for path in ("/forgot-password/code", "/forgot-password/two-step", "/forgot-password/new"):
        html = browser.get(path).get_data(as_text=True)
        assert 'id="recovery-failed"' in html and 'id="restart"' in html
        assert "Layanan Aduan Diskominfo" in html and 'href="tel:+6281112345678"' in html
        assert "Senin-Jumat 08.00-16.00 WIB" in html and 'href="https://bantuan.example.org/sso"' in html


def test_the_notice_mail_names_the_help_desk(oauth_app: Callable[..., Flask]) -> None:
    app = oauth_app(**HELPDESK)
    _, citizen = signed_in_citizen(app)
    assert reset_password(english(app, "10.9.5.1"), app, citizen, NEW).status_code == 303
    deadline = time.monotonic() + 5  # the notice leaves from a thread (idp.people.notices)
    while not any("was changed" in str(m["Subject"]) for m in mails_to(app, citizen.email)):
        assert time.monotonic() < deadline, "no notice mail"
        time.sleep(0.05)
    notice = next(m for m in mails_to(app, citizen.email) if "was changed" in str(m["Subject"]))
    text: Any = notice.get_content()
    assert "Layanan Aduan Diskominfo" in text and "+62 811 1234 5678" in text


def test_unverified_accounts_get_no_code(app: Flask) -> None:
    browser = english(app)
    citizen, resp = register(browser, nik=make_nik())
    assert resp.status_code == 303
    assert forgot(english(app, "10.9.6.1"), citizen.nik).status_code == 303
    wait_for_mails(app, citizen.email, 2, timeout=1)
    assert all("reset code" not in str(m["Subject"]) for m in mails_to(app, citizen.email))
