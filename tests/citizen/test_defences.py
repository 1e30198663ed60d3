"""Registration defences (issue 16): per-address and global limits on registrations and recovery requests,
and the purge of accounts never confirmed (which frees their NIK, address and number)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from flask import Flask
from sqlalchemy import func, select, update

from idp.extensions import db
from idp.models import CitizenAccount, Person

from .helpers import forgot, make_nik, register, register_and_verify


def accounts(app: Flask) -> int:
    with app.app_context():
        return int(db.session.execute(select(func.count(CitizenAccount.id))).scalar_one())


def test_registrations_per_address_are_capped(make_app: Callable[..., Flask]) -> None:
    app = make_app(REGISTRATIONS_PER_IP=2)
    browser = app.test_client()
    answers = [register(browser)[1].status_code for _ in range(3)]
    assert answers == [303, 303, 429] and accounts(app) == 2
    limited = register(browser)[1]
    html = limited.get_data(as_text=True)
    assert 'id="register-limited"' in html and 'id="helpdesk"' in html
    other = app.test_client()
    other.environ_base["REMOTE_ADDR"] = "10.2.0.9"
    assert register(other)[1].status_code == 303


def test_registrations_in_all_are_capped(make_app: Callable[..., Flask]) -> None:
    app = make_app(REGISTRATIONS_PER_HOUR=10)
    answers = []
    for n in range(11):
        browser = app.test_client()
        browser.environ_base["REMOTE_ADDR"] = f"10.2.1.{n}"
        answers.append(register(browser)[1].status_code)
    assert answers == [303] * 10 + [429] and accounts(app) == 10


def test_recovery_requests_in_all_are_capped(make_app: Callable[..., Flask]) -> None:
    app = make_app(RECOVERY_REQUESTS_PER_HOUR=10)
    answers = []
    for n in range(11):
        browser = app.test_client()
        browser.environ_base["REMOTE_ADDR"] = f"10.2.2.{n}"
        answers.append(forgot(browser, make_nik()).status_code)
    assert answers == [303] * 10 + [429]


def test_never_confirmed_accounts_are_purged_and_their_nik_registers_again(make_app: Callable[..., Flask]) -> None:
    app = make_app()
    browser = app.test_client()
    stale, _ = register(browser)
    fresh, _ = register(browser)
    confirmed = register_and_verify(browser)
    with app.app_context():
        old = dt.datetime(2020, 1, 1)
        db.session.execute(update(CitizenAccount).where(CitizenAccount.email.in_([stale.email, confirmed.email]))
                           .values(created_at=old))
        db.session.commit()
    result = app.test_cli_runner().invoke(args=["citizens", "purge-unverified", "--days", "7"])
    assert result.exit_code == 0 and "deleted 1 " in result.output, result.output
    with app.app_context():
        left = set(db.session.execute(select(CitizenAccount.email)).scalars())
        assert left == {fresh.email, confirmed.email}
        assert db.session.execute(select(func.count(Person.id))).scalar_one() == 2
    again, resp = register(app.test_client(), nik=stale.nik, email_address=stale.email)
    assert resp.status_code == 303 and accounts(app) == 3
