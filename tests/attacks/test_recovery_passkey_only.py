"""Attack: take over an account protected by a second factor of any kind with only its mailbox (issue 16).

The attacker reads the victim's mail, so the forgotten-password code is theirs.  Whatever second factor
the victim has (an authenticator app, a passkey, both), the reset then asks for it: the password page
refuses a flow that skipped the step, and the attacker's guesses (a made-up authenticator code, a made-up
recovery code, the attacker's own passkey on the attacker's own account) are refused.  The owner gets in
with what they have (the passkey itself, or a recovery code); a person with nothing left to prove the
second factor with is sent to the help desk, never let through on the mailed code alone."""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import delete, select

from idp.extensions import db
from idp.models import CitizenAccount, Passkey, RecoveryCode
from tests.account.test_passkeys import ISSUER, RP_ID, add_passkey
from tests.account.test_two_step import code as later_code
from tests.account.test_two_step import set_up
from tests.citizen.helpers import (
    Citizen,
    csrf,
    forgot,
    newest_recovery_code,
    recovery_codes,
    recovery_step,
    register_and_verify,
    sign_in,
)
from tests.helpers import english
from tests.webauthn_soft import SoftAuthenticator

NEW = "pecel lele sambal terasi"
KINDS = ["totp", "passkey", "totp+passkey"]


def citizen_with(app: Flask, kinds: str, ip: str) -> tuple[Citizen, dict[str, Any]]:
    """A registered, signed-in citizen with the second factors named in ``kinds``; what they hold."""
    owner = english(app, ip)
    citizen = register_and_verify(owner)
    assert sign_in(owner, citizen).status_code == 303
    held: dict[str, Any] = {"codes": []}
    if "totp" in kinds:
        held["secret"], held["codes"] = set_up(owner)
    if "passkey" in kinds:
        held["passkey"] = SoftAuthenticator(RP_ID, ISSUER)
        added = add_passkey(owner, held["passkey"])
        assert added.status_code in (200, 303), added.data[:2000]
        if added.status_code == 200:  # the first second factor: recovery codes, shown once
            held["codes"] = _codes(added.get_data(as_text=True))
    assert held["codes"]
    return citizen, held


def _codes(html: str) -> list[str]:
    return re.findall(r"<li><code>([a-z2-9]{5}-[a-z2-9]{5})</code></li>", html)


def mailbox_code(app: Flask, browser: FlaskClient, victim: Citizen) -> None:
    """Ask for a code and type it from the victim's mailbox: the flow then waits for the second factor."""
    before = len(recovery_codes(app, victim.email))
    assert forgot(browser, victim.nik).status_code == 303
    typed = newest_recovery_code(app, victim.email, before + 1)
    resp = recovery_step(browser, "/forgot-password/code", {"code": typed})
    assert resp.status_code == 303 and resp.headers["Location"].endswith("/forgot-password/two-step"), \
        resp.headers.get("Location")


def passkey_answer(browser: FlaskClient, authenticator: SoftAuthenticator) -> Any:
    """Run the recovery step's passkey ceremony with ``authenticator``; the final response (the refused
    start of the ceremony when the account has no passkey)."""
    token = csrf(browser.get("/forgot-password/two-step").data)
    started = browser.post("/forgot-password/two-step/passkey/options", data={"csrf_token": token})
    if started.status_code != 200:
        return started
    options = json.loads(started.json["options"])
    return browser.post("/forgot-password/two-step/passkey",
                        data={"csrf_token": token, "ceremony": started.json["ceremony"],
                              "credential": authenticator.get(options)})


@pytest.fixture
def app(oauth_app: Callable[..., Flask]) -> Flask:
    return oauth_app(ISSUER=ISSUER)  # a host name: passkeys work


@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("guess", ["six digits", "made-up recovery code", "own passkey", "skip the step"])
def test_the_mailbox_alone_takes_over_nothing(app: Flask, kinds: str, guess: str) -> None:
    victim, _ = citizen_with(app, kinds, "10.6.0.1")
    _, attacker_held = citizen_with(app, "passkey", "10.6.0.2")  # the attacker's own account and passkey
    attacker = english(app, "10.6.1.1")
    mailbox_code(app, attacker, victim)
    page = attacker.get("/forgot-password/two-step").get_data(as_text=True)
    assert 'id="helpdesk"' in page
    if guess == "six digits":
        resp = recovery_step(attacker, "/forgot-password/two-step", {"code": "123456"})
    elif guess == "made-up recovery code":
        resp = recovery_step(attacker, "/forgot-password/two-step", {"code": "abcde-fghjk"})
    elif guess == "own passkey":
        resp = passkey_answer(attacker, attacker_held["passkey"])
    else:
        resp = recovery_step(attacker, "/forgot-password/new", {"password": NEW, "password_confirm": NEW})
    assert resp.status_code in (400, 401, 409), resp.status_code  # 400: no passkey to start a ceremony for
    assert recovery_step(attacker, "/forgot-password/new",
                         {"password": NEW, "password_confirm": NEW}).status_code == 409
    later = english(app, "10.6.2.1")
    assert sign_in(later, victim.nik, NEW).status_code == 401  # the password is not the attacker's
    assert sign_in(later, victim).status_code == 303  # the owner's still works (then the second factor)


