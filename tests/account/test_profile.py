"""/account: the profile: the citizen's name correction (registration's rule, audited), e-mail correction with
re-verification of the new address (no enumeration, ``email_verified`` truthful throughout), staff data read only."""

from __future__ import annotations

import base64
import json
import re
import secrets
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import redis as redis_lib
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from idp.extensions import db
from idp.mail import mask_address
from idp.models import AuditEvent, CitizenAccount, Person
from tests.citizen.helpers import TOKEN_RE, body, csrf, mails_to, outbox, register_and_verify, sign_in
from tests.oauth.helpers import create_client

from .conftest import RP, english, post_page, signed_in_citizen

HOSTILE_NAMES = [
    ("", 400), ("   ", 400), ("x" * 201, 400), ("Budi\x00", 400), ("Budi\u202e", 400), ("<script>", 400),
    ("Budi 123", 400), ("Robert'); DROP TABLE people;--", 400), ("Budi\u200b", 400),
    ("Siti Nur'aini", 303), ("  Ahmad   Dahlan  ", 303), ("Dr. Ir. Made Wirawan", 303),
]


@pytest.mark.parametrize(("name", "status"), HOSTILE_NAMES)
def test_name_correction(app: Flask, name: str, status: int) -> None:
    browser, citizen = signed_in_citizen(app)
    resp = post_page(browser, "/account", {"full_name": name})
    assert resp.status_code == status
    with app.app_context():
        account = db.session.execute(select(CitizenAccount)).scalar_one()
        person = db.session.get(Person, account.person_id)
        expected = " ".join(name.split()) if status == 303 else citizen.name
        assert account.full_name == expected and person is not None and person.name == expected


def test_profile_shows_masked_nik_and_no_sub(app: Flask) -> None:
    browser, citizen = signed_in_citizen(app)
    html = browser.get("/account").get_data(as_text=True)
    with app.app_context():
        account = db.session.execute(select(CitizenAccount)).scalar_one()
        sub = db.session.get(Person, account.person_id).sub  # type: ignore[union-attr]
        masked = account.nik_masked
    assert masked in html and citizen.nik not in html and sub not in html
    assert citizen.email in html and 'id="save-name"' in html


def test_staff_profile_is_read_only(ldap_app: object) -> None:
    from tests.ldap.conftest import BUDI
    from tests.ldap.test_login import english, post_login

    app = ldap_app()  # type: ignore[operator]
    browser = english(app)
    assert post_login(browser, *BUDI).status_code == 303
    page = browser.get("/account")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and 'id="profile-nip"' in html and 'id="staff-readonly"' in html
    assert 'id="save-name"' not in html
    assert post_page(browser, "/account/sessions", {"full_name": "Someone Else"}, action="/account").status_code == 403


# --- e-mail correction with re-verification -------------------------------------------------------------
NEW_LINK_RE = re.compile(r"https?://\S+/account/email/confirm\?token=\S+")


def change_link(app: Flask, address: str) -> str | None:
    """The path + query of the newest e-mail change link mailed to ``address`` (None: no such mail)."""
    for msg in reversed(mails_to(app, address)):
        found = NEW_LINK_RE.search(body(msg))
        if found:
            parts = urlsplit(found.group(0))
            return f"{parts.path}?{parts.query}"
    return None


def open_link(browser: FlaskClient, link: str) -> Any:
    """Open the mailed link (a page with a button) and press the button."""
    page = browser.get(link)
    if page.status_code != 200:
        return page
    token = TOKEN_RE.search(page.get_data(as_text=True))
    assert token
    return browser.post("/account/email/confirm", data={"csrf_token": csrf(page.data), "token": token.group(1)})


def ask_change(browser: FlaskClient, address: str) -> Any:
    return post_page(browser, "/account", {"email": address}, action="/account/email")


def account_row(app: Flask, public_email: str | None = None) -> tuple[str, bool, str | None, bool]:
    """(account e-mail, verified?, person e-mail, person email_verified) of the only/first citizen account."""
    with app.app_context():
        query = select(CitizenAccount)
        if public_email:
            query = query.where(CitizenAccount.person_id == select(CitizenAccount.person_id).where(
                CitizenAccount.email == public_email).scalar_subquery())
        account = db.session.execute(query.order_by(CitizenAccount.id)).scalars().first()
        assert account is not None
        person = db.session.get(Person, account.person_id)
        assert person is not None
        return account.email, account.email_verified_at is not None, person.email, person.email_verified


