"""Passkeys through HTTP: register, second factor, passwordless sign-in, removal, and hostile answers to
the ceremony endpoints (a software authenticator plays the browser, :mod:`tests.webauthn_soft`)."""

from __future__ import annotations

import json
import re
from typing import Any

import pyotp
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from idp import assurance
from idp.extensions import db
from idp.i18n import LANG_COOKIE
from idp.models import AuditEvent, CitizenAccount, Passkey, RecoveryCode, StaffAccount
from tests.webauthn_soft import SoftAuthenticator

from ..citizen.helpers import csrf, sign_in
from .conftest import english, signed_in_citizen

ISSUER = "http://localhost:5000"
RP_ID = "localhost"


@pytest.fixture
def app(oauth_app: Any) -> Flask:
    return oauth_app(ISSUER=ISSUER)


def session_of(app: Flask, browser: FlaskClient) -> Any:
    from idp.people import session as login_session

    with app.test_request_context():
        return login_session.read(browser.get_cookie("idp_session").value)


def options(browser: FlaskClient, page: str, url: str) -> tuple[str, dict[str, Any], str]:
    """GET ``page``, post its CSRF token to the options ``url``: (ceremony token, options, csrf)."""
    token = csrf(browser.get(page).data)
    resp = browser.post(url, data={"csrf_token": token})
    assert resp.status_code == 200, resp.data[:500]
    return resp.json["ceremony"], json.loads(resp.json["options"]), token


def add_passkey(browser: FlaskClient, authenticator: SoftAuthenticator, name: str = "HP saya") -> Any:
    ceremony, opts, token = options(browser, "/account/passkeys", "/account/passkeys/options")
    assert opts["rp"]["id"] == RP_ID and opts["authenticatorSelection"]["userVerification"] == "required"
    return browser.post("/account/passkeys", data={"csrf_token": token, "ceremony": ceremony, "name": name,
                                                   "credential": authenticator.create(opts)})


def passwordless(browser: FlaskClient, authenticator: SoftAuthenticator, **knobs: Any) -> Any:
    ceremony, opts, token = options(browser, "/login", "/login/passkey/options")
    return browser.post("/login/passkey", data={"csrf_token": token, "ceremony": ceremony,
                                                "credential": authenticator.get(opts, **knobs)})


@pytest.fixture
def enrolled(app: Flask) -> tuple[FlaskClient, Any, SoftAuthenticator]:
    browser, citizen = signed_in_citizen(app)
    authenticator = SoftAuthenticator(RP_ID, ISSUER)
    resp = add_passkey(browser, authenticator)
    assert resp.status_code == 200, resp.data[:2000]  # the first second factor: recovery codes, shown once
    assert b'id="recovery-codes"' in resp.data
    return browser, citizen, authenticator


def test_register_list_and_second_factor(app: Flask, enrolled: Any) -> None:
    browser, citizen, authenticator = enrolled
    listing = browser.get("/account/passkeys").get_data(as_text=True)
    assert "HP saya" in listing and 'id="passkey-list"' in listing
    with app.app_context():
        row = db.session.execute(select(Passkey)).scalar_one()
        assert row.sign_count == 0 and row.last_used_at is None
        assert db.session.execute(select(RecoveryCode)).scalars().all()
    # A new sign-in: the password is not enough any more; the passkey finishes it.
    fresh = english(app)
    resp = sign_in(fresh, citizen)
    assert resp.headers["Location"].startswith("/login/two-step")
    page = fresh.get("/login/two-step")
    assert b'id="passkey-step"' in page.data
    ceremony, opts, token = options(fresh, "/login/two-step", "/login/two-step/passkey/options")
    assert [c["id"] for c in opts["allowCredentials"]]
    done = fresh.post("/login/two-step/passkey", data={"csrf_token": token, "ceremony": ceremony,
                                                       "credential": authenticator.get(opts)})
    assert done.status_code == 303 and "/login" not in done.headers["Location"]
    current = session_of(app, fresh)
    assert current.acr == assurance.MFA
    assert {"pwd", "hwk", "user", "mfa"} <= set(current.amr)
    with app.app_context():
        assert db.session.execute(select(Passkey)).scalar_one().last_used_at is not None


