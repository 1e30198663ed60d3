"""Attack: reset the password of an account with two-step verification using only its mailbox (issue 16).

An attacker who reads the victim's mail has the code; the reset still asks for the authenticator's code
or a recovery code, the password page refuses a flow that skipped that step, and wrong codes count on
the sign-in's code counters (locking drops the flow)."""

from __future__ import annotations

from collections.abc import Callable

import pyotp
from flask import Flask
from flask.testing import FlaskClient

from tests.account.test_two_step import code as later_code
from tests.account.test_two_step import set_up
from tests.citizen.helpers import (
    forgot,
    newest_recovery_code,
    recovery_codes,
    recovery_step,
    register_and_verify,
    sign_in,
)
from tests.helpers import english as browser

NEW = "soto betawi di warung"


def victim_with_two_step(app: Flask) -> tuple[object, str, list[str]]:
    owner = browser(app, "10.5.0.1")
    victim = register_and_verify(owner)
    assert sign_in(owner, victim).status_code == 303
    secret, codes = set_up(owner)
    return victim, secret, codes


def mailbox_code(app: Flask, attacker: FlaskClient, victim: object) -> None:
    """The attacker asks for a code and reads it from the victim's mailbox."""
    before = len(recovery_codes(app, victim.email))  # type: ignore[attr-defined]
    assert forgot(attacker, victim.nik).status_code == 303  # type: ignore[attr-defined]
    typed = newest_recovery_code(app, victim.email, before + 1)  # type: ignore[attr-defined]
    resp = recovery_step(attacker, "/forgot-password/code", {"code": typed})
    assert resp.status_code == 303 and resp.headers["Location"].endswith("/forgot-password/two-step")


def test_the_password_step_cannot_be_reached_without_the_second_factor(oauth_app: Callable[..., Flask]) -> None:
    app = oauth_app()
    victim, _, _ = victim_with_two_step(app)
    attacker = browser(app, "10.5.1.1")
    mailbox_code(app, attacker, victim)
    skipped = recovery_step(attacker, "/forgot-password/new", {"password": NEW, "password_confirm": NEW})
    assert skipped.status_code == 409
    assert sign_in(browser(app, "10.5.1.2"), victim.nik, NEW).status_code == 401  # type: ignore[attr-defined]


def test_wrong_second_factor_codes_lock_and_drop_the_flow(oauth_app: Callable[..., Flask]) -> None:
    app = oauth_app(LOGIN_MAX_FAILURES=3)
    victim, secret, _ = victim_with_two_step(app)
    attacker = browser(app, "10.5.2.1")
    mailbox_code(app, attacker, victim)
    wrong = f"{(int(pyotp.TOTP(secret).now()) + 500000) % 10 ** 6:06d}"
    answers = [recovery_step(attacker, "/forgot-password/two-step", {"code": wrong}).status_code for _ in range(3)]
    assert answers == [401, 401, 429]
    # The flow is gone: even the right code now leads nowhere.
    late = recovery_step(attacker, "/forgot-password/two-step", {"code": later_code(secret)})
    assert late.status_code == 400 and 'id="recovery-failed"' in late.get_data(as_text=True)


def test_the_owner_gets_in_with_the_app_or_a_recovery_code(oauth_app: Callable[..., Flask]) -> None:
    app = oauth_app()
    victim, secret, codes = victim_with_two_step(app)
    for n, second in enumerate((later_code(secret), codes[0])):
        person = browser(app, f"10.5.3.{n}")
        mailbox_code(app, person, victim)
        done = recovery_step(person, "/forgot-password/two-step", {"code": second})
        assert done.status_code == 303 and done.headers["Location"].endswith("/forgot-password/new")
        password = f"{NEW} {n}"
        assert recovery_step(person, "/forgot-password/new", {"password": password,
                                                              "password_confirm": password}).status_code == 303
    # The recovery code was spent by the reset.
    again = browser(app, "10.5.3.9")
    mailbox_code(app, again, victim)
    assert recovery_step(again, "/forgot-password/two-step", {"code": codes[0]}).status_code == 401
