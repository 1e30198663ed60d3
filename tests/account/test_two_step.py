"""Two-step verification (issue 7): TOTP set-up with recovery codes, the code at sign-in, replay and
brute-force guards, step-up for ``acr_values``, and the administrator rule — against real Redis and the
database, through the pages."""

from __future__ import annotations

import re
import time
from typing import Any

import pyotp
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update

from idp import assurance
from idp.extensions import db
from idp.models import AuditEvent, RecoveryCode, TotpCredential

from ..citizen.helpers import csrf, sign_in
from . import conftest as account
from .conftest import english, post_page, signed_in_citizen


def set_up(browser: FlaskClient) -> tuple[str, list[str]]:
    """Turn two-step verification on through the pages; (secret, recovery codes)."""
    page = browser.get("/account/two-step/setup")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'src="data:image/svg+xml' in html
    secret = re.search(r'<code id="totp-secret">([A-Z2-7 ]+)</code>', html).group(1).replace(" ", "")
    resp = browser.post("/account/two-step/setup", data={"csrf_token": csrf(page.data),
                                                          "code": pyotp.TOTP(secret).now()})
    assert resp.status_code == 200, resp.get_data(as_text=True)[:2000]
    codes = re.findall(r"<li><code>([a-z2-9]{5}-[a-z2-9]{5})</code></li>", resp.get_data(as_text=True))
    assert len(codes) == 10
    return secret, codes


def code(secret: str, steps_ahead: int = 1) -> str:
    """A code for a later step than any used before (the replay guard refuses a step twice)."""
    return pyotp.TOTP(secret).at(time.time() + 30 * steps_ahead)


def second_step(browser: FlaskClient, typed: str) -> Any:
    page = browser.get("/login/two-step")
    assert page.status_code == 200, page.status_code
    return browser.post("/login/two-step", data={"csrf_token": csrf(page.data), "code": typed})


def session_of(app: Flask, browser: FlaskClient) -> Any:
    from idp.people import session as login_session

    with app.test_request_context():
        return login_session.read(browser.get_cookie("idp_session").value)


@pytest.fixture
def app(oauth_app: Any) -> Flask:
    return oauth_app()


def test_set_up_then_sign_in_with_the_code(app: Flask) -> None:
    browser, citizen = signed_in_citizen(app)
    assert b"Two-step verification is off" in browser.get("/account/two-step").data
    secret, _codes = set_up(browser)
    with app.app_context():
        row = db.session.execute(select(TotpCredential)).scalar_one()
        assert secret not in row.secret_enc  # encrypted at rest
        hashes = db.session.execute(select(RecoveryCode.code_hash)).scalars().all()
        assert len(hashes) == 10 and not any("-" in h for h in hashes)
    assert secret not in (browser.get_cookie("session").value if browser.get_cookie("session") else "")
    assert session_of(app, browser).acr == assurance.MFA  # proving the new authenticator counts

    fresh = english(app)
    resp = sign_in(fresh, citizen)
    assert resp.status_code == 303 and resp.headers["Location"].endswith("/login/two-step")
    assert fresh.get_cookie("idp_session") is None  # no session before the code
    wrong = second_step(fresh, "000000" if code(secret) != "000000" else "111111")
    assert wrong.status_code == 401 and b"That code is not right" in wrong.data
    right = second_step(fresh, code(secret))
    assert right.status_code == 303, right.get_data(as_text=True)[:1500]
    session = session_of(app, fresh)
    assert session.acr == assurance.MFA and {"pwd", "otp", "mfa"} <= set(session.amr)


def test_a_code_is_accepted_once(app: Flask) -> None:
    browser, citizen = signed_in_citizen(app)
    secret, _ = set_up(browser)
    once = code(secret)
    first, second = english(app), english(app)
    sign_in(first, citizen), sign_in(second, citizen)
    assert second_step(first, once).status_code == 303
    assert second_step(second, once).status_code == 401  # RFC 6238 5.2: never the same OTP twice


