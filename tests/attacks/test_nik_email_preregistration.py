"""The e-mail pre-registration trick (issue 15), as the attacker performs it.

The attacker registers the victim's e-mail address (and a NIK) with a password of the attacker's own and
waits: the victim gets a "confirm your address" mail and presses the button.  Before, that activated an
account whose password the attacker knows.  Now a link opened in another browser than the registering
one asks for the password chosen at registration: the victim cannot give it, and the attacker, who
knows it, has no link.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask
from sqlalchemy import select

from idp.extensions import db
from idp.models import CitizenAccount
from tests.citizen.helpers import PASSWORD, TOKEN_RE, csrf, register, sign_in, verification_link
from tests.helpers import choose_english

VICTIM = "korban@example.org"


@pytest.fixture
def app(oauth_app: Callable[..., Flask]) -> Flask:
    return oauth_app()


def _client(app: Flask):
    return choose_english(app.test_client())


def _press(browser, link: str, password: str | None = None):
    page = browser.get(link)
    assert page.status_code == 200
    data = {"csrf_token": csrf(page.data), "token": TOKEN_RE.search(page.data.decode()).group(1)}
    if password is not None:
        data["password"] = password
    return page, browser.post("/verify-email", data=data)


def _verified(app: Flask) -> bool:
    with app.app_context():
        account = db.session.execute(select(CitizenAccount).where(CitizenAccount.email == VICTIM)).scalar_one()
        return account.email_verified_at is not None


def test_the_victim_pressing_the_link_does_not_activate_the_attackers_password(app) -> None:
    attacker = _client(app)
    _, resp = register(attacker, email_address=VICTIM, password=PASSWORD)
    assert resp.status_code == 303
    victim = _client(app)
    link = verification_link(app, VICTIM)
    page, pressed = _press(victim, link)
    assert 'id="verify-needs-password"' in page.get_data(as_text=True)
    assert pressed.status_code == 400 and not _verified(app)
    for guess in ("my own password 123", "another guess here"):  # the victim tries their own passwords
        _, pressed = _press(victim, link, guess)
        assert pressed.status_code == 400 and "not the password" in pressed.get_data(as_text=True)
    assert not _verified(app)
    # The attacker's password still does not sign in: the address was never confirmed.
    assert sign_in(_client(app), VICTIM, PASSWORD).status_code != 303


def test_wrong_passwords_use_the_link_up(app) -> None:
    register(_client(app), email_address=VICTIM)
    link = verification_link(app, VICTIM)
    other = _client(app)
    for _ in range(5):
        _press(other, link, "not the password at all")
    assert other.get(link).status_code == 400  # gone: guessing the password through the link stops here
    assert not _verified(app)


def test_the_registrant_confirms_in_another_browser_with_the_password(app) -> None:
    register(_client(app), email_address=VICTIM)  # on the computer
    phone = _client(app)  # the mail is read on the phone
    _, pressed = _press(phone, verification_link(app, VICTIM), PASSWORD)
    assert pressed.status_code == 303 and _verified(app)
    assert sign_in(_client(app), VICTIM, PASSWORD).status_code == 303


def test_the_registering_browser_needs_no_password(app) -> None:
    browser = _client(app)
    register(browser, email_address=VICTIM)
    page, pressed = _press(browser, verification_link(app, VICTIM))
    assert 'id="verify-needs-password"' not in page.get_data(as_text=True)
    assert pressed.status_code == 303 and _verified(app)
