"""/account/password: citizens change their password; the rules of registration; other sessions end."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.citizen.helpers import PASSWORD, sign_in

from .conftest import english, post_page, signed_in_citizen

NEW = "sate ayam pakai lontong"


def change(browser: FlaskClient, current: str, new: str, confirm: str | None = None) -> Any:
    data = {"current_password": current, "password": new, "password_confirm": new if confirm is None else confirm}
    return post_page(browser, "/account/password", data)


HOSTILE = [
    ("wrong current password", NEW, None),
    (PASSWORD, "short", None),
    (PASSWORD, "password123", None),
    (PASSWORD, NEW, "something else entirely"),
    (PASSWORD, NEW, ""),
    (PASSWORD, "x" * 300, None),
    (PASSWORD, "abcdefghij\x00kl", None),
    ("", NEW, None),
    ("x" * 5000, NEW, None),
]


@pytest.mark.parametrize(("current", "new", "confirm"), HOSTILE)
def test_refused_changes_keep_the_old_password(app: Flask, current: str, new: str, confirm: str | None) -> None:
    browser, citizen = signed_in_citizen(app)
    resp = change(browser, current, new, confirm)
    assert resp.status_code == 400
    assert sign_in(english(app, "10.1.1.1"), citizen).status_code == 303


def test_own_nik_is_refused(app: Flask) -> None:
    browser, citizen = signed_in_citizen(app)
    assert change(browser, PASSWORD, citizen.nik).status_code == 400


def test_change_ends_other_sessions_only(app: Flask) -> None:
    browser, citizen = signed_in_citizen(app)
    other = english(app, "10.0.0.7")
    assert sign_in(other, citizen).status_code == 303
    resp = change(browser, PASSWORD, NEW)
    assert resp.status_code == 303
    assert browser.get("/account").status_code == 200
    assert other.get("/account").status_code == 303
    assert sign_in(english(app, "10.0.0.6"), citizen.nik, PASSWORD).status_code == 401
    assert sign_in(english(app, "10.0.0.5"), citizen.nik, NEW).status_code == 303


def test_staff_have_no_password_page(ldap_app: object) -> None:
    from tests.ldap.conftest import BUDI
    from tests.ldap.test_login import post_login

    app = ldap_app()  # type: ignore[operator]
    browser = english(app)
    assert post_login(browser, *BUDI).status_code == 303
    assert browser.get("/account/password").status_code == 404
