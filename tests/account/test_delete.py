"""/account/delete: a fresh sign-in, then everything personal goes; the NIK can register again."""

from __future__ import annotations

import time
from collections.abc import Callable

from flask import Flask
from sqlalchemy import select

from idp.extensions import db
from idp.models import AuditEvent, CitizenAccount, Client, Consent, IdentityLink, Person, RefreshToken
from tests.citizen.helpers import csrf, register_and_verify, sign_in

from .conftest import RP, english, post_page, signed_in_citizen


def test_delete_then_sign_in_fails_and_nik_registers_again(app: Flask, make_rp: Callable[..., RP]) -> None:
    browser, citizen = signed_in_citizen(app)
    other = english(app, "10.0.0.3")
    assert sign_in(other, citizen).status_code == 303
    with app.app_context():
        account = db.session.execute(select(CitizenAccount).where(CitizenAccount.email == citizen.email)).scalar_one()
        person = db.session.get(Person, account.person_id)
        assert person is not None
        person_id, sub = person.id, person.sub
    rp = make_rp(grant_types=["authorization_code", "refresh_token"])
    rp.person_id, rp.sub = person_id, sub
    rp.sign_in()
    with app.app_context():
        client = db.session.execute(select(Client).where(Client.client_id == rp.client_id)).scalar_one()
        db.session.add(Consent(person_id=person_id, client_id=client.id, scopes="openid"))
        db.session.commit()
    issued = rp.tokens(scope="openid offline_access")

    page = browser.get("/account/delete")
    assert page.status_code == 200 and 'id="confirm-delete"' in page.get_data(as_text=True)
    assert browser.post("/account/delete", data={}).status_code == 400  # CSRF
    resp = browser.post("/account/delete", data={"csrf_token": csrf(page.data)})
    assert resp.status_code == 200 and 'id="deleted"' in resp.get_data(as_text=True)

    assert browser.get("/account").status_code == 303 and other.get("/account").status_code == 303
    assert rp.client_post("/token", {"grant_type": "refresh_token",
                                     "refresh_token": issued["refresh_token"]}).status_code == 400
    assert rp.userinfo_status(issued["access_token"]) == 401
    assert sign_in(english(app, "10.0.0.2"), citizen).status_code == 401
    with app.app_context():
        person = db.session.get(Person, person_id)
        assert person is not None and person.status == "deleted" and person.sub == sub
        assert person.name is None and person.email is None and person.birthdate is None
        for model in (CitizenAccount, IdentityLink, Consent):
            assert not db.session.execute(select(model).where(model.person_id == person_id)).first()
        assert all(r.revoked_at for r in db.session.execute(
            select(RefreshToken).where(RefreshToken.person_id == person_id)).scalars())
        deleted = db.session.execute(select(AuditEvent).where(AuditEvent.event == "account.deleted")).scalar_one()
        assert deleted.person_id == person_id and not deleted.detail
    again = register_and_verify(english(app, "10.0.0.1"), nik=citizen.nik, email_address=citizen.email)
    fresh = english(app, "10.0.0.1")
    assert sign_in(fresh, again).status_code == 303
    with app.app_context():
        account = db.session.execute(select(CitizenAccount).where(CitizenAccount.email == citizen.email)).scalar_one()
        assert account.person_id != person_id
        new_person = db.session.get(Person, account.person_id)
        assert new_person is not None and new_person.sub != sub


def test_delete_needs_a_fresh_sign_in(app: Flask) -> None:
    browser, citizen = signed_in_citizen(app)
    from idp.people import session as login_session

    with app.test_request_context():
        cookie = browser.get_cookie("idp_session")
        assert cookie is not None
        found = login_session.read(cookie.value)
        assert found is not None
        found.auth_time = int(time.time()) - 600
        login_session.save(found)
    page = browser.get("/account/delete")
    assert 'id="reauth"' in page.get_data(as_text=True)
    resp = post_page(browser, "/account/sessions", action="/account/delete")
    assert resp.status_code == 403
    assert sign_in(english(app, "10.0.0.4"), citizen).status_code == 303  # nothing was deleted
