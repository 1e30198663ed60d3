"""E-mail verification: the link is single use and expires, a mail scanner's GET does not use it up,
resending never reveals whether an address has an account, ``req`` survives the detour; opened in the
browser that registered, the link signs the person in and goes on to the application (issue 16), a
mistyped address can be corrected from the "check your mail" page."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import select

from idp import assurance
from idp.extensions import db
from idp.models import CitizenAccount, Person

from .helpers import confirm, csrf, mails_to, register, register_and_verify, sign_in, verification_link


def test_link_confirms_once(client, app):
    citizen, _ = register(client)
    link = verification_link(app, citizen.email)
    client = app.test_client()  # opened on another device: confirmed, not signed in
    assert client.get(link).status_code == 200
    assert client.get(link).status_code == 200  # a link scanner's GET does not consume it
    resp = confirm(client, link, password=citizen.password)  # another browser: the password chosen (issue 15)
    assert resp.status_code == 303 and resp.headers["Location"] == "/login"
    with app.app_context():
        account = db.session.execute(select(CitizenAccount)).scalar_one()
        assert account.email_verified_at is not None
        assert db.session.get(Person, account.person_id).email_verified is True
    again = client.get(link)
    assert again.status_code == 400 and b'id="verify-invalid"' in again.data
    token = link.split("token=")[1]
    page = client.get("/verify-email/resend")
    replay = client.post("/verify-email", data={"csrf_token": csrf(page.data), "token": token})
    assert replay.status_code == 400


def test_link_expires(make_app):
    app = make_app(EMAIL_VERIFY_TTL=600)
    client = app.test_client()
    citizen, _ = register(client)
    link = verification_link(app, citizen.email)
    store = app.extensions["idp"].store
    token = link.split("token=")[1]
    assert 590 <= store.ttl("email-verify", token) <= 600
    store.put("email-verify", token, store.get("email-verify", token), 1)
    time.sleep(1.2)
    assert client.get(link).status_code == 400


@pytest.mark.parametrize("token", ["", "nope", "x" * 500, "' OR 1=1 --", "\x00", "<script>"])
def test_bad_tokens_give_a_clear_page(client, token):
    resp = client.get("/verify-email", query_string={"token": token})
    assert resp.status_code == 400
    assert b'id="verify-invalid"' in resp.data and b"Traceback" not in resp.data
    page = client.get("/verify-email/resend")
    posted = client.post("/verify-email", data={"csrf_token": csrf(page.data), "token": token})
    assert posted.status_code == 400


def test_verification_without_csrf_is_refused(client, app):
    citizen, _ = register(client)
    token = verification_link(app, citizen.email).split("token=")[1]
    assert client.post("/verify-email", data={"token": token}).status_code == 400
    with app.app_context():
        assert db.session.execute(select(CitizenAccount.email_verified_at)).scalar_one() is None


def test_req_is_carried_to_the_sign_in_page(client, app):
    req = "v" * 32
    app.extensions["idp"].store.put("authreq", req, {"params": [], "client_id": "c", "client_name": "Portal",
                                                     "created": int(time.time())}, 600)
    citizen, _ = register(client, req=req)
    client = app.test_client()  # another browser
    resp = confirm(client, verification_link(app, citizen.email), password=citizen.password)
    assert resp.headers["Location"] == f"/login?req={req}"
    assert b"confirmed" in client.get(resp.headers["Location"]).data
    signed = sign_in(client, citizen, req=req)
    assert signed.headers["Location"] == f"/authorize/resume?req={req}"


def resend(client, address):
    page = client.get("/verify-email/resend")
    return client.post("/verify-email/resend", data={"csrf_token": csrf(page.data), "email": address})


@pytest.mark.parametrize("who", ["unverified", "verified", "unknown", "malformed", "hostile", "long"])
def test_resend_answers_the_same_for_everybody(make_app, who):
    app = make_app()
    client = app.test_client()
    unverified, _ = register(client)
    verified = register_and_verify(app.test_client())
    address = {"unverified": unverified.email, "verified": verified.email, "unknown": "ghost@example.org",
               "malformed": "not-an-address", "hostile": "a@b\x00<script>", "long": "a" * 10_000 + "@x.org"}[who]
    before = len(mails_to(app, unverified.email))
    resp = resend(client, address)
    assert resp.status_code == 200
    assert b'id="resend-sent"' in resp.data
    reference = resend(app.test_client(), "ghost2@example.org")
    assert _text(resp.data) == _text(reference.data)
    sent = len(mails_to(app, unverified.email)) - before
    assert sent == (1 if who == "unverified" else 0)


def _text(html: bytes) -> str:
    import re

    return re.sub(r'value="[^"]*"', "", html.decode())


def test_resent_link_works_and_resends_are_capped(client, app):
    citizen, _ = register(client)
    for _ in range(5):
        resend(client, citizen.email)
    assert len(mails_to(app, citizen.email)) == 1 + 3  # registration + three resends per hour
    assert confirm(client, verification_link(app, citizen.email)).status_code == 303
    assert sign_in(client, citizen).status_code == 303


def test_resend_button_on_the_sign_in_page(client, app):
    citizen, _ = register(client)
    page = sign_in(client, citizen)
    assert page.status_code == 403
    html = page.data.decode()
    assert citizen.email in html  # shown only after the right password
    import re

    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)
    resp = client.post("/verify-email/resend", data={"csrf_token": token, "email": citizen.email})
    assert resp.status_code == 200
    assert len(mails_to(app, citizen.email)) == 2


def test_mail_is_bilingual_and_names_the_link(client, app):
    citizen, _ = register(client)
    msg = mails_to(app, citizen.email)[-1]
    body = msg.get_content()
    assert "/verify-email?token=" in body
    assert "Budi Santoso" in body
    assert msg["From"] and msg["Message-ID"] and msg["Date"]


def test_the_same_browser_is_signed_in_and_goes_on_to_the_application(client, app):
    req = "w" * 32
    app.extensions["idp"].store.put("authreq", req, {"params": [], "client_id": "c", "client_name": "Portal",
                                                     "created": int(time.time())}, 600)
    citizen, _ = register(client, req=req)
    resp = confirm(client, verification_link(app, citizen.email))
    assert resp.status_code == 303 and resp.headers["Location"] == f"/authorize/resume?req={req}"
    assert client.get("/account").status_code == 200


def test_an_application_asking_for_two_step_is_not_skipped(client, app):
    req = "m" * 32
    app.extensions["idp"].store.put("authreq", req, {"params": [["acr_values", assurance.MFA]],
                                                     "client_id": "c", "created": int(time.time())}, 600)
    citizen, _ = register(client, req=req)
    resp = confirm(client, verification_link(app, citizen.email))
    assert resp.headers["Location"] == f"/login?req={req}"
    assert client.get("/account").status_code == 303


def test_a_duplicate_registration_signs_nobody_in(client, app):
    owner, _ = register(app.test_client())
    register(client, nik=owner.nik)  # this browser's handle names nothing
    resp = confirm(client, verification_link(app, owner.email))  # even with the owner's link
    assert resp.status_code == 400  # another browser than the owner's: the owner's password is asked first
    assert client.get("/account").status_code == 303


def correct(client, address):
    page = client.get("/verify-email/resend")  # any page's token (the sent page has no form without a registration)
    return client.post("/register-account/correct-email", data={"csrf_token": csrf(page.data), "email": address})


def test_the_check_your_mail_page_shows_the_address_and_corrects_it(client, app):
    citizen, resp = register(client, email_address="budi.typo@exmaple.org")
    page = client.get(resp.headers["Location"]).data.decode()
    assert "b***@exmaple.org" in page and 'id="correct-email"' in page
    old_link = verification_link(app, "budi.typo@exmaple.org")
    fixed = correct(client, "budi.santoso@example.org")
    assert fixed.status_code == 303
    assert "b***@example.org" in client.get(fixed.headers["Location"]).data.decode()
    assert confirm(app.test_client(), old_link).status_code == 400  # the mistyped address's link stopped working
    done = confirm(client, verification_link(app, "budi.santoso@example.org"))
    assert done.status_code == 303 and done.headers["Location"] == "/"
    assert sign_in(app.test_client(), citizen.nik, citizen.password).status_code == 303


def test_correcting_to_an_address_in_use_tells_its_owner_only(client, app):
    owner = register_and_verify(app.test_client())
    citizen, _ = register(client)
    before = len(mails_to(app, owner.email))
    assert correct(client, owner.email).status_code == 303
    assert len(mails_to(app, owner.email)) == before + 1  # the "address in use" notice, no link
    with app.app_context():
        account = db.session.execute(select(CitizenAccount).where(CitizenAccount.email == citizen.email)).scalar_one()
        assert account.email_verified_at is None


def test_corrections_need_this_browsers_registration_and_are_capped(client, app):
    assert correct(app.test_client(), "x@example.org").headers["Location"] == "/register-account"
    register(client)
    answers = [correct(client, f"n{n}@example.org").status_code for n in range(4)]
    assert answers == [303, 303, 303, 429]