def test_passwordless_sign_in(app: Flask, enrolled: Any) -> None:
    _, _, authenticator = enrolled
    fresh = english(app)
    page = fresh.get("/login").get_data(as_text=True)
    assert 'id="passkey-signin"' in page and "js/passkeys.js" in page
    resp = passwordless(fresh, authenticator)
    assert resp.status_code == 303 and "/login" not in resp.headers["Location"]
    current = session_of(app, fresh)
    assert current.acr == assurance.MFA and set(current.amr) == {"hwk", "user", "mfa"}
    assert current.source == "citizen"


def _refused(app: Flask, browser: FlaskClient, resp: Any) -> None:
    assert resp.status_code == 303 and resp.headers["Location"].startswith("/login")
    assert browser.get_cookie("idp_session") is None or session_of(app, browser) is None


@pytest.mark.parametrize("attack", ["bad_json", "not_object", "huge", "wrong_challenge", "wrong_rp_id",
                                    "wrong_origin", "no_user_verification", "unknown_credential",
                                    "no_ceremony", "foreign_ceremony"])
def test_passwordless_hostile_answers(app: Flask, enrolled: Any, attack: str) -> None:
    _, _, authenticator = enrolled
    attacker = english(app, ip="10.0.0.9")
    ceremony, opts, token = options(attacker, "/login", "/login/passkey/options")
    credential = authenticator.get(opts)
    if attack == "bad_json":
        credential = "{not json"
    elif attack == "not_object":
        credential = "[1, 2]"
    elif attack == "huge":
        credential = json.dumps({"id": "x" * 70000})
    elif attack == "wrong_challenge":
        credential = authenticator.get({**opts, "challenge": "AAAAAAAAAAAAAAAAAAAAAA"})
    elif attack == "wrong_rp_id":
        credential = authenticator.get(opts, rp_id="evil.example")
    elif attack == "wrong_origin":
        credential = authenticator.get(opts, origin="https://sso-banten.example")
    elif attack == "no_user_verification":
        credential = authenticator.get(opts, user_verified=False)
    elif attack == "unknown_credential":
        credential = SoftAuthenticator(RP_ID, ISSUER).get(opts)
    elif attack == "no_ceremony":
        ceremony = ""
    elif attack == "foreign_ceremony":
        other = english(app)  # a ceremony started by another browser
        ceremony, _, _ = options(other, "/login", "/login/passkey/options")
    resp = attacker.post("/login/passkey", data={"csrf_token": token, "ceremony": ceremony, "credential": credential})
    if attack == "huge":
        assert resp.status_code == 413  # the form size limit refuses it before any parsing
        return
    _refused(app, attacker, resp)


def test_replayed_answer_is_refused(app: Flask, enrolled: Any) -> None:
    _, _, authenticator = enrolled
    browser = english(app)
    ceremony, opts, token = options(browser, "/login", "/login/passkey/options")
    answer = authenticator.get(opts)
    first = browser.post("/login/passkey", data={"csrf_token": token, "ceremony": ceremony, "credential": answer})
    assert first.status_code == 303 and "/login" not in first.headers["Location"]
    replay = english(app)
    replay.get("/login")
    with browser.session_transaction() as copied:
        state = dict(copied)
    with replay.session_transaction() as target:
        target.update(state)  # even with the victim's cookie session, the challenge is spent
    again = replay.post("/login/passkey", data={"csrf_token": csrf(replay.get("/login").data),
                                                "ceremony": ceremony, "credential": answer})
    assert again.headers["Location"].startswith("/login")


