"""Linking a staff (directory) account and a citizen (NIK) account into one identity, and unlinking.

Real slapd, PostgreSQL and Redis; every step goes through the HTTP pages with CSRF tokens, as a
browser would.  The merge policy is the one documented in :mod:`idp.people.linking` and the README.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from idp import assurance
from idp.extensions import db
from idp.models import AuditEvent, CitizenAccount, IdentityLink, Person, StaffAccount
from tests.citizen.helpers import csrf, register_and_verify
from tests.helpers import REQUIRED, field_error, field_value

from .conftest import BUDI, unique
from .slapd import add_user
from .test_login import english, post_login

BUDI_NIK = "3603011503850002"  # the NIK recorded in budi's directory entry
BUDI_BIRTH = dt.date(1985, 3, 15)


def link_post(browser: FlaskClient, kind: str, identifier: str, password: str, **extra: str) -> Any:
    page = browser.get(f"/account/link/{kind}")
    assert page.status_code == 200, page.status_code
    resp = browser.post(f"/account/link/{kind}", data={"csrf_token": csrf(page.data), "identifier": identifier,
                                                       "password": password, **extra})
    assert resp.status_code != 500 and b"Traceback" not in resp.data
    return resp


def staff_person(app: Flask, username: str) -> Person | None:
    with app.app_context():
        row = db.session.execute(select(StaffAccount).where(StaffAccount.username == username)).scalar_one_or_none()
        if row is None:
            return None
        person = db.session.get(Person, row.person_id)
        db.session.expunge(person)
        return person


def citizen_person(app: Flask, email: str) -> Person:
    with app.app_context():
        account = db.session.execute(select(CitizenAccount).where(CitizenAccount.email == email)).scalar_one()
        person = db.session.get(Person, account.person_id)
        db.session.expunge(person)
        return person


@pytest.fixture
def app(ldap_app: Any) -> Flask:
    return ldap_app()


def test_citizen_links_a_new_staff_account_without_a_merge(app: Flask) -> None:
    browser = english(app)
    citizen = register_and_verify(browser)
    assert post_login(browser, citizen.nik, citizen.password, kind="citizen").status_code == 303
    before = citizen_person(app, citizen.email)
    resp = link_post(browser, "ldap", *BUDI)
    assert resp.status_code == 303 and resp.headers["Location"].endswith("/account/linked")
    after = staff_person(app, "budi")
    assert after is not None and after.id == before.id and after.sub == before.sub
    # A later staff sign-in in another browser gives the same person (one sub everywhere).
    other = english(app, "10.0.0.2")
    assert post_login(other, *BUDI).status_code == 303
    assert staff_person(app, "budi").sub == before.sub
    with app.app_context():
        events = db.session.execute(select(AuditEvent.event).where(AuditEvent.person_id == before.id)).scalars().all()
        assert "link" in events


def test_staff_links_an_existing_citizen_account_and_the_older_identity_survives(app: Flask) -> None:
    citizen_browser = english(app, "10.0.0.3")
    citizen = register_and_verify(citizen_browser, nik=BUDI_NIK, birthdate=BUDI_BIRTH)
    citizen_sub = citizen_person(app, citizen.email).sub
    browser = english(app)
    login = post_login(browser, *BUDI)
    # The directory records budi's NIK, which has a citizen account: the link is offered (not made).
    assert login.status_code == 303 and "/account/link/citizen" in login.headers["Location"]
    assert "offer=1" in login.headers["Location"]
    staff_sub = staff_person(app, "budi").sub
    assert staff_sub != citizen_sub
    offer = browser.get(login.headers["Location"])
    assert offer.status_code == 200 and b'id="link-offer"' in offer.data
    resp = link_post(browser, "citizen", citizen.nik, citizen.password, offer="1")
    assert resp.status_code == 303
    merged = staff_person(app, "budi")
    assert merged.sub == citizen_sub  # the citizen identity is older: its sub survives
    with app.app_context():
        retired = db.session.execute(select(Person).where(Person.sub == staff_sub)).scalar_one()
        assert retired.status == "merged" and retired.name is None and retired.email is None
        assert db.session.execute(
            select(AuditEvent).where(AuditEvent.event == "person.merged", AuditEvent.person_id == retired.id)
        ).scalar_one()
    # This browser's session now stands for the survivor, with both credentials proved.
    home = browser.get("/")
    assert home.status_code == 200 and b'id="signed-in"' in home.data


def test_skip_the_offer_goes_on(app: Flask) -> None:
    register_and_verify(english(app, "10.0.0.4"), nik=BUDI_NIK, birthdate=BUDI_BIRTH)
    browser = english(app)
    login = post_login(browser, *BUDI)
    assert "offer=1" in login.headers["Location"]
    skip = browser.get("/account/link/skip")
    assert skip.status_code == 303
    again = post_login(browser, *BUDI)
    assert again.status_code == 303 and "/account/link" not in again.headers["Location"]


@pytest.mark.parametrize(("identifier", "password"), [
    ("budi", "wrong-password"), ("budi", ""), ("", "Budi-Pass-2026"), ("*", "x"), (")(uid=*", "x"),
    ("budi\x00", "Budi-Pass-2026"), ("b" * 5000, "x"), ("<script>alert(1)</script>", "x"),
])
def test_no_link_without_proof(app: Flask, identifier: str, password: str) -> None:
    browser = english(app)
    citizen = register_and_verify(browser)
    assert post_login(browser, citizen.nik, citizen.password, kind="citizen").status_code == 303
    resp = link_post(browser, "ldap", identifier, password)
    assert resp.status_code in (400, 401)
    assert staff_person(app, "budi") is None


@pytest.mark.parametrize(("identifier", "password", "empty"), [
    ("budi", "", ["password"]), ("", BUDI[1], ["identifier"]), ("", "", ["identifier", "password"]),
    ("  ", BUDI[1], ["identifier"]), ("budi", " \t ", ["password"]), ("*", "", ["password"]),
])
def test_empty_fields_are_required_at_the_field_and_count_nothing(ldap_app: Any, identifier: str, password: str,
                                                                   empty: list[str]) -> None:
    """Linking proves a credential like the sign-in page: an empty field is asked for again (400, "Required."
    at the field), the directory is not asked and nothing counts (one counted failure would lock budi)."""
    app = ldap_app(LOGIN_MAX_FAILURES=1)
    browser = english(app)
    citizen = register_and_verify(browser)
    assert post_login(browser, citizen.nik, citizen.password, kind="citizen").status_code == 303
    for _ in range(6):  # beyond the address's limit too
        resp = link_post(browser, "ldap", identifier, password)
        assert resp.status_code == 400
        html = resp.get_data(as_text=True)
        for name in ("identifier", "password"):
            assert field_error(html, name) == (REQUIRED if name in empty else None), name
        if "identifier" not in empty:
            assert field_value(html, "identifier") == identifier
        assert 'id="link-error"' not in html
    assert staff_person(app, "budi") is None
    assert link_post(browser, "ldap", *BUDI).status_code == 303
    assert staff_person(app, "budi") is not None


def test_a_wrong_citizen_password_links_nothing(app: Flask) -> None:
    citizen = register_and_verify(english(app, "10.0.0.5"))
    browser = english(app)
    assert post_login(browser, *BUDI).status_code == 303
    resp = link_post(browser, "citizen", citizen.nik, "not-the-password")
    assert resp.status_code == 401
    assert citizen_person(app, citizen.email).sub != staff_person(app, "budi").sub


def test_linking_needs_a_session_and_a_csrf_token(app: Flask) -> None:
    browser = english(app)
    assert browser.get("/account/link/ldap").status_code == 303
    citizen = register_and_verify(browser)
    assert post_login(browser, citizen.nik, citizen.password, kind="citizen").status_code == 303
    resp = browser.post("/account/link/ldap", data={"identifier": "budi", "password": BUDI[1]})
    assert resp.status_code == 400
    assert browser.get("/account/link/nonsense").status_code == 404
    assert staff_person(app, "budi") is None


def test_a_second_account_of_the_same_kind_is_refused(app: Flask) -> None:
    browser = english(app)
    citizen = register_and_verify(browser)
    assert post_login(browser, citizen.nik, citizen.password, kind="citizen").status_code == 303
    assert link_post(browser, "ldap", *BUDI).status_code == 303
    other = register_and_verify(english(app, "10.0.0.6"))
    resp = link_post(browser, "citizen", other.nik, other.password)
    assert resp.status_code == 409
    assert citizen_person(app, other.email).sub != citizen_person(app, citizen.email).sub


def test_unlink_needs_a_fresh_sign_in_and_never_removes_the_last_account(app: Flask) -> None:
    browser = english(app)
    citizen = register_and_verify(browser)
    assert post_login(browser, citizen.nik, citizen.password, kind="citizen").status_code == 303
    assert link_post(browser, "ldap", *BUDI).status_code == 303
    person = citizen_person(app, citizen.email)
    with app.app_context():
        links = {link.source: link.id for link in db.session.execute(
            select(IdentityLink).where(IdentityLink.person_id == person.id)).scalars()}
    assert set(links) == {"citizen", "ldap"}
    token = csrf(browser.get("/account/link/ldap").data)
    # Make the sign-in stale: rewrite auth_time in the stored session.
    store = app.extensions["idp"].store
    cookie = browser.get_cookie("idp_session").value
    sid = cookie.split(".", 1)[0]
    data = store.get("sid", sid)
    data["auth_time"] = int(time.time()) - 3600
    store.put("sid", sid, data, 600)
    stale = browser.post(f"/account/unlink/{links['ldap']}", data={"csrf_token": token})
    assert stale.status_code == 403 and b'id="reauth"' in stale.data
    assert post_login(browser, citizen.nik, citizen.password, kind="citizen").status_code == 303
    token = csrf(browser.get("/account/link/ldap").data)
    assert browser.post(f"/account/unlink/{links['ldap']}", data={}).status_code == 400  # no CSRF token
    done = browser.post(f"/account/unlink/{links['ldap']}", data={"csrf_token": token})
    assert done.status_code == 303
    detached = staff_person(app, "budi")
    assert detached.id != person.id and detached.sub != person.sub
    # Now the citizen account is the last one: it cannot be removed.
    last = browser.post(f"/account/unlink/{links['citizen']}", data={"csrf_token": token})
    assert last.status_code == 409
    # Someone else's link id is "unknown", not removable.
    foreign = browser.post(f"/account/unlink/{links['ldap']}", data={"csrf_token": token})
    assert foreign.status_code == 409


def test_the_linked_session_has_the_weaker_assurance(app: Flask) -> None:
    """Issue 13: a session's level after a link is what was proved for every credential it carries
    (it used to take the higher one, so a password-only proof could raise a session)."""
    browser = english(app)
    citizen = register_and_verify(browser)
    assert post_login(browser, citizen.nik, citizen.password, kind="citizen").status_code == 303
    assert link_post(browser, "ldap", *BUDI).status_code == 303
    store = app.extensions["idp"].store
    sid = browser.get_cookie("idp_session").value.split(".", 1)[0]
    assert store.get("sid", sid)["acr"] == assurance.CITIZEN


def test_a_new_directory_user_is_linked_on_first_use(app: Flask, slapd_main: Any) -> None:
    uid = unique("baru")
    add_user(slapd_main, uid, "Baru-Pass-2026")
    browser = english(app)
    citizen = register_and_verify(browser)
    assert post_login(browser, citizen.nik, citizen.password, kind="citizen").status_code == 303
    assert link_post(browser, "ldap", uid, "Baru-Pass-2026").status_code == 303
    assert staff_person(app, uid).sub == citizen_person(app, citizen.email).sub


@pytest.mark.parametrize("link_id", ["0", "99999999", "9" * 40, "-1", "abc", "1e3"])
def test_hostile_unlink_ids_are_refused_cleanly(app: Flask, link_id: str) -> None:
    browser = english(app)
    citizen = register_and_verify(browser)
    assert post_login(browser, citizen.nik, citizen.password, kind="citizen").status_code == 303
    token = csrf(browser.get("/account/link/ldap").data)
    resp = browser.post(f"/account/unlink/{link_id}", data={"csrf_token": token})
    assert resp.status_code in (404, 409) and b"Traceback" not in resp.data
