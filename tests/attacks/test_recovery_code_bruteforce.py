"""Attack: guess or replay a forgotten-password code (issue 16).

The attacker asks for a code for the victim's NIK (which reaches the victim's mailbox, not the attacker)
and guesses: after ``RECOVERY_MAX_TRIES`` wrong codes the request is gone, even the right code no longer
works; asking again sends at most three codes an hour (so guesses stay few); the number of requests per
address is capped; a used code, or a code of an earlier request, does not work again."""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask

from tests.citizen.helpers import (
    PASSWORD,
    forgot,
    newest_recovery_code,
    recovery_codes,
    recovery_step,
    register_and_verify,
    reset_password,
    sign_in,
    wait_for_mails,
)
from tests.helpers import from_address as browser

NEW = "gado gado pakai kerupuk"


def test_wrong_codes_end_the_request(oauth_app: Callable[..., Flask]) -> None:
    app = oauth_app(RECOVERY_MAX_TRIES=3)
    victim = register_and_verify(browser(app, "10.6.0.1"))
    attacker = browser(app, "10.6.0.2")
    assert forgot(attacker, victim.nik).status_code == 303
    right = newest_recovery_code(app, victim.email)
    wrong = f"{(int(right) + 1) % 10 ** 8:08d}"
    answers = [recovery_step(attacker, "/forgot-password/code", {"code": wrong}).status_code for _ in range(3)]
    assert answers == [401, 401, 429]
    late = recovery_step(attacker, "/forgot-password/code", {"code": right})  # even the right one: too late
    assert late.status_code == 400 and 'id="recovery-failed"' in late.get_data(as_text=True)
    skipped = recovery_step(attacker, "/forgot-password/new", {"password": NEW, "password_confirm": NEW})
    assert skipped.status_code == 400
    assert sign_in(browser(app, "10.6.0.3"), victim).status_code == 303  # the password is unchanged


def test_at_most_three_codes_an_hour_per_account(oauth_app: Callable[..., Flask]) -> None:
    app = oauth_app()
    victim = register_and_verify(browser(app, "10.6.1.1"))
    for n in range(5):
        assert forgot(browser(app, f"10.6.1.{10 + n}"), victim.nik).status_code == 303
    wait_for_mails(app, victim.email, 5, timeout=1.5)
    assert len(recovery_codes(app, victim.email)) == 3


def test_requests_per_address_are_capped(oauth_app: Callable[..., Flask]) -> None:
    app = oauth_app(RECOVERY_REQUESTS_PER_IP=4)
    victim = register_and_verify(browser(app, "10.6.2.1"))
    attacker = browser(app, "10.6.2.2")
    answers = [forgot(attacker, victim.nik).status_code for _ in range(6)]
    assert answers == [303] * 4 + [429] * 2
    assert forgot(browser(app, "10.6.2.3"), victim.nik).status_code == 303  # others are not affected


def test_a_used_code_and_an_earlier_code_do_not_work(oauth_app: Callable[..., Flask]) -> None:
    app = oauth_app()
    victim = register_and_verify(browser(app, "10.6.3.1"))
    owner = browser(app, "10.6.3.2")
    assert forgot(owner, victim.nik).status_code == 303
    first = newest_recovery_code(app, victim.email, 1)
    assert reset_password(owner, app, victim, NEW).status_code == 303  # a second request, its own code
    second = newest_recovery_code(app, victim.email, 2)
    # Replaying the finished flow: the code and the password step are used up.
    assert recovery_step(owner, "/forgot-password/code", {"code": second}).status_code == 400
    assert recovery_step(owner, "/forgot-password/new", {"password": PASSWORD,
                                                         "password_confirm": PASSWORD}).status_code == 400
    # A new request does not accept the codes of earlier ones.
    assert forgot(owner, victim.nik).status_code == 303
    for old in (first, second):
        assert recovery_step(owner, "/forgot-password/code", {"code": old}).status_code == 401
    assert sign_in(browser(app, "10.6.3.3"), victim.nik, NEW).status_code == 303
