"""The link offer after a staff sign-in: by the directory's NIK, or by the NIP's birth date and sex digit.

Real slapd, PostgreSQL and Redis, through the HTTP pages.  The offer is only a question ("you may also
have a citizen account"): it never names an account, says the same words whichever hint matched, and
the link still needs the citizen account's NIK and password proved in the same session.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from idp.extensions import db
from idp.models import AuditEvent, CitizenAccount
from tests.citizen.helpers import Citizen, make_nik, register_and_verify
from tests.helpers import database_log

from .conftest import BUDI, SITI, unique
from .slapd import PEOPLE, add_user, admin_do
from .test_linking import BUDI_BIRTH, BUDI_NIK, citizen_person, link_post, staff_person
from .test_login import english, post_login

BIRTH = dt.date(1979, 8, 21)
NIP_WOMAN = "197908212005012003"  # born 1979-08-21, appointed 2005-01, sex 2 (woman), serial 003
PASSWORD = "Pegawai-Pass-2026"
OFFER_TEXT = b"You may also have a citizen account"


@pytest.fixture
def app(ldap_app: Any) -> Flask:
    return ldap_app()


def new_staff(slapd: Any, nip: str | None, nik: str | None = None) -> str:
    """A directory entry of this test only (with the NIP in employeeNumber, and a NIK when given)."""
    uid = unique("peg")
    if nik is None:
        add_user(slapd, uid, PASSWORD, **({"employeeNumber": nip} if nip else {}))
        return uid
    dn = f"uid={uid},ou=diskominfo,{PEOPLE}"
    values: dict[str, Any] = {"uid": uid, "cn": uid.title(), "sn": uid, "userPassword": PASSWORD, "nik": nik}
    if nip:
        values["employeeNumber"] = nip
    admin_do(slapd, "add", dn, ["inetOrgPerson", "bantenprovPerson"], values)
    return uid


def citizen(app: Flask, ip: str, *, birthdate: dt.date, female: bool, typed: dt.date | None = None) -> Citizen:
    """A registered, verified citizen whose NIK encodes ``birthdate`` and sex (``typed``: the date they typed)."""
    return register_and_verify(english(app, ip), nik=make_nik(birthdate=birthdate, female=female),
                               birthdate=typed or birthdate)


def staff_login(app: Flask, uid: str, password: str = PASSWORD) -> tuple[FlaskClient, Any]:
    browser = english(app)
    resp = post_login(browser, uid, password)
    assert resp.status_code == 303, resp.data[:2000]
    return browser, resp


def offered(resp: Any) -> bool:
    return "/account/link/citizen" in resp.headers["Location"] and "offer=1" in resp.headers["Location"]


def test_offer_by_nik(app: Flask) -> None:
    register_and_verify(english(app, "10.1.0.1"), nik=BUDI_NIK, birthdate=BUDI_BIRTH)
    browser, login = staff_login(app, *BUDI)
    assert offered(login)
    page = browser.get(login.headers["Location"])
    assert page.status_code == 200 and b'id="link-offer"' in page.data and OFFER_TEXT in page.data


def test_offer_by_nip_when_the_entry_has_no_nik(app: Flask, slapd_main: Any) -> None:
    uid = new_staff(slapd_main, NIP_WOMAN)
    somebody = citizen(app, "10.1.0.2", birthdate=BIRTH, female=True)
    browser, login = staff_login(app, uid)
    assert offered(login)
    page = browser.get(login.headers["Location"])
    html = page.get_data(as_text=True)
    # The same words as for a NIK match; nothing names the account.
    assert page.status_code == 200 and 'id="link-offer"' in html and OFFER_TEXT.decode() in html
    assert somebody.email not in html and somebody.nik not in html and somebody.name not in html
    # Only proof links: the wrong password is refused and links nothing ...
    refused = link_post(browser, "citizen", somebody.nik, "not-the-password", offer="1")
    assert refused.status_code == 401
    assert staff_person(app, uid).sub != citizen_person(app, somebody.email).sub
    # ... nor does the offer itself, or the NIK alone.
    assert link_post(browser, "citizen", somebody.nik, "", offer="1").status_code in (400, 401)
    assert staff_person(app, uid).sub != citizen_person(app, somebody.email).sub
    # The right NIK and password do.
    done = link_post(browser, "citizen", somebody.nik, somebody.password, offer="1")
    assert done.status_code == 303
    assert staff_person(app, uid).sub == citizen_person(app, somebody.email).sub
    with app.app_context():
        assert not db.session.execute(select(AuditEvent).where(AuditEvent.event == "link.data_mismatch")).first()
    # Linked now: the next staff sign-in offers nothing.
    _, again = staff_login(app, uid)
    assert not offered(again)


@pytest.mark.parametrize(("birthdate", "female"), [
    (BIRTH, False),  # same birth date, other sex
    (dt.date(1979, 8, 22), True),  # same sex, another day
    (dt.date(1980, 8, 21), True),  # same day and month, another year
])
def test_no_offer_when_the_nip_agrees_with_nobody(app: Flask, slapd_main: Any, birthdate: dt.date,
                                                  female: bool) -> None:
    uid = new_staff(slapd_main, NIP_WOMAN)
    citizen(app, "10.1.0.3", birthdate=birthdate, female=female)
    _, login = staff_login(app, uid)
    assert not offered(login)


def test_no_offer_without_a_usable_nip_or_nik(app: Flask, slapd_main: Any) -> None:
    citizen(app, "10.1.0.4", birthdate=BIRTH, female=True)
    for nip in (None, "12345", "197908212005013003"):  # none, malformed, sex digit 3
        _, login = staff_login(app, new_staff(slapd_main, nip))
        assert not offered(login), nip


def test_a_nik_that_matches_nothing_is_not_overruled_by_the_nip(app: Flask, slapd_main: Any) -> None:
    citizen(app, "10.1.0.5", birthdate=BIRTH, female=True)
    uid = new_staff(slapd_main, NIP_WOMAN, nik=make_nik(birthdate=BIRTH, female=True))
    _, login = staff_login(app, uid)
    assert not offered(login)


def test_no_offer_when_the_only_candidate_is_already_linked_to_staff(app: Flask, slapd_main: Any) -> None:
    # Siti (NIP 19900220..., a woman) links a citizen account born that day; a second directory entry
    # with the same NIP digits is then offered nothing: the one candidate already has a staff account.
    browser = english(app, "10.1.0.6")
    mine = register_and_verify(browser, nik=make_nik(birthdate=dt.date(1990, 2, 20), female=True),
                               birthdate=dt.date(1990, 2, 20))
    assert post_login(browser, mine.nik, mine.password, kind="citizen").status_code == 303
    assert link_post(browser, "ldap", *SITI).status_code == 303
    uid = new_staff(slapd_main, "199002202015032009")
    _, login = staff_login(app, uid)
    assert not offered(login)
    # Siti herself is linked: no offer either.
    _, siti = staff_login(app, *SITI)
    assert not offered(siti)


def test_no_offer_when_the_nik_account_is_the_persons_own(app: Flask) -> None:
    browser = english(app, "10.1.0.7")
    mine = register_and_verify(browser, nik=BUDI_NIK, birthdate=BUDI_BIRTH)
    assert post_login(browser, mine.nik, mine.password, kind="citizen").status_code == 303
    assert link_post(browser, "ldap", *BUDI).status_code == 303
    _, login = staff_login(app, *BUDI)
    assert not offered(login)


def test_a_contradicting_citizen_account_still_links_and_is_audited(app: Flask, slapd_main: Any) -> None:
    uid = new_staff(slapd_main, NIP_WOMAN)
    other = citizen(app, "10.1.0.8", birthdate=dt.date(1988, 1, 2), female=False)
    browser, login = staff_login(app, uid)
    assert not offered(login)  # nothing agrees; the person links on their own initiative
    done = link_post(browser, "citizen", other.nik, other.password)
    assert done.status_code == 303  # both credentials proved: that is what counts
    person = staff_person(app, uid)
    assert person.sub == citizen_person(app, other.email).sub
    with app.app_context():
        event = db.session.execute(select(AuditEvent).where(AuditEvent.event == "link.data_mismatch")).scalar_one()
        assert event.person_id == person.id and event.detail["fields"] == ["birthdate", "gender"]
        assert other.nik not in str(event.detail) and NIP_WOMAN not in str(event.detail)


def test_the_mismatch_is_audited_in_the_other_direction_too(app: Flask, slapd_main: Any) -> None:
    uid = new_staff(slapd_main, NIP_WOMAN)
    browser = english(app, "10.1.0.9")
    mine = register_and_verify(browser, nik=make_nik(birthdate=BIRTH, female=True))
    with app.app_context():  # a typed birth date that differs from the NIK's (possible before issue 16)
        account = db.session.execute(select(CitizenAccount).where(CitizenAccount.email == mine.email)).scalar_one()
        account.birthdate = account.person.birthdate = dt.date(1979, 8, 12)
        db.session.commit()
    assert post_login(browser, mine.nik, mine.password, kind="citizen").status_code == 303
    assert link_post(browser, "ldap", uid, PASSWORD).status_code == 303
    with app.app_context():
        event = db.session.execute(select(AuditEvent).where(AuditEvent.event == "link.data_mismatch")).scalar_one()
        assert event.detail["fields"] == ["birthdate"]


def test_a_staff_sign_in_with_the_offer_check_keeps_its_statements_few(app: Flask, slapd_main: Any) -> None:
    """Issue 20's hot-path rule: a returning staff member's sign-in reads the link with its person, whether
    the person has a citizen account, the staff record, the second-factor facts (one statement; this app
    requires a second factor for no role, so the directory roles are not read), checks for a citizen
    credential in one statement and asks the offer's two questions, all in one transaction: one COMMIT,
    nothing read after it."""
    uid = new_staff(slapd_main, NIP_WOMAN)
    staff_login(app, uid)  # the first sign-in creates the person and the staff record
    with database_log(app) as seen:
        _, login = staff_login(app, uid)
    assert not offered(login)  # nobody to offer: no citizen account with that birth date and sex
    # (The audit event is written by the ORM's flush before the next read.)
    assert seen == ["SELECT", "SELECT", "UPDATE", "SELECT", "UPDATE", "SELECT", "SELECT", "INSERT", "SELECT",
                    "SELECT", "COMMIT"], seen
