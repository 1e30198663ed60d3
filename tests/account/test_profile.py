"""/account: the profile, with the citizen's name correction (registration's rule) and staff data read only."""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import select

from idp.extensions import db
from idp.models import CitizenAccount, Person

from .conftest import post_page, signed_in_citizen

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