def test_cloned_authenticator_counter_backwards(app: Flask, enrolled: Any) -> None:
    _, _, authenticator = enrolled
    assert passwordless(english(app), authenticator, counter=5).status_code == 303
    clone = english(app)
    resp = passwordless(clone, authenticator, counter=3)  # a copy of the key with an older counter
    _refused(app, clone, resp)
    with app.app_context():
        assert db.session.execute(select(Passkey)).scalar_one().sign_count == 5
        assert db.session.execute(select(AuditEvent).where(
            AuditEvent.event == "passkey.clone_suspected")).scalar_one().outcome == "failure"


def test_registration_hostile_answers(app: Flask) -> None:
    browser, _ = signed_in_citizen(app)
    authenticator = SoftAuthenticator(RP_ID, ISSUER)
    for knobs, name in (({"rp_id": "evil.example"}, "x"), ({"origin": "https://evil.example"}, "x"),
                        ({"user_verified": False}, "x"), ({}, "HP\u202esaya")):  # a right-to-left override
        ceremony, opts, token = options(browser, "/account/passkeys", "/account/passkeys/options")
        resp = browser.post("/account/passkeys", data={"csrf_token": token, "ceremony": ceremony, "name": name,
                                                       "credential": authenticator.create(opts, **knobs)})
        assert resp.status_code == 400, knobs
    ceremony, opts, token = options(browser, "/account/passkeys", "/account/passkeys/options")
    answer = authenticator.create(opts)
    assert browser.post("/account/passkeys", data={"csrf_token": token, "ceremony": ceremony, "name": "a",
                                                   "credential": answer}).status_code == 200
    # The same ceremony again (replay): spent.
    again = browser.post("/account/passkeys", data={"csrf_token": token, "ceremony": ceremony, "name": "b",
                                                    "credential": answer})
    assert again.status_code in (400, 403)
    with app.app_context():
        assert len(db.session.execute(select(Passkey)).scalars().all()) == 1


def test_remove_needs_a_fresh_sign_in_with_a_second_factor(app: Flask, enrolled: Any) -> None:
    browser, _, authenticator = enrolled
    with app.app_context():
        passkey_id = db.session.execute(select(Passkey.id)).scalar_one()
    # The session that added the first passkey proved no second factor: it cannot remove it.
    assert b"remove-passkey" not in browser.get("/account/passkeys").data
    token = csrf(browser.get("/account/password").data)  # posting anyway, as an attacker with the cookie would
    refused = browser.post(f"/account/passkeys/{passkey_id}/remove", data={"csrf_token": token})
    assert refused.status_code == 403 and b'id="passkey-reauth"' in refused.data
    fresh = english(app)
    assert passwordless(fresh, authenticator).status_code == 303
    token = csrf(fresh.get("/account/passkeys").data)
    done = fresh.post(f"/account/passkeys/{passkey_id}/remove", data={"csrf_token": token})
    assert done.status_code == 303
    with app.app_context():
        assert db.session.execute(select(Passkey)).first() is None
        assert db.session.execute(select(RecoveryCode)).first() is None  # no factor left to stand in for


def test_backup_eligibility_must_not_change(app: Flask) -> None:
    browser, _ = signed_in_citizen(app)
    authenticator = SoftAuthenticator(RP_ID, ISSUER)
    authenticator.backup = 0x08 | 0x10  # a synced passkey: eligible and backed up
    assert add_passkey(browser, authenticator).status_code == 200
    with app.app_context():
        row = db.session.execute(select(Passkey)).scalar_one()
        assert row.backup_eligible and row.backed_up
    refused = english(app)
    _refused(app, refused, passwordless(refused, authenticator, backup=0))  # BE flipped: not the same credential
    fine = english(app)
    assert passwordless(fine, authenticator, backup=0x08).headers["Location"] == "/"  # BS may change
    with app.app_context():
        assert not db.session.execute(select(Passkey)).scalar_one().backed_up