@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("proof", ["recovery code", "own factor"])
def test_the_owner_gets_in_with_what_they_have(app: Flask, kinds: str, proof: str) -> None:
    owner, held = citizen_with(app, kinds, "10.6.3.1")
    browser = english(app, "10.6.3.2")
    mailbox_code(app, browser, owner)
    if proof == "recovery code":
        done = recovery_step(browser, "/forgot-password/two-step", {"code": held["codes"][0]})
    elif "passkey" in kinds:
        assert 'id="recovery-passkey"' in browser.get("/forgot-password/two-step").get_data(as_text=True)
        done = passkey_answer(browser, held["passkey"])
    else:
        done = recovery_step(browser, "/forgot-password/two-step", {"code": later_code(held["secret"])})
    assert done.status_code == 303 and done.headers["Location"].endswith("/forgot-password/new"), done.data[:1000]
    assert recovery_step(browser, "/forgot-password/new", {"password": NEW, "password_confirm": NEW}).status_code == 303
    assert sign_in(english(app, "10.6.3.3"), owner.nik, NEW).status_code == 303


def test_a_replayed_passkey_answer_proves_nothing(app: Flask) -> None:
    owner, held = citizen_with(app, "passkey", "10.6.4.1")
    first = english(app, "10.6.4.2")
    mailbox_code(app, first, owner)
    token = csrf(first.get("/forgot-password/two-step").data)
    started = first.post("/forgot-password/two-step/passkey/options", data={"csrf_token": token})
    answer = held["passkey"].get(json.loads(started.json["options"]))
    form = {"csrf_token": token, "ceremony": started.json["ceremony"], "credential": answer}
    assert first.post("/forgot-password/two-step/passkey", data=form).status_code == 303
    # An attacker who captured the answer replays it in a flow of their own: the ceremony is spent.
    attacker = english(app, "10.6.4.3")
    mailbox_code(app, attacker, owner)
    token = csrf(attacker.get("/forgot-password/two-step").data)
    replayed = attacker.post("/forgot-password/two-step/passkey", data={**form, "csrf_token": token})
    assert replayed.status_code == 401
    assert recovery_step(attacker, "/forgot-password/new",
                         {"password": NEW, "password_confirm": NEW}).status_code == 409


def test_nothing_left_to_prove_leads_to_the_help_desk(oauth_app: Callable[..., Flask]) -> None:
    """Passkeys are off here (an IP-address issuer), and the person's recovery codes are spent: the page
    names the help desk and offers no way on; the mailed code alone changes nothing."""
    app = oauth_app(HELPDESK_NAME="Layanan Aduan Diskominfo", HELPDESK_PHONE="+62 811 1234 5678")
    owner = english(app, "10.6.5.1")
    victim = register_and_verify(owner)
    with app.app_context():
        person_id = db.session.execute(select(CitizenAccount.person_id).where(
            CitizenAccount.email == victim.email)).scalar_one()
        db.session.add(Passkey(person_id=person_id, credential_id=secrets.token_urlsafe(16), public_key=b"k",
                               user_handle=secrets.token_urlsafe(16), name="HP lama", sign_count=0,
                               backup_eligible=False, backed_up=False))
        db.session.execute(delete(RecoveryCode).where(RecoveryCode.person_id == person_id))
        db.session.commit()
    attacker = english(app, "10.6.5.2")
    mailbox_code(app, attacker, victim)
    page = attacker.get("/forgot-password/two-step").get_data(as_text=True)
    assert 'id="no-second-factor"' in page and "Layanan Aduan Diskominfo" in page and "+62 811 1234 5678" in page
    assert 'id="check-second"' not in page and 'id="recovery-passkey"' not in page
    skipped = recovery_step(attacker, "/forgot-password/new", {"password": NEW, "password_confirm": NEW})
    assert skipped.status_code == 409
    assert sign_in(english(app, "10.6.5.3"), victim.nik, NEW).status_code == 401
