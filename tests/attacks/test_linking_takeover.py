"""Issue 13, attacks 1-3: account takeover through linking and the second factor, each performed end to
end through the pages as an attacker would (real slapd, PostgreSQL and Redis).

budi is an administrator in the test directory (``idp-admins``); siti is plain staff.  The rule that
administrators need a second factor (``IDP_MFA_REQUIRED_ROLES``, default ``admin``) is on unless a test
says otherwise.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

import pyotp
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from idp import assurance
from idp.extensions import db
from idp.models import AuditEvent, Person, RecoveryCode, StaffAccount, Team, TeamMember, TotpCredential
from idp.people import linking
from tests.citizen.helpers import Citizen, csrf, register_and_verify, sign_in
from tests.helpers import english
from tests.ldap.conftest import BUDI, SITI, unique
from tests.ldap.slapd import add_user

ADMIN_RULE = {"MFA_REQUIRED_ROLES": ["admin"]}


# --------------------------------------------------------------------------- helpers
def browser_of(app: Flask, ip: str = "127.0.0.1") -> FlaskClient:
    return english(app, ip)


def code_at(secret: str, steps_ahead: int) -> str:
    """A code of a later step than any used before (the replay guard refuses a step twice)."""
    return pyotp.TOTP(secret).at(time.time() + 30 * steps_ahead)


def enrol(browser: FlaskClient, *, parked: bool = False) -> tuple[str, list[str]]:
    """Set up an authenticator through the pages; (secret, recovery codes)."""
    page = browser.get("/account/two-step/setup")
    assert page.status_code == 200, page.status_code
    html = page.get_data(as_text=True)
    secret = re.search(r'<code id="totp-secret">([A-Z2-7 ]+)</code>', html).group(1).replace(" ", "")
    done = browser.post("/account/two-step/setup", data={"csrf_token": csrf(page.data),
                                                          "code": pyotp.TOTP(secret).now()})
    assert done.status_code == 200, done.get_data(as_text=True)[:1500]
    codes = re.findall(r"<li><code>([a-z2-9]{5}-[a-z2-9]{5})</code></li>", done.get_data(as_text=True))
    return secret, codes


def staff_with_totp(app: Flask, who: tuple[str, str]) -> tuple[FlaskClient, str, list[str]]:
    """A directory user who signed in here once and set up an authenticator (the parked first sign-in when
    a role requires it)."""
    browser = browser_of(app)
    resp = sign_in(browser, who[0], who[1], kind="ldap")
    assert resp.status_code == 303, resp.get_data(as_text=True)[:1500]
    secret, codes = enrol(browser)
    return browser, secret, codes


def citizen_with_totp(app: Flask) -> tuple[FlaskClient, Citizen, str, list[str]]:
    browser = browser_of(app)
    citizen = register_and_verify(browser)
    assert sign_in(browser, citizen).status_code == 303
    secret, codes = enrol(browser)
    return browser, citizen, secret, codes


def link_post(browser: FlaskClient, kind: str, identifier: str, password: str) -> Any:
    page = browser.get(f"/account/link/{kind}")
    assert page.status_code == 200, page.status_code
    resp = browser.post(f"/account/link/{kind}", data={"csrf_token": csrf(page.data), "identifier": identifier,
                                                       "password": password})
    assert resp.status_code < 500 and b"Traceback" not in resp.data
    return resp


def link_code(browser: FlaskClient, kind: str, typed: str) -> Any:
    page = browser.get(f"/account/link/{kind}/two-step")
    assert page.status_code == 200, page.status_code
    resp = browser.post(f"/account/link/{kind}/two-step", data={"csrf_token": csrf(page.data), "code": typed})
    assert resp.status_code < 500 and b"Traceback" not in resp.data
    return resp


def session_of(app: Flask, browser: FlaskClient) -> Any:
    from idp.people import session as login_session

    with app.test_request_context():
        return login_session.read(browser.get_cookie("idp_session").value)


def person_of_staff(app: Flask, username: str) -> int | None:
    with app.app_context():
        return db.session.execute(select(StaffAccount.person_id).where(StaffAccount.username == username)).scalar()


def person_of_citizen(app: Flask, citizen: Citizen) -> int:
    from idp.models import CitizenAccount

    with app.app_context():
        return int(db.session.execute(select(CitizenAccount.person_id).where(
            CitizenAccount.email == citizen.email)).scalar_one())


def refusals(app: Flask, event: str) -> list[dict[str, Any]]:
    with app.app_context():
        return [e.detail or {} for e in db.session.execute(
            select(AuditEvent).where(AuditEvent.event == event, AuditEvent.outcome == "failure")).scalars()]


def console_open(browser: FlaskClient) -> bool:
    return browser.get("/admin").status_code == 200


# --------------------------------------------------------------------------- attack 1: linking
def test_a_staff_password_alone_does_not_link_an_account_with_a_second_factor(ldap_app: Callable[..., Flask]) -> None:
    """The proven attack: a citizen proves an administrator's directory password only and the merge hands
    the browser a session as the administrator."""
    app = ldap_app(**ADMIN_RULE)
    budi, budi_secret, _ = staff_with_totp(app, BUDI)  # the real administrator, with his authenticator
    attacker = browser_of(app, "10.0.0.66")
    mallory = register_and_verify(attacker)
    assert sign_in(attacker, mallory).status_code == 303

    resp = link_post(attacker, "ldap", *BUDI)  # the stolen directory password
    assert resp.status_code == 303 and resp.headers["Location"].endswith("/account/link/ldap/two-step")
    assert person_of_staff(app, "budi") != person_of_citizen(app, mallory)  # nothing linked yet
    for guess in ("000000", "123456", "abcde-fghij"):
        assert link_code(attacker, "ldap", guess).status_code == 401
    assert person_of_staff(app, "budi") != person_of_citizen(app, mallory)
    assert not console_open(attacker)
    assert session_of(app, attacker).person_id == person_of_citizen(app, mallory)
    assert [d.get("reason") for d in refusals(app, "link.refused")].count("second_factor") == 3
    # The administrator's own codes still work, at the sign-in page.
    budi = browser_of(app)
    assert sign_in(budi, *BUDI, kind="ldap").headers["Location"].endswith("/login/two-step")
    page = budi.get("/login/two-step")
    assert budi.post("/login/two-step", data={"csrf_token": csrf(page.data),
                                              "code": code_at(budi_secret, 1)}).status_code == 303
    assert console_open(budi)


def test_wrong_link_codes_lock_like_the_sign_in_page(ldap_app: Callable[..., Flask]) -> None:
    app = ldap_app(**ADMIN_RULE, LOGIN_MAX_FAILURES=3)
    staff_with_totp(app, BUDI)
    attacker = browser_of(app, "10.0.0.67")
    assert sign_in(attacker, register_and_verify(attacker)).status_code == 303
    assert link_post(attacker, "ldap", *BUDI).status_code == 303
    statuses = [link_code(attacker, "ldap", "000000").status_code for _ in range(3)]
    assert statuses[-1] == 429
    # The parked password proof is gone: the attacker must start again from the password.
    assert attacker.get("/account/link/ldap/two-step").headers["Location"].endswith("/account/link/ldap")


def test_an_administrator_without_an_authenticator_cannot_be_linked_by_password(
        ldap_app: Callable[..., Flask]) -> None:
    """budi never signed in here: his directory entry says admin, and no authenticator of his exists, so
    no password alone (with the attacker's own authenticator or without) may attach it."""
    app = ldap_app(**ADMIN_RULE)
    attacker, mallory, _, _ = citizen_with_totp(app)  # her own account, her own second factor: acr mfa
    assert session_of(app, attacker).acr == assurance.MFA
    resp = link_post(attacker, "ldap", *BUDI)
    assert resp.status_code == 403 and "has not been set up yet" in resp.get_data(as_text=True)
    assert person_of_staff(app, "budi") is None
    assert not console_open(attacker)
    assert "second_factor_unavailable" in [d.get("reason") for d in refusals(app, "link.refused")]


def test_an_older_account_with_its_own_factor_cannot_absorb_an_administrator(ldap_app: Callable[..., Flask]) -> None:
    """The other order: the attacker's own older account and her own second factor, then the
    administrator's directory password: no roles gained, his authenticator kept, his codes working."""
    app = ldap_app(**ADMIN_RULE)
    attacker, mallory, _, _ = citizen_with_totp(app)  # created first: she would be the survivor
    _, budi_secret, _ = staff_with_totp(app, BUDI)
    resp = link_post(attacker, "ldap", *BUDI)
    assert resp.headers["Location"].endswith("/account/link/ldap/two-step")
    assert link_code(attacker, "ldap", code_at(budi_secret, 5)[::-1]).status_code == 401  # a wrong guess
    assert not console_open(attacker)
    budi_id = person_of_staff(app, "budi")
    assert budi_id != person_of_citizen(app, mallory)
    with app.app_context():
        assert db.session.execute(select(func.count()).where(TotpCredential.person_id == budi_id)).scalar() == 1


def test_staff_linking_a_citizen_with_two_step_needs_the_citizens_code(ldap_app: Callable[..., Flask]) -> None:
    """The other direction: staff who know a citizen's NIK and password still need the citizen's code."""
    app = ldap_app()
    _, victim, victim_secret, _ = citizen_with_totp(app)
    siti = browser_of(app, "10.0.0.68")
    assert sign_in(siti, *SITI, kind="ldap").status_code == 303
    resp = link_post(siti, "citizen", victim.nik, victim.password)
    assert resp.headers["Location"].endswith("/account/link/citizen/two-step")
    assert link_code(siti, "citizen", "999999").status_code == 401
    assert person_of_staff(app, "siti") != person_of_citizen(app, victim)
    # The real owner of both (here: siti, who knows the code) links them: one person, and the session is
    # at the level proved for both credentials (siti's password alone: staff, not mfa).
    assert link_code(siti, "citizen", code_at(victim_secret, 1)).status_code == 303
    assert person_of_staff(app, "siti") == person_of_citizen(app, victim)
    session = session_of(app, siti)
    assert session.acr == assurance.STAFF and "otp" not in session.amr and "mfa" not in session.amr


def test_the_owner_links_with_both_factors_and_every_code_keeps_working(ldap_app: Callable[..., Flask]) -> None:
    """A real administrator who is also a citizen: both authenticators and both sets of recovery codes
    survive the merge, and a sign-in with either credential asks for a code."""
    app = ldap_app(**ADMIN_RULE)
    citizen_browser, citizen, citizen_secret, citizen_codes = citizen_with_totp(app)  # older: the survivor
    _, budi_secret, budi_codes = staff_with_totp(app, BUDI)
    resp = link_post(citizen_browser, "ldap", *BUDI)
    assert link_code(citizen_browser, "ldap", budi_codes[1]).status_code == 303, resp  # a recovery code works
    survivor = person_of_citizen(app, citizen)
    assert person_of_staff(app, "budi") == survivor
    assert session_of(app, citizen_browser).acr == assurance.MFA  # both proved with a second factor
    with app.app_context():
        assert db.session.execute(select(func.count()).where(TotpCredential.person_id == survivor)).scalar() == 2
        assert db.session.execute(select(func.count()).where(RecoveryCode.person_id == survivor)).scalar() == 20
    # budi signs in with his directory password and his own authenticator; the citizen with hers.
    for identifier, password, kind, typed in (
            ("budi", BUDI[1], "ldap", code_at(budi_secret, 1)),
            (citizen.nik, citizen.password, "citizen", code_at(citizen_secret, 1)),
            ("budi", BUDI[1], "ldap", budi_codes[0]),
            (citizen.nik, citizen.password, "citizen", citizen_codes[0])):
        browser = browser_of(app)
        assert sign_in(browser, identifier, password, kind=kind).headers["Location"].endswith("/login/two-step")
        page = browser.get("/login/two-step")
        done = browser.post("/login/two-step", data={"csrf_token": csrf(page.data), "code": typed})
        assert done.status_code == 303, (kind, typed, done.get_data(as_text=True)[:800])
        assert session_of(app, browser).person_id == survivor
    assert console_open(browser)


# --------------------------------------------------------------------------- attack 2: authenticator swap
def test_replacing_the_authenticator_needs_a_current_code(ldap_app: Callable[..., Flask]) -> None:
    """A stolen session cookie alone must not swap the owner's authenticator for the attacker's."""
    app = ldap_app()
    owner = browser_of(app)
    citizen = register_and_verify(owner)
    assert sign_in(owner, citizen).status_code == 303
    secret, codes = enrol(owner)
    stolen = browser_of(app, "10.0.0.69")
    stolen.set_cookie("idp_session", owner.get_cookie("idp_session").value)
    page = stolen.get("/account/two-step/setup")
    assert 'id="replacing"' in page.get_data(as_text=True)
    attackers = re.search(r'<code id="totp-secret">([A-Z2-7 ]+)</code>', page.get_data(as_text=True)).group(1)
    attackers = attackers.replace(" ", "")
    for current in ("", " ", "000000", "x" * 40):
        resp = stolen.post("/account/two-step/setup", data={"csrf_token": csrf(page.data),
                                                             "code": pyotp.TOTP(attackers).now(),
                                                             "current_code": current})
        assert resp.status_code == 400
        # Left empty, the code is asked for ("Required."); a wrong one is refused and counted.
        assert ("not right" in resp.get_data(as_text=True)) == bool(current.strip())
    with app.app_context():
        person_id = person_of_citizen(app, citizen)
        rows = db.session.execute(select(TotpCredential).where(TotpCredential.person_id == person_id)).scalars().all()
        assert len(rows) == 1
    assert [d.get("action") for d in refusals(app, "mfa.change_refused")] == ["replace"] * 2
    # The owner's code still works; with a current code (here a recovery code: the authenticator's next
    # step is spent by the sign-in) in the same request, the owner may replace the authenticator.
    fresh = browser_of(app)
    assert sign_in(fresh, citizen).headers["Location"].endswith("/login/two-step")
    page = fresh.get("/login/two-step")
    assert fresh.post("/login/two-step", data={"csrf_token": csrf(page.data),
                                               "code": code_at(secret, 1)}).status_code == 303
    page = fresh.get("/account/two-step/setup")
    new = re.search(r'<code id="totp-secret">([A-Z2-7 ]+)</code>', page.get_data(as_text=True)).group(1)
    new = new.replace(" ", "")
    done = fresh.post("/account/two-step/setup", data={"csrf_token": csrf(page.data), "code": pyotp.TOTP(new).now(),
                                                       "current_code": codes[0]})
    assert done.status_code == 200 and len(re.findall(r"<li><code>", done.get_data(as_text=True))) == 10


@pytest.mark.parametrize("action", ["/account/two-step/disable", "/account/two-step/recovery-codes"])
def test_removing_or_renewing_needs_a_current_code_and_is_audited(ldap_app: Callable[..., Flask], action: str) -> None:
    app = ldap_app()
    owner = browser_of(app)
    citizen = register_and_verify(owner)
    assert sign_in(owner, citizen).status_code == 303
    enrol(owner)
    page = owner.get("/account/two-step")
    resp = owner.post(action, data={"csrf_token": csrf(page.data), "code": "000000"})
    assert resp.status_code == 400
    with app.app_context():
        assert db.session.execute(select(func.count()).where(
            TotpCredential.person_id == person_of_citizen(app, citizen))).scalar() == 1
    assert len(refusals(app, "mfa.change_refused")) == 1


# --------------------------------------------------------------------------- attack 3: the merge
def test_every_person_owned_table_has_a_merge_rule() -> None:
    """A table with a person column that the merge does not know about would be left on the retired
    person (as the authenticators once were): derived from the models, so a future table fails here."""
    owned = {name for name, table in db.metadata.tables.items()
             if "person_id" in table.c or any(fk.column.table.name == "people" for fk in table.foreign_keys)}
    assert owned == set(linking.PERSON_TABLES), owned ^ set(linking.PERSON_TABLES)


def test_the_merge_moves_authenticators_codes_and_team_memberships(ldap_app: Callable[..., Flask],
                                                                   slapd_main: Any) -> None:
    app = ldap_app()
    uid = unique("ana")
    add_user(slapd_main, uid, "Ana-Pass-2026")
    staff_browser, staff_secret, _ = staff_with_totp(app, (uid, "Ana-Pass-2026"))  # created first: survivor
    citizen_browser, citizen, citizen_secret, _ = citizen_with_totp(app)
    retired_id, survivor_id = person_of_citizen(app, citizen), person_of_staff(app, uid)
    with app.app_context():  # team memberships made by the portal (set up directly: not under test here)
        one, two = Team(name=unique("team-")), Team(name=unique("team-"))
        db.session.add_all([one, two])
        db.session.flush()
        db.session.add_all([TeamMember(team_id=one.id, person_id=retired_id, role="owner"),
                            TeamMember(team_id=one.id, person_id=survivor_id, role="member"),
                            TeamMember(team_id=two.id, person_id=retired_id, role="member")])
        db.session.commit()
        team_one, team_two = one.id, two.id
    assert link_post(citizen_browser, "ldap", uid, "Ana-Pass-2026").status_code == 303
    assert link_code(citizen_browser, "ldap", code_at(staff_secret, 1)).status_code == 303
    with app.app_context():
        for model in (TotpCredential, RecoveryCode, TeamMember):
            left = db.session.execute(select(func.count()).where(model.person_id == retired_id)).scalar()
            assert left == 0, model
        roles = dict(db.session.execute(select(TeamMember.team_id, TeamMember.role).where(
            TeamMember.person_id == survivor_id)).all())
        assert roles == {team_one: "owner", team_two: "member"}
        assert db.session.get(Person, retired_id).status == "merged"
    # The citizen's own authenticator now signs in the survivor.
    browser = browser_of(app)
    assert sign_in(browser, citizen).headers["Location"].endswith("/login/two-step")
    page = browser.get("/login/two-step")
    assert browser.post("/login/two-step", data={"csrf_token": csrf(page.data),
                                                 "code": code_at(citizen_secret, 1)}).status_code == 303
    assert session_of(app, browser).person_id == survivor_id


def test_a_role_that_requires_a_second_factor_applies_to_every_credential(ldap_app: Callable[..., Flask]) -> None:
    """An administrator linked to a citizen account (before the rule was switched on) signs in with the
    citizen credential: the second factor is still required."""
    app = ldap_app(MFA_REQUIRED_ROLES=[])
    browser = browser_of(app)
    citizen = register_and_verify(browser)
    assert sign_in(browser, citizen).status_code == 303
    assert link_post(browser, "ldap", *BUDI).status_code == 303  # no rule: the password is a full sign-in
    assert person_of_staff(app, "budi") == person_of_citizen(app, citizen)
    # The operator switches the rule on (as a restart with IDP_MFA_REQUIRED_ROLES=admin would).
    app.extensions["idp"].config.values["MFA_REQUIRED_ROLES"] = ["admin"]
    again = browser_of(app)
    resp = sign_in(again, citizen)
    assert resp.status_code == 303 and resp.headers["Location"].endswith("/login/two-step")
    assert again.get_cookie("idp_session") is None  # no session before the second factor


def test_linking_failures_count_against_the_sign_in_limits(ldap_app: Callable[..., Flask]) -> None:
    """Proving the other account at the linking page counts against the same per-user limit as the
    sign-in page: an attacker cannot guess a directory password through linking without a lock."""
    app = ldap_app(LOGIN_MAX_FAILURES=3)
    attacker = browser_of(app, "10.0.0.70")
    assert sign_in(attacker, register_and_verify(attacker)).status_code == 303
    statuses = [link_post(attacker, "ldap", "siti", f"guess-{n}").status_code for n in range(3)]
    assert statuses == [401, 401, 429]
    # The real password now gets the lock, at the linking page and at the sign-in page (another address).
    assert link_post(attacker, "ldap", *SITI).status_code == 429
    assert sign_in(browser_of(app, "10.0.0.71"), *SITI, kind="ldap").status_code == 429
    assert [d.get("reason") for d in refusals(app, "link.refused")].count("credentials") == 4
