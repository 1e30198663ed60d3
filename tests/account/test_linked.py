"""/account/linked: the person's credentials, links to add the missing one, unlink buttons to the lead's route."""

from __future__ import annotations

from flask import Flask

from tests.ldap.conftest import BUDI
from tests.ldap.test_login import post_login

from .conftest import english, signed_in_citizen


def test_citizen_sees_own_link_and_the_staff_link_offer(ldap_app: object) -> None:
    app: Flask = ldap_app()  # type: ignore[operator]
    browser, _ = signed_in_citizen(app)
    html = browser.get("/account/linked").get_data(as_text=True)
    assert "Citizen account (NIK)" in html and 'href="/account/link/ldap"' in html
    assert "/account/unlink/" not in html  # the only credential cannot be removed


def test_linked_person_sees_both_with_unlink_buttons(ldap_app: object) -> None:
    from tests.ldap.test_linking import link_post

    app: Flask = ldap_app()  # type: ignore[operator]
    browser, _ = signed_in_citizen(app)
    assert link_post(browser, "ldap", *BUDI).status_code == 303
    html = browser.get("/account/linked").get_data(as_text=True)
    assert "Staff account (directory)" in html and "Citizen account (NIK)" in html
    assert html.count('action="/account/unlink/') == 2 and "/account/link/" not in html


def test_staff_sees_the_citizen_link_offer(ldap_app: object) -> None:
    app: Flask = ldap_app()  # type: ignore[operator]
    browser = english(app)
    assert post_login(browser, *BUDI).status_code == 303
    html = browser.get("/account/linked?lang=id").get_data(as_text=True)  # the switch back to Indonesian
    assert 'href="/account/link/citizen"' in html and 'lang="id"' in html