def test_passwordless_is_for_citizens_only(app: Flask, enrolled: Any) -> None:
    """A person with a directory account signs in with the directory password; the passkey is the second factor."""
    _, citizen, authenticator = enrolled
    with app.app_context():
        person_id = db.session.execute(select(CitizenAccount.person_id).where(
            CitizenAccount.email == citizen.email)).scalar_one()
        db.session.add(StaffAccount(person_id=person_id, entry_uuid="e-1", dn="uid=x,ou=people", username="x",
                                    status="active"))
        db.session.commit()
    browser = english(app)
    resp = passwordless(browser, authenticator)
    _refused(app, browser, resp)
    assert b"directory password" in browser.get("/login").data


def test_another_persons_passkey_is_no_second_factor(app: Flask, enrolled: Any) -> None:
    _, _, attackers_key = enrolled  # the attacker's own passkey, on the attacker's own account
    victim_browser, victim = signed_in_citizen(app)
    assert add_passkey(victim_browser, SoftAuthenticator(RP_ID, ISSUER)).status_code == 200
    attacker = english(app, ip="10.0.0.8")
    assert sign_in(attacker, victim).headers["Location"].startswith("/login/two-step")  # a stolen password
    ceremony, opts, token = options(attacker, "/login/two-step", "/login/two-step/passkey/options")
    resp = attacker.post("/login/two-step/passkey", data={"csrf_token": token, "ceremony": ceremony,
                                                          "credential": attackers_key.get(opts)})
    assert resp.headers["Location"].startswith("/login/two-step")
    assert attacker.get_cookie("idp_session") is None


def test_recovery_code_and_passkey_confirm_changes(app: Flask, enrolled: Any) -> None:
    """A passkey-only person: a recovery code stands in for a lost passkey; adding an authenticator app or
    new recovery codes needs a current second factor, which the passkey provides."""
    browser, citizen, authenticator = enrolled
    # Adding a TOTP app without a current factor: refused (a stolen cookie must not add the thief's app).
    page = browser.get("/account/two-step/setup")
    secret = re.search(r'<code id="totp-secret">([A-Z2-7 ]+)</code>', page.get_data(as_text=True)).group(1)
    secret = secret.replace(" ", "")
    refused = browser.post("/account/two-step/setup", data={"csrf_token": csrf(page.data),
                                                            "code": pyotp.TOTP(secret).now()})
    assert refused.status_code == 400 and b'id="replacing"' in refused.data
    # New recovery codes, confirmed with the passkey.
    ceremony, opts, token = options(browser, "/account/two-step", "/account/passkeys/confirm/options")
    made = browser.post("/account/two-step/recovery-codes", data={"csrf_token": token, "ceremony": ceremony,
                                                                  "credential": authenticator.get(opts)})
    assert made.status_code == 200, made.data[:2000]
    fresh_codes = re.findall(r"<li><code>([a-z2-9]{5}-[a-z2-9]{5})</code></li>", made.get_data(as_text=True))
    assert len(fresh_codes) == 10
    # The passkey is lost: a recovery code finishes the password sign-in.
    lost = english(app, ip="10.0.0.5")
    assert sign_in(lost, citizen).headers["Location"].startswith("/login/two-step")
    step = lost.get("/login/two-step")
    done = lost.post("/login/two-step", data={"csrf_token": csrf(step.data), "code": fresh_codes[0]})
    assert done.status_code == 303 and "/login" not in done.headers["Location"]
    assert session_of(app, lost).acr == assurance.MFA


def test_pages_are_indonesian_first(app: Flask, enrolled: Any) -> None:
    browser, _, _ = enrolled
    browser.delete_cookie(LANG_COOKIE)  # forget the choice of English: the default again
    assert "Terakhir dipakai" in browser.get("/account/passkeys").get_data(as_text=True)
    login = app.test_client().get("/login").get_data(as_text=True)
    assert "Masuk dengan passkey" in login