def email_claims(app: Flask, browser: FlaskClient, person_id: int, sub: str, client_id: str,
                 secret: str | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """The ID token's and userinfo's claims for ``openid email`` through the code flow in ``browser``."""
    rp = RP(app=app, browser=browser, client_id=client_id, secret=secret, person_id=person_id, sub=sub)
    tokens = rp.tokens(scope="openid email")
    payload = tokens["id_token"].split(".")[1]
    id_token = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    info = browser.get("/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}).get_json()
    return id_token, info


def test_name_correction_is_audited(app: Flask) -> None:
    browser, _ = signed_in_citizen(app)
    assert post_page(browser, "/account", {"full_name": "Siti Nur'aini"}).status_code == 303
    with app.app_context():
        account = db.session.execute(select(CitizenAccount)).scalar_one()
        event = db.session.execute(select(AuditEvent).where(AuditEvent.event == "profile.updated")).scalar_one()
        assert event.person_id == account.person_id and event.detail == {"fields": ["name"]}


def test_email_change_takes_effect_only_when_the_new_address_is_confirmed(app: Flask) -> None:
    browser, citizen = signed_in_citizen(app)
    new = f"baru-{secrets.token_hex(4)}@example.net"
    with app.app_context():
        account = db.session.execute(select(CitizenAccount)).scalar_one()
        person_id, sub = account.person_id, account.person.sub
    client_id, secret = create_client(app, first_party=True)

    def claims() -> tuple[dict[str, Any], dict[str, Any]]:
        return email_claims(app, browser, person_id, sub, client_id, secret)

    id_token, info = claims()
    assert (id_token["email"], id_token["email_verified"]) == (citizen.email, True)
    assert (info["email"], info["email_verified"]) == (citizen.email, True)

    resp = ask_change(browser, new)
    assert resp.status_code == 303
    assert "confirmation link" in browser.get("/account").get_data(as_text=True)
    link = change_link(app, new)
    assert link is not None
    notice = [body(m) for m in mails_to(app, citizen.email) if "being changed" in str(m["Subject"])]
    assert len(notice) == 1 and new not in notice[0] and mask_address(new) in notice[0]
    # Pending: everything still uses the old, verified address.
    assert account_row(app) == (citizen.email, True, citizen.email, True)
    id_token, info = claims()
    assert (id_token["email"], id_token["email_verified"]) == (citizen.email, True)
    assert (info["email"], info["email_verified"]) == (citizen.email, True)
    other = english(app, "10.2.0.1")
    assert sign_in(other, citizen.email, citizen.password).status_code == 303
    assert sign_in(english(app, "10.2.0.2"), new, citizen.password).status_code == 401

    # The link works without a session (another device), once.
    done = open_link(english(app, "10.2.0.3"), link)
    assert done.status_code == 303
    assert account_row(app) == (new, True, new, True)
    id_token, info = claims()
    assert (id_token["email"], id_token["email_verified"]) == (new, True)
    assert (info["email"], info["email_verified"]) == (new, True)
    assert sign_in(english(app, "10.2.0.4"), new, citizen.password).status_code == 303
    assert sign_in(english(app, "10.2.0.5"), citizen.email, citizen.password).status_code == 401
    again = open_link(english(app, "10.2.0.6"), link)
    assert again.status_code == 400
    with app.app_context():
        events = db.session.execute(select(AuditEvent.event, AuditEvent.detail)
                                    .where(AuditEvent.person_id == person_id)).all()
        assert ("profile.updated", {"fields": ["email"]}) in events
        assert any(event == "email.change_requested" for event, _ in events)
        assert not any(new in str(detail) or citizen.email in str(detail) for _, detail in events)


def test_an_address_of_another_account_gets_the_same_answer(app: Flask) -> None:
    owner = register_and_verify(english(app, "10.2.1.1"))
    browser, citizen = signed_in_citizen(app)
    free = f"bebas-{secrets.token_hex(4)}@example.net"
    answers = []
    for address in (owner.email, free):
        resp = ask_change(browser, address)
        page = browser.get("/account").get_data(as_text=True)
        page = re.sub(r'name="csrf_token" type="hidden" value="[^"]+"', "", page)  # a fresh token per page
        answers.append((resp.status_code, resp.headers.get("Location"), page.replace(address, "")))
    assert answers[0] == answers[1]
    # The owner's mailbox got a notice and no link; the requester's old address got the usual notice.
    assert change_link(app, owner.email) is None
    in_use = [m for m in mails_to(app, owner.email) if "tried to use your e-mail" in str(m["Subject"])]
    assert len(in_use) == 1 and citizen.email not in body(in_use[0])
    assert len([m for m in mails_to(app, citizen.email) if "being changed" in str(m["Subject"])]) == 2
    assert account_row(app, citizen.email)[0] == citizen.email
    assert account_row(app, owner.email)[0] == owner.email


def test_only_the_newest_link_works_and_a_taken_address_is_refused_at_confirmation(app: Flask) -> None:
    browser, citizen = signed_in_citizen(app)
    first, second = (f"{n}-{secrets.token_hex(4)}@example.net" for n in ("satu", "dua"))
    assert ask_change(browser, first).status_code == 303
    assert ask_change(browser, second).status_code == 303
    old_link, new_link = change_link(app, first), change_link(app, second)
    assert old_link and new_link
    assert open_link(english(app, "10.2.2.1"), old_link).status_code == 400
    assert account_row(app)[0] == citizen.email
    # Someone registers the address before the link is opened: the link no longer changes anything.
    register_and_verify(english(app, "10.2.2.2"), email_address=second)
    assert open_link(english(app, "10.2.2.3"), new_link).status_code == 400
    assert account_row(app, citizen.email)[0] == citizen.email


@pytest.mark.parametrize(("address", "status"), [
    ("", 400), ("   ", 400), ("not-an-address", 400), ("a@b\x00.org", 400), ("x" * 250 + "@example.org", 400),
    ("<script>@example.org", 400), ("budi@exa mple.org", 400), ("SAME", 400),
])
def test_hostile_or_useless_addresses(app: Flask, address: str, status: int) -> None:
    browser, citizen = signed_in_citizen(app)
    before = len(outbox(app))
    resp = ask_change(browser, citizen.email.upper() if address == "SAME" else address)
    assert resp.status_code == status
    assert len(outbox(app)) == before
    assert account_row(app)[0] == citizen.email


@pytest.mark.parametrize("token", ["", "x", "a" * 129, "\x00", "%00", "../../etc/passwd"])
def test_hostile_tokens(app: Flask, token: str) -> None:
    browser = english(app)
    assert browser.get("/account/email/confirm", query_string={"token": token}).status_code == 400
    page = browser.get("/login")
    resp = browser.post("/account/email/confirm", data={"csrf_token": csrf(page.data), "token": token})
    assert resp.status_code == 400 and b"Traceback" not in resp.data


def test_email_change_needs_a_session_a_csrf_token_and_has_an_hourly_limit(app: Flask) -> None:
    anonymous = english(app)
    token = csrf(anonymous.get("/login").data)
    resp = anonymous.post("/account/email", data={"email": "x@example.org", "csrf_token": token})
    assert resp.status_code == 303 and "/login" in resp.headers["Location"]
    browser, citizen = signed_in_citizen(app)
    assert browser.post("/account/email", data={"email": "x@example.org"}).status_code == 400
    codes = [ask_change(browser, f"n{i}-{secrets.token_hex(3)}@example.net").status_code for i in range(4)]
    assert codes == [303, 303, 303, 429]


def test_the_link_token_is_stored_only_as_a_hash(app: Flask) -> None:
    browser, _ = signed_in_citizen(app)
    new = f"hash-{secrets.token_hex(4)}@example.net"
    assert ask_change(browser, new).status_code == 303
    link = change_link(app, new)
    assert link is not None
    token = parse_qs(urlsplit(link).query)["token"][0]
    conn = redis_lib.Redis.from_url(app.extensions["idp"].config["REDIS_URL"])
    try:
        for key in conn.scan_iter("*"):
            assert token.encode() not in key
            if conn.type(key) == b"string":
                assert token.encode() not in (conn.get(key) or b"")
            ttl = conn.ttl(key)
            assert ttl is not None and ttl > 0  # every entry expires
    finally:
        conn.close()


def test_staff_email_is_read_only_with_the_reason(ldap_app: object) -> None:
    from tests.ldap.conftest import BUDI
    from tests.ldap.test_login import english as ldap_english
    from tests.ldap.test_login import post_login

    app = ldap_app()  # type: ignore[operator]
    browser = ldap_english(app)
    assert post_login(browser, *BUDI).status_code == 303
    html = browser.get("/account").get_data(as_text=True)
    assert "budi.santoso@bantenprov.go.id" in html and 'id="email-readonly"' in html
    assert "agency's directory" in html and 'id="change-email"' not in html
    resp = post_page(browser, "/account/sessions", {"email": "budi@example.org"}, action="/account/email")
    assert resp.status_code == 403
    assert outbox(app) == []


def test_the_owner_of_an_address_gets_few_notices_whoever_asks(app: Flask) -> None:
    owner = register_and_verify(english(app, "10.2.3.1"))
    first, _ = signed_in_citizen(app)
    for _ in range(3):
        assert ask_change(first, owner.email).status_code == 303
    second = english(app, "10.2.3.2")
    other = register_and_verify(second)
    assert sign_in(second, other).status_code == 303
    assert ask_change(second, owner.email).status_code == 303  # the same answer as ever
    in_use = [m for m in mails_to(app, owner.email) if "tried to use your e-mail" in str(m["Subject"])]
    assert len(in_use) == 3