def test_recovery_codes_work_once_and_are_replaced(app: Flask) -> None:
    browser, citizen = signed_in_citizen(app)
    secret, codes = set_up(browser)
    fresh = english(app)
    sign_in(fresh, citizen)
    resp = second_step(fresh, codes[0].upper().replace("-", " "))
    assert resp.status_code == 303
    assert b"recovery code" in fresh.get(resp.headers["Location"], follow_redirects=True).data
    again = english(app)
    sign_in(again, citizen)
    assert second_step(again, codes[0]).status_code == 401
    assert b"9 unused recovery codes" in browser.get("/account/two-step").data
    # New codes need a current code; the old ones stop working.
    resp = post_page(browser, "/account/two-step", {"code": code(secret)}, action="/account/two-step/recovery-codes")
    assert resp.status_code == 200
    fresh_codes = re.findall(r"<li><code>([a-z2-9]{5}-[a-z2-9]{5})</code></li>", resp.get_data(as_text=True))
    assert len(fresh_codes) == 10 and not set(fresh_codes) & set(codes)
    third = english(app)
    sign_in(third, citizen)
    assert second_step(third, codes[1]).status_code == 401
    assert second_step(third, fresh_codes[0]).status_code == 303


def test_wrong_codes_lock_and_drop_the_password_proof(oauth_app: Any) -> None:
    app = oauth_app(LOGIN_MAX_FAILURES=3)
    browser, citizen = signed_in_citizen(app)
    secret, _ = set_up(browser)
    fresh = english(app)
    sign_in(fresh, citizen)
    statuses = [second_step(fresh, "123456" if code(secret) != "123456" else "654321").status_code
                for _ in range(2)]
    assert statuses == [401, 401]
    page = fresh.get("/login/two-step")
    locked = fresh.post("/login/two-step", data={"csrf_token": csrf(page.data), "code": "000001"})
    assert locked.status_code == 429 and b"paused" in locked.data
    # The parked password proof is gone: the attacker must start again from the password.
    assert fresh.get("/login/two-step").status_code == 303
    # Even the right code is refused during the lock.
    sign_in(fresh, citizen)
    assert second_step(fresh, code(secret, 2)).status_code in (401, 429)
    with app.app_context():
        failures = db.session.execute(select(AuditEvent).where(AuditEvent.event == "login.second_factor",
                                                               AuditEvent.outcome == "failure")).scalars().all()
        assert len(failures) >= 3


def test_no_parked_sign_in_goes_back_to_the_password(app: Flask) -> None:
    browser = english(app)
    resp = browser.get("/login/two-step")
    assert resp.status_code == 303 and "/login" in resp.headers["Location"]
    resp = browser.post("/login/two-step", data={"code": "123456"})  # no CSRF token either
    assert resp.status_code == 400 and b"Traceback" not in resp.data


def test_turn_off_needs_a_code(app: Flask) -> None:
    browser, citizen = signed_in_citizen(app)
    secret, _ = set_up(browser)
    refused = post_page(browser, "/account/two-step", {"code": "99999"}, action="/account/two-step/disable")
    assert refused.status_code == 400
    resp = post_page(browser, "/account/two-step", {"code": code(secret)}, action="/account/two-step/disable")
    assert resp.status_code == 303
    assert b"Two-step verification is off" in browser.get("/account/two-step", follow_redirects=True).data
    fresh = english(app)
    assert sign_in(fresh, citizen).headers["Location"].endswith("/")  # the password alone again


@pytest.mark.parametrize("path", ["/account/two-step", "/account/two-step/setup"])
def test_pages_need_a_sign_in(app: Flask, path: str) -> None:
    resp = english(app).get(path)
    assert resp.status_code == 303 and "/login" in resp.headers["Location"]


@pytest.mark.parametrize("typed", ["", " ", "12345", "1234567", "abcdef", "'; DROP TABLE x; --", "٠١٢٣٤٥",
                                   "x" * 5000, "\x00\x01"])
def test_hostile_codes(app: Flask, typed: str) -> None:
    browser, citizen = signed_in_citizen(app)
    set_up(browser)
    fresh = english(app)
    sign_in(fresh, citizen)
    resp = second_step(fresh, typed)
    assert resp.status_code in (400, 401) and b"Traceback" not in resp.data


