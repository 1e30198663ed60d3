"""Disputes over a NIK, as the squatter and the real holder live them (issue 15): the better proof wins.

A squatter registers somebody's NIK (birth date and sex can be read off the NIK) and confirms the e-mail.
The real holder registers too: the registration is accepted as a *claim*; a registry match with data
the squatter never gave moves the NIK to the real holder, signs the squatter out everywhere (applications
told through back-channel logout), revokes the squatter's tokens that carry the NIK and mails them.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from typing import Any

from flask import Flask
from sqlalchemy import select

from idp import assurance
from idp.extensions import db
from idp.models import AuditEvent, CitizenAccount, IdentityLink, LogoutNotice, Person, RefreshToken
from idp.sources import citizen
from tests.oauth import helpers as oauth_helpers

from .helpers import PASSWORD, confirm, mails_to, register, register_and_verify, sign_in, verification_link
from .test_registry_verification import SITI, _ask, _mode, _work, reg_app, sim  # noqa: F401 - fixtures

SQUATTER_PASSWORD = "teh manis hangat sore hari"  # noqa: S105 - a test password
SQUATTER = {"name": "Joko Penyerobot", "email_address": "squatter@example.org", "password": SQUATTER_PASSWORD}


def _account(app: Flask, email: str) -> CitizenAccount:
    with app.app_context():
        account = db.session.execute(select(CitizenAccount).where(CitizenAccount.email == email)).scalar_one()
        db.session.expunge(account)
        return account


def _tokens_with_nik(app: Flask, browser: Any) -> tuple[str, dict[str, Any]]:
    """An application approved for nik, with back-channel logout, gets tokens for the signed-in squatter."""
    client_id, secret = oauth_helpers.create_client(
        app, first_party=True, approved_scopes="nik", backchannel_logout_uri="http://127.0.0.1:9/bc",
        grant_types=["authorization_code", "refresh_token"])
    verifier, challenge = oauth_helpers.pkce_pair()
    params = {"response_type": "code", "client_id": client_id, "redirect_uri": oauth_helpers.REDIRECT,
              "scope": "openid nik offline_access", "state": "s", "nonce": "n", "prompt": "consent",
              "code_challenge": challenge, "code_challenge_method": "S256"}
    page = browser.get("/authorize", query_string=params)
    html = page.get_data(as_text=True)
    req = re.search(r'name="req" value="([^"]+)"', html).group(1)
    token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    done = browser.post("/authorize/consent", data={"req": req, "csrf_token": token, "decision": "allow"})
    code = oauth_helpers.query(done.headers["Location"])["code"]
    resp = browser.post("/token", data={"grant_type": "authorization_code", "code": code, "code_verifier": verifier,
                                        "redirect_uri": oauth_helpers.REDIRECT},
                        headers=oauth_helpers.basic(client_id, secret))
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return client_id, dict(resp.get_json())


def _userinfo(browser: Any, access_token: str) -> dict[str, Any]:
    return dict(browser.get("/userinfo", headers={"Authorization": f"Bearer {access_token}"}).get_json())


def test_the_real_holder_wins_with_a_registry_match(reg_app, sim, caplog) -> None:  # noqa: F811 - fixtures
    caplog.set_level(logging.DEBUG)
    app = reg_app()
    squatter_browser = app.test_client()
    squatter = register_and_verify(squatter_browser, nik=SITI["nik"], birthdate=SITI["birthdate"], **SQUATTER)
    assert sign_in(squatter_browser, squatter).status_code == 303
    client_id, issued = _tokens_with_nik(app, squatter_browser)
    assert _userinfo(squatter_browser, issued["access_token"])["nik"] == SITI["nik"]

    # The real Siti registers the same NIK: accepted as a claim (the same page as any registration).
    siti_browser = app.test_client()
    siti, resp = register(siti_browser, nik=SITI["nik"], name=SITI["name"], birthdate=SITI["birthdate"],
                          email_address="siti@example.org")
    assert resp.status_code == 303
    assert len(mails_to(app, squatter.email)) == 2  # the holder hears that someone registered the NIK
    assert confirm(siti_browser, verification_link(app, siti.email)).status_code == 303
    claimant = _account(app, siti.email)
    assert claimant.nik_hash is None and claimant.claimed_nik_hash  # the confirmed squatter still holds it
    # By NIK the sign-in reaches the holder's account; Siti signs in with her e-mail address.
    assert sign_in(siti_browser, siti.nik, PASSWORD).status_code == 401  # wrong password for the holder
    assert sign_in(siti_browser, siti.email, PASSWORD).status_code == 303
    assert 'id="nik-claimed"' in siti_browser.get("/account/nik").get_data(as_text=True)

    # She proves it with the registry (her name, her birth place: data the squatter never gave).
    assert _ask(siti_browser, "Tangerang").status_code == 303
    assert _work(app) == {"matched": 1}

    winner, loser = _account(app, siti.email), _account(app, squatter.email)
    assert winner.nik_hash == claimant.claimed_nik_hash and winner.assurance == assurance.CITIZEN_REGISTRY
    assert loser.nik_hash is None and loser.claimed_nik_hash == winner.nik_hash
    assert loser.assurance == assurance.CITIZEN_REVIEW and loser.review_reason == "nik_lost"
    # The squatter: signed out, the NIK tokens revoked, the application told, a mail.
    assert squatter_browser.get("/account").status_code == 303
    with app.app_context():
        rows = db.session.execute(select(RefreshToken).where(RefreshToken.person_id == loser.person_id)).scalars()
        assert all(r.revoked_at is not None for r in rows)
        assert db.session.execute(select(LogoutNotice).where(LogoutNotice.client_id == client_id)).first()
        events = db.session.execute(select(AuditEvent).where(AuditEvent.event.like("nik.dispute_%"))).scalars().all()
        assert {(e.event, e.person_id) for e in events} == {("nik.dispute_lost", loser.person_id),
                                                            ("nik.dispute_won", winner.person_id)}
        assert SITI["nik"] not in json.dumps([e.detail for e in events])
    refreshed = squatter_browser.post("/token", data={"grant_type": "refresh_token",
                                                      "refresh_token": issued["refresh_token"]})
    assert refreshed.status_code in (400, 401)
    assert "nik" not in _userinfo(squatter_browser, issued["access_token"])  # no NIK for a live access token
    notice = mails_to(app, squatter.email)[-1]
    assert "another person proved" in notice.get_content() or "orang lain" in notice.get_content()
    # Both keep their accounts: the squatter signs in by e-mail only, Siti by NIK as well.
    assert sign_in(app.test_client(), squatter.email, SQUATTER_PASSWORD).status_code == 303
    assert sign_in(app.test_client(), squatter.nik, SQUATTER_PASSWORD).status_code == 401
    assert sign_in(app.test_client(), siti.nik, PASSWORD).status_code == 303
    assert SITI["nik"] not in caplog.text  # the NIK never leaves in logs


def test_a_match_with_the_holders_own_data_does_not_move_the_nik(reg_app, sim) -> None:  # noqa: F811
    app = reg_app()
    # The first account gave exactly Siti's name and birth date (a relative, or Siti herself long ago).
    first = register_and_verify(app.test_client(), nik=SITI["nik"], name=SITI["name"],
                                birthdate=SITI["birthdate"], email_address="first@example.org")
    second_browser = app.test_client()
    second = register_and_verify(second_browser, nik=SITI["nik"], name=SITI["name"], birthdate=SITI["birthdate"],
                                 email_address="second@example.org")
    assert sign_in(second_browser, second.email, PASSWORD).status_code == 303
    _ask(second_browser, "Tangerang")
    assert _work(app) == {"matched": 1}
    assert _account(app, first.email).nik_hash is not None  # the counter decides between them
    assert _account(app, second.email).nik_hash is None
    with app.app_context():
        assert db.session.execute(select(AuditEvent).where(AuditEvent.event == "nik.dispute_contested")).first()


def test_a_registry_proven_holder_cannot_be_claimed(reg_app, sim) -> None:  # noqa: F811
    app = reg_app()
    holder_browser = app.test_client()
    holder = register_and_verify(holder_browser, nik=SITI["nik"], name=SITI["name"], birthdate=SITI["birthdate"])
    sign_in(holder_browser, holder)
    _ask(holder_browser, "Tangerang")
    _work(app)
    browser = app.test_client()
    again, resp = register(browser, nik=SITI["nik"], name="Orang Lain", birthdate=SITI["birthdate"])
    assert resp.status_code == 303  # the same page as always
    assert mails_to(app, again.email) == []  # no account: the duplicate notice went to the holder only
    with app.app_context():
        assert db.session.execute(select(CitizenAccount).where(CitizenAccount.email == again.email)).first() is None


def test_first_to_confirm_the_address_wins_an_unconfirmed_nik(app) -> None:
    nik = SITI["nik"]
    first_browser, second_browser = app.test_client(), app.test_client()
    first, _ = register(first_browser, nik=nik, birthdate=SITI["birthdate"], email_address="slow@example.org")
    second, resp = register(second_browser, nik=nik, birthdate=SITI["birthdate"], email_address="quick@example.org")
    assert resp.status_code == 303
    assert confirm(second_browser, verification_link(app, second.email)).status_code == 303
    assert _account(app, second.email).nik_hash is not None
    assert _account(app, first.email).nik_hash is None
    assert confirm(first_browser, verification_link(app, first.email)).status_code == 303
    assert _account(app, second.email).nik_hash is not None  # a confirmed holder keeps it
    assert sign_in(app.test_client(), nik, PASSWORD).status_code == 303  # the NIK signs in the winner
    assert sign_in(app.test_client(), first.email, PASSWORD).status_code == 303


def test_claims_per_nik_are_bounded(app) -> None:
    nik = SITI["nik"]
    register_and_verify(app.test_client(), nik=nik, birthdate=SITI["birthdate"])
    made = []
    for i in range(5):
        citizen, resp = register(app.test_client(), nik=nik, birthdate=dt.date(1990, 1, 5),
                                 email_address=f"claim{i}@example.org")
        assert resp.status_code == 303
        made.append(bool(mails_to(app, citizen.email)))
    assert made == [True, True, True, False, False]


def test_unconfirmed_registrations_expire_and_free_the_nik(app) -> None:
    squatter, _ = register(app.test_client(), nik=SITI["nik"], birthdate=SITI["birthdate"],
                           email_address="typo@exampel.org")
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    with app.app_context():
        assert citizen.purge_unverified(now + dt.timedelta(hours=47)) == 0  # the default is 48 hours
        person_id = db.session.execute(select(CitizenAccount.person_id)).scalar_one()
        assert citizen.purge_unverified(now + dt.timedelta(hours=49)) == 1
        assert db.session.execute(select(CitizenAccount)).first() is None
        assert db.session.get(Person, person_id) is None
        assert db.session.execute(select(IdentityLink)).first() is None
        event = db.session.execute(select(AuditEvent).where(
            AuditEvent.event == "citizen.registration_expired")).scalar_one()
        assert SITI["nik"] not in json.dumps(event.detail)
    # The NIK is free: the real holder's registration holds it at once.
    siti = register_and_verify(app.test_client(), nik=SITI["nik"], name=SITI["name"], birthdate=SITI["birthdate"])
    assert _account(app, siti.email).nik_hash is not None
    assert sign_in(app.test_client(), siti).status_code == 303


def test_purge_command_and_setting(make_app) -> None:
    app = make_app(UNVERIFIED_ACCOUNT_TTL=3600)
    register(app.test_client())
    register_and_verify(app.test_client())  # a confirmed account is never purged
    with app.app_context():
        db.session.execute(CitizenAccount.__table__.update().values(
            created_at=dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(hours=2)))
        db.session.commit()
    out = app.test_cli_runner().invoke(args=["citizens", "purge-unverified"]).output
    assert "deleted 1 " in out
    with app.app_context():
        assert len(db.session.execute(select(CitizenAccount)).all()) == 1


def test_an_expired_holder_hands_the_nik_to_the_first_confirmed_claimant(app) -> None:
    register(app.test_client(), nik=SITI["nik"], birthdate=SITI["birthdate"], email_address="never@example.org")
    browser = app.test_client()
    claimant, _ = register(browser, nik=SITI["nik"], birthdate=SITI["birthdate"], email_address="real@example.org")
    with app.app_context():  # the claimant registered second but confirms while the holder still could
        db.session.execute(CitizenAccount.__table__.update().where(CitizenAccount.email == "never@example.org")
                           .values(email_verified_at=dt.datetime(2026, 1, 1)))
        db.session.commit()
    confirm(browser, verification_link(app, claimant.email))
    assert _account(app, claimant.email).nik_hash is None  # a confirmed holder keeps it
    with app.app_context():
        db.session.execute(CitizenAccount.__table__.update().where(CitizenAccount.email == "never@example.org")
                           .values(email_verified_at=None))
        db.session.commit()
        later = dt.datetime.now(dt.UTC).replace(tzinfo=None) + dt.timedelta(days=3)
        assert citizen.purge_unverified(later) == 1
    assert _account(app, claimant.email).nik_hash is not None
    assert sign_in(app.test_client(), SITI["nik"], PASSWORD).status_code == 303
