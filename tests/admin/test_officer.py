"""The service-counter console (/officer, issue 15): officers find a citizen by exact NIK and verify it in person.

budi's directory group maps to ``officer`` here; siti is staff without it.  Officers need a second
factor by default (``IDP_MFA_REQUIRED_ROLES``), so the console is tested with the default rule too.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select, update

from idp import assurance
from idp.extensions import db
from idp.models import AuditEvent, CitizenAccount, StaffAccount
from idp.sources.ldap import get_connector
from tests.citizen.helpers import csrf, make_nik, register, register_and_verify, sign_in
from tests.ldap.conftest import ADMINS_GROUP, ldap_settings

from .conftest import BUDI, SITI, english, set_up_totp, staff


@pytest.fixture
def app(oauth_app: Callable[..., Flask], slapd_main: Any) -> Iterator[Flask]:
    made = oauth_app(**ldap_settings([slapd_main.url], LDAP_GROUP_ROLES=f"{ADMINS_GROUP}=officer",
                                     MFA_REQUIRED_ROLES=[]))
    yield made
    found = get_connector(made)
    if found is not None:
        found.close()


def officer(app: Flask) -> Any:
    browser = staff(app, BUDI)
    set_up_totp(browser)
    return browser


def _find(browser: Any, nik: str, reason: str = "antrian A-017") -> Any:
    page = browser.get("/officer")
    assert page.status_code == 200, page.status_code
    return browser.post("/officer", data={"csrf_token": csrf(page.data), "nik": nik, "reason": reason})


def _verify(browser: Any, page_html: bytes, public_id: str, *, checked: bool = True,
            reason: str = "KTP-el diperiksa di MPP Serang") -> Any:
    data = {"csrf_token": csrf(page_html), "public_id": public_id, "reason": reason}
    if checked:
        data["checked"] = "y"
    return browser.post("/officer/verify", data=data)


def _account(app: Flask, email: str) -> CitizenAccount:
    with app.app_context():
        account = db.session.execute(select(CitizenAccount).where(CitizenAccount.email == email)).scalar_one()
        db.session.expunge(account)
        return account


def test_only_officers_with_a_second_factor_get_in(app) -> None:
    assert english(app).get("/officer").status_code == 303  # nobody signed in: to the sign-in page
    assert 'id="officer-forbidden"' in staff(app, SITI).get("/officer").get_data(as_text=True)
    citizen_browser = english(app)
    citizen = register_and_verify(citizen_browser)
    sign_in(citizen_browser, citizen)
    assert citizen_browser.get("/officer").status_code == 403
    password_only = staff(app, BUDI)
    resp = password_only.get("/officer")
    assert resp.status_code == 403 and 'id="officer-needs-mfa"' in resp.get_data(as_text=True)
    assert officer(app).get("/officer").status_code == 200


def test_officers_must_use_a_second_factor_by_default(oauth_app, slapd_main) -> None:
    made = oauth_app(**{k: v for k, v in ldap_settings([slapd_main.url], LDAP_GROUP_ROLES=f"{ADMINS_GROUP}=officer")
                        .items() if k != "MFA_REQUIRED_ROLES"})
    try:
        assert made.extensions["idp"].config["MFA_REQUIRED_ROLES"] == ["admin", "officer"]
        resp = sign_in(english(made), BUDI[0], BUDI[1], kind="ldap")
        # The password alone does not finish the sign-in: the second factor (set up at the first one) follows.
        assert resp.status_code == 303 and "/two-step" in resp.headers["Location"], resp.headers["Location"]
    finally:
        found = get_connector(made)
        if found is not None:
            found.close()


def test_find_by_exact_nik_and_verify_in_person(app) -> None:
    citizen_browser = english(app)
    citizen = register_and_verify(citizen_browser)
    counter = officer(app)
    found = _find(counter, citizen.nik)
    html = found.get_data(as_text=True)
    assert found.status_code == 200 and citizen.name in html and citizen.nik not in html  # masked only
    account = _account(app, citizen.email)
    assert account.nik_masked in html and 'id="officer-verify"' in html
    # Without the KTP-el check confirmed, or without a reason: refused, nothing changes.
    assert _verify(counter, found.data, account.public_id, checked=False).status_code == 400
    assert _verify(counter, found.data, account.public_id, reason=" ").status_code == 400
    assert _account(app, citizen.email).assurance == assurance.CITIZEN
    done = _verify(counter, found.data, account.public_id)
    assert done.status_code == 303
    after = _account(app, citizen.email)
    assert after.assurance == assurance.CITIZEN_IN_PERSON and after.nik_verified_at is not None
    page = counter.get(done.headers["Location"]).get_data(as_text=True)
    assert "Verified in person at a service counter" in page and 'id="officer-verify"' not in page
    again = _verify(counter, found.data, account.public_id)
    assert again.status_code == 409
    with app.app_context():
        events = db.session.execute(select(AuditEvent).where(
            AuditEvent.event.in_(("officer.lookup", "nik.verified_in_person")))).scalars().all()
        details = [(e.event, e.person_id, e.detail) for e in events]
    assert {e for e, _, _ in details} == {"officer.lookup", "nik.verified_in_person"}
    for _event, person_id, detail in details:
        assert person_id == account.person_id and detail["officer"] and detail["reason"]
        assert detail["nik"] == account.nik_masked and len(detail["nik_hash"]) == 64
    assert citizen.nik not in json.dumps([d for _, _, d in details])
    # The citizen sees how and when the NIK was proven.
    sign_in(citizen_browser, citizen)
    own = citizen_browser.get("/account/nik").get_data(as_text=True)
    assert "Verified in person at a service counter" in own and 'id="nik-verified-at"' in own


@pytest.mark.parametrize(("nik", "reason", "status", "text"), [
    ("3603", "antrian 1", 400, "16 digits"),  # a prefix finds nothing (keyed hash: equality only)
    ("36030145019000011", "antrian 1", 400, "16 digits"),
    ("<script>alert(1)</script>", "antrian 1", 400, "16 digits"),
    (None, "", 400, "reason"),
    (None, "x" * 201, 400, "reason"),
    (None, "antrian\u202e1", 400, "reason"),
])
def test_bad_searches_are_refused(app, nik, reason, status, text) -> None:
    citizen = register_and_verify(english(app))
    resp = _find(officer(app), nik if nik is not None else citizen.nik, reason)
    html = resp.get_data(as_text=True)
    assert resp.status_code == status and text in html
    assert citizen.nik not in html  # never echoed


def test_unknown_nik_is_audited_too(app) -> None:
    resp = _find(officer(app), make_nik())
    assert resp.status_code == 200 and 'id="officer-not-found"' in resp.get_data(as_text=True)
    with app.app_context():
        event = db.session.execute(select(AuditEvent).where(AuditEvent.event == "officer.lookup")).scalar_one()
    assert event.outcome == "failure" and event.detail["reason"] == "antrian A-017"


def test_review_accounts_are_listed_and_resolved(app) -> None:
    born = dt.date(1990, 5, 12)
    nik = make_nik(birthdate=born)
    citizen = register_and_verify(english(app), nik=nik, birthdate=born)
    # Registration no longer makes review accounts (issue 16 takes the birth date from the NIK); accounts
    # made before it, whose typed data disagreed with the NIK, still are: one such account.
    with app.app_context():
        db.session.execute(update(CitizenAccount).where(CitizenAccount.email == citizen.email)
                           .values(assurance=assurance.CITIZEN_REVIEW, review_reason="birthdate"))
        db.session.commit()
    account = _account(app, citizen.email)
    assert account.assurance == assurance.CITIZEN_REVIEW
    counter = officer(app)
    home = counter.get("/officer").get_data(as_text=True)
    assert f"/officer/citizen/{account.public_id}" in home and account.nik_masked in home
    page = counter.get(f"/officer/citizen/{account.public_id}")
    assert 'id="citizen-review"' in page.get_data(as_text=True)
    assert _verify(counter, page.data, account.public_id).status_code == 303
    after = _account(app, citizen.email)
    assert after.assurance == assurance.CITIZEN_IN_PERSON and after.review_reason is None
    assert 'id="no-reviews"' in counter.get("/officer").get_data(as_text=True)


def test_an_officer_cannot_verify_their_own_nik(app) -> None:
    counter = officer(app)
    citizen = register_and_verify(english(app))
    account = _account(app, citizen.email)
    with app.app_context():
        budi = db.session.execute(select(StaffAccount).where(StaffAccount.username == BUDI[0])).scalar_one()
        db.session.execute(CitizenAccount.__table__.update().where(CitizenAccount.id == account.id)
                           .values(person_id=budi.person_id))
        db.session.commit()
    page = counter.get(f"/officer/citizen/{account.public_id}")
    resp = _verify(counter, page.data, account.public_id)
    assert resp.status_code == 409 and "your own NIK" in resp.get_data(as_text=True)


def test_unknown_public_ids_answer_404(app) -> None:
    counter = officer(app)
    assert counter.get("/officer/citizen/c_nothing").status_code == 404
    assert counter.get("/officer/citizen/" + "x" * 300).status_code == 404


def test_counter_moves_a_claimed_nik_to_the_person_with_the_card(app) -> None:
    nik = make_nik()
    born = dt.date(1990, 5, 12)
    squatter_browser = english(app)
    squatter = register_and_verify(squatter_browser, nik=nik, birthdate=born, name="Joko Penyerobot",
                                   password="teh manis hangat sore hari")
    assert sign_in(squatter_browser, squatter).status_code == 303
    owner = register_and_verify(english(app), nik=nik, birthdate=born, name="Budi Santoso")
    holder, claimant = _account(app, squatter.email), _account(app, owner.email)
    assert holder.nik_hash and claimant.nik_hash is None
    counter = officer(app)
    found = _find(counter, nik)
    html = found.get_data(as_text=True)
    assert found.status_code == 200 and "holds the NIK" in html and "claims the NIK" in html
    page = counter.get(f"/officer/citizen/{claimant.public_id}")
    assert 'id="citizen-claims"' in page.get_data(as_text=True)
    assert _verify(counter, page.data, claimant.public_id).status_code == 303
    winner, loser = _account(app, owner.email), _account(app, squatter.email)
    assert winner.nik_hash == holder.nik_hash and winner.assurance == assurance.CITIZEN_IN_PERSON
    assert loser.nik_hash is None and loser.review_reason == "nik_lost"
    assert squatter_browser.get("/account").status_code == 303  # signed out
    with app.app_context():
        lost = db.session.execute(select(AuditEvent).where(AuditEvent.event == "nik.dispute_lost")).scalar_one()
    assert lost.person_id == loser.person_id and lost.detail["via"] == "counter" and lost.detail["actor"]
    # The former holder, now a claimant, can contest at the counter, but not against an in-person proof.
    page = counter.get(f"/officer/citizen/{loser.public_id}")
    resp = _verify(counter, page.data, loser.public_id)
    assert resp.status_code == 409 and "Dukcapil" in resp.get_data(as_text=True)


def test_an_unconfirmed_registration_is_not_verified(app) -> None:
    citizen, resp = register(english(app))
    assert resp.status_code == 303
    account = _account(app, citizen.email)
    counter = officer(app)
    page = _find(counter, citizen.nik)
    resp = _verify(counter, page.data, account.public_id)
    assert resp.status_code == 400 and "not confirmed yet" in resp.get_data(as_text=True)
    assert _account(app, citizen.email).assurance == assurance.CITIZEN