def test_step_up_for_an_application_asking_for_mfa(app: Flask, make_rp: Any) -> None:
    browser, citizen = signed_in_citizen(app)
    secret, _ = set_up(browser)
    # A later sign-in with the password only would need the code too; so start from a password-only
    # session: turn the factor off, sign in, turn it back on.
    rp = make_rp(signed_in=False)
    rp.browser = english(app)
    sign_in(rp.browser, citizen)
    second_step(rp.browser, code(secret))
    with app.app_context():  # make the session password-only, as before the person enrolled
        from idp.people import session as login_session

        current = session_of(app, rp.browser)
        current.acr, current.amr = assurance.CITIZEN, ["pwd"]
        login_session.save(current)
        db.session.execute(update(TotpCredential).values(last_step=0))  # as if a minute had passed
        db.session.commit()
    resp = rp.authorize(acr_values=assurance.MFA)
    assert resp.status_code == 303 and resp.headers["Location"].startswith("/login/two-step")  # no password
    done = second_step(rp.browser, code(secret))
    assert done.status_code == 303 and "/authorize/resume" in done.headers["Location"]
    final = rp.browser.get(done.headers["Location"])
    assert final.status_code == 302 and "code=" in final.headers["Location"]


def test_step_up_without_an_authenticator_sets_one_up_first(app: Flask, make_rp: Any) -> None:
    rp = make_rp(signed_in=False)
    rp.browser, citizen = signed_in_citizen(app)
    resp = rp.authorize(acr_values=assurance.MFA)
    assert resp.headers["Location"].startswith("/login/two-step")
    setup = rp.browser.get(resp.headers["Location"])
    assert setup.status_code == 303 and "/account/two-step/setup" in setup.headers["Location"]
    page = rp.browser.get(setup.headers["Location"])
    html = page.get_data(as_text=True)
    assert "asks for two-step verification" in html
    secret = re.search(r'<code id="totp-secret">([A-Z2-7 ]+)</code>', html).group(1).replace(" ", "")
    req = re.search(r'name="req"[^>]*value="([^"]+)"', html) or re.search(r'value="([^"]+)"[^>]*name="req"', html)
    done = rp.browser.post("/account/two-step/setup", data={"csrf_token": csrf(page.data), "req": req.group(1),
                                                             "code": pyotp.TOTP(secret).now()})
    link = re.search(r'id="continue" href="([^"]+)"', done.get_data(as_text=True)).group(1)
    final = rp.browser.get(link.replace("&amp;", "&"))
    assert final.status_code == 302 and "code=" in final.headers["Location"], final.get_data(as_text=True)[:500]


def test_administrators_must_use_a_second_factor(ldap_app: Any, slapd_main: Any) -> None:
    app = ldap_app(MFA_REQUIRED_ROLES=["admin"])
    budi = english(app)
    resp = sign_in(budi, "budi", "Budi-Pass-2026", kind="ldap")
    assert resp.status_code == 303 and resp.headers["Location"].endswith("/login/two-step")
    # Not enrolled yet: set up first (no session until then), and the session starts with the MFA level.
    assert budi.get("/login/two-step").headers["Location"].endswith("/account/two-step/setup")
    assert budi.get_cookie("idp_session") is None
    page = budi.get("/account/two-step/setup")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "asks for two-step verification" in html
    secret = re.search(r'<code id="totp-secret">([A-Z2-7 ]+)</code>', html).group(1).replace(" ", "")
    done = budi.post("/account/two-step/setup", data={"csrf_token": csrf(page.data), "code": pyotp.TOTP(secret).now()})
    assert done.status_code == 200 and len(re.findall(r"<li><code>", done.get_data(as_text=True))) == 10
    assert 'id="continue"' in done.get_data(as_text=True)
    session = session_of(app, budi)
    assert session.acr == assurance.MFA and session.source == "ldap" and "otp" in session.amr
    # Without the rule (MFA_REQUIRED_ROLES empty), the same administrator signs in with the password.
    plain = english(ldap_app(MFA_REQUIRED_ROLES=[]))
    assert sign_in(plain, "budi", "Budi-Pass-2026", kind="ldap").headers["Location"].endswith("/")


_ = account
