"""/account/data: the JSON download has what the page promises and no secrets."""

from __future__ import annotations

import json
from collections.abc import Callable

from flask import Flask
from sqlalchemy import select

from idp.extensions import db
from idp.models import CitizenAccount, Client, Consent, Person, RefreshToken
from tests.citizen.helpers import csrf

from .conftest import RP, english, post_page, signed_in_citizen


def test_download_contains_own_data_and_no_secrets(app: Flask, make_rp: Callable[..., RP]) -> None:
    browser, citizen = signed_in_citizen(app)
    other_browser, other = signed_in_citizen(app)  # someone else: none of their data may appear
    with app.app_context():
        account = db.session.execute(select(CitizenAccount).where(CitizenAccount.email == citizen.email)).scalar_one()
        person = db.session.get(Person, account.person_id)
        assert person is not None
        rp = make_rp(grant_types=["authorization_code", "refresh_token"])
        client = db.session.execute(select(Client).where(Client.client_id == rp.client_id)).scalar_one()
        db.session.add(Consent(person_id=person.id, client_id=client.id, scopes="openid email"))
        db.session.commit()
        secrets_ = [account.password_hash, account.nik_hash, account.nik_enc, account.public_id]
        person_id = person.id
    rp.person_id, rp.sub = person_id, person.sub
    rp.sign_in()
    issued = rp.tokens(scope="openid offline_access")
    resp = post_page(browser, "/account/data")
    assert resp.status_code == 200
    assert resp.headers["Cache-Control"] == "no-store"
    assert resp.headers["Content-Disposition"].startswith("attachment")
    text = resp.get_data(as_text=True)
    data = json.loads(text)
    assert set(data) >= {"profile", "linked_accounts", "consents", "sessions", "recent_events", "citizen_account"}
    assert data["citizen_account"]["nik"] == citizen.nik  # the owner gets the full NIK
    assert data["profile"]["email"] == citizen.email
    assert [c["client_id"] for c in data["consents"]] == [rp.client_id]
    assert data["linked_accounts"][0]["source"] == "citizen"
    assert data["sessions"] and len(data["recent_events"]) <= 50
    for secret in [*secrets_, issued["refresh_token"], issued["access_token"], other.nik, other.email]:
        assert secret not in text
    with app.app_context():
        for row in db.session.execute(select(RefreshToken)).scalars():
            assert row.token_hash not in text and row.family_id not in text
    assert not [k for k in data["citizen_account"] if "hash" in k or k in ("password", "nik_enc")]
    assert other_browser.get("/account").status_code == 200


def test_download_needs_post_with_csrf(app: Flask) -> None:
    browser, _ = signed_in_citizen(app)
    page = browser.get("/account/data")
    assert page.status_code == 200 and page.mimetype == "text/html"
    assert browser.post("/account/data", data={}).status_code == 400
    assert browser.post("/account/data", data={"csrf_token": csrf(page.data)}).mimetype == "application/json"
    assert english(app).post("/account/data", data={"csrf_token": csrf(page.data)}).status_code != 200
