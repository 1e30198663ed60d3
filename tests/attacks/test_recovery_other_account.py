"""Attack: use the code of one's own account to reset somebody else's password (issue 16).

The attacker owns an account and receives its codes. Asking for the victim's reset and typing the own
code, or carrying the own verified flow over to the victim, never works: a code is bound to its flow
(and thereby to one account), and the flow lives only in the browser that asked for it."""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask

from tests.citizen.helpers import (
    forgot,
    newest_recovery_code,
    recovery_step,
    register_and_verify,
    sign_in,
)
from tests.helpers import from_address as browser

NEW = "pempek kapal selam enak"


def test_own_code_in_the_victims_flow(oauth_app: Callable[..., Flask]) -> None:
    app = oauth_app()
    victim = register_and_verify(browser(app, "10.4.0.1"))
    attacker = register_and_verify(browser(app, "10.4.0.2"))
    mine, theirs = browser(app, "10.4.0.3"), browser(app, "10.4.0.4")
    assert forgot(mine, attacker.nik).status_code == 303
    assert forgot(theirs, victim.nik).status_code == 303
    own_code = newest_recovery_code(app, attacker.email)
    assert recovery_step(theirs, "/forgot-password/code", {"code": own_code}).status_code == 401
    assert sign_in(browser(app, "10.4.0.5"), victim).status_code == 303


def test_own_flow_cookie_does_not_move_to_another_account(oauth_app: Callable[..., Flask]) -> None:
    """The attacker verifies their own flow, then asks for the victim's reset in the same browser: the
    new request replaces the verified one (it waits for the victim's code), nothing carries over."""
    app = oauth_app()
    victim = register_and_verify(browser(app, "10.4.1.1"))
    attacker = register_and_verify(browser(app, "10.4.1.2"))
    mine = browser(app, "10.4.1.3")
    assert forgot(mine, attacker.nik).status_code == 303
    own_code = newest_recovery_code(app, attacker.email)
    assert recovery_step(mine, "/forgot-password/code", {"code": own_code}).status_code == 303
    assert forgot(mine, victim.nik).status_code == 303
    assert recovery_step(mine, "/forgot-password/new", {"password": NEW, "password_confirm": NEW}).status_code == 409
    assert recovery_step(mine, "/forgot-password/code", {"code": own_code}).status_code == 401
    assert sign_in(browser(app, "10.4.1.4"), victim.nik, NEW).status_code == 401
    assert sign_in(browser(app, "10.4.1.5"), attacker.nik, NEW).status_code == 401
