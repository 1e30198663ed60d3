"""Registration defences (issue 16): per-address and global limits on registrations and recovery requests,
and the purge of accounts never confirmed (which frees their NIK, address and number)."""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
from collections.abc import Callable
from html import unescape

import altcha
from flask import Flask
from sqlalchemy import func, select, update

from idp.extensions import db
from idp.models import CitizenAccount, Person

from .helpers import csrf, forgot, make_nik, register, register_and_verify


def accounts(app: Flask) -> int:
    with app.app_context():
        return int(db.session.execute(select(func.count(CitizenAccount.id))).scalar_one())


def test_registrations_per_address_are_capped(make_app: Callable[..., Flask]) -> None:
    app = make_app(REGISTRATIONS_PER_IP=2, PROOF_OF_WORK="off")  # the work: the tests below
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
    app = make_app(REGISTRATIONS_PER_HOUR=10, PROOF_OF_WORK="off")
    answers = []
    for n in range(11):
        browser = app.test_client()
        browser.environ_base["REMOTE_ADDR"] = f"10.2.1.{n}"
        answers.append(register(browser)[1].status_code)
    assert answers == [303] * 10 + [429] and accounts(app) == 10


def test_recovery_requests_in_all_are_capped(make_app: Callable[..., Flask]) -> None:
    app = make_app(RECOVERY_REQUESTS_PER_HOUR=10, PROOF_OF_WORK="off")
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


# --- the proof of work (ALTCHA, self-hosted) -------------------------------------------------------
def solve(html: str) -> str:
    """Do the browser's work (pow.js) in Python: find the number, build the payload."""
    found = re.search(r'data-challenge="([^"]+)"', html)
    assert found, "no challenge on the page"
    challenge = json.loads(unescape(found.group(1)))
    solution = altcha.solve_challenge_v1(challenge["challenge"], challenge["salt"], challenge["algorithm"],
                                         challenge["maxnumber"])
    assert solution is not None
    return base64.b64encode(json.dumps({"algorithm": challenge["algorithm"], "challenge": challenge["challenge"],
                                        "number": solution.number, "salt": challenge["salt"],
                                        "signature": challenge["signature"]}).encode()).decode()


def test_the_forgot_form_asks_for_the_work_and_takes_each_answer_once(make_app: Callable[..., Flask]) -> None:
    app = make_app(PROOF_OF_WORK="always", PROOF_OF_WORK_MAX_NUMBER=2000)
    browser = app.test_client()
    page = browser.get("/forgot-password")
    html = page.get_data(as_text=True)
    assert "js/pow.js" in html
    token = csrf(page.data)
    without = browser.post("/forgot-password", data={"csrf_token": token, "identifier": make_nik()})
    assert without.status_code == 400 and 'id="altcha-error"' in without.get_data(as_text=True)
    forged = browser.post("/forgot-password", data={"csrf_token": token, "identifier": make_nik(),
                                                    "altcha": base64.b64encode(b'{"number": 1}').decode()})
    assert forged.status_code == 400
    answer = solve(html)
    assert browser.post("/forgot-password", data={"csrf_token": token, "identifier": make_nik(),
                                                  "altcha": answer}).status_code == 303
    replay = browser.post("/forgot-password", data={"csrf_token": token, "identifier": make_nik(), "altcha": answer})
    assert replay.status_code == 400


def test_registration_asks_for_the_work_near_the_limit(make_app: Callable[..., Flask]) -> None:
    app = make_app(REGISTRATIONS_PER_IP=4, PROOF_OF_WORK="auto", PROOF_OF_WORK_MAX_NUMBER=2000)
    browser = app.test_client()
    assert [register(browser)[1].status_code for _ in range(2)] == [303, 303]  # far from the limit: no work
    first = browser.get("/register-account")
    step2 = browser.post("/register-account", data={"csrf_token": csrf(first.data), "step": "nik", "nik": make_nik()})
    assert "data-challenge" in step2.get_data(as_text=True)  # half of the limit used
    assert register(browser)[1].status_code == 400  # no work done
    assert register(browser, altcha=solve(step2.get_data(as_text=True)))[1].status_code == 303
