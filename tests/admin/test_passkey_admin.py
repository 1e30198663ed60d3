"""An administrator's mandatory second factor may be a passkey: directory password first, then the
passkey (never the passkey alone: staff have no passwordless sign-in)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from idp import assurance
from idp.extensions import db
from idp.models import CitizenAccount
from idp.sources.ldap import get_connector
from tests.account.test_passkeys import ISSUER, RP_ID, add_passkey, options, passwordless, session_of
from tests.citizen.helpers import csrf, register_and_verify, sign_in
from tests.ldap.conftest import BUDI, SITI, ldap_settings
from tests.webauthn_soft import SoftAuthenticator

from .conftest import english, staff


@pytest.fixture
def app(oauth_app: Callable[..., Flask], slapd_main: Any) -> Iterator[Flask]:
    made = oauth_app(ISSUER=ISSUER, **ldap_settings([slapd_main.url]))
    yield made
    found = get_connector(made)
    if found is not None:
        found.close()


def test_admin_uses_a_passkey_as_the_second_factor(app: Flask) -> None:
    browser = staff(app, BUDI)  # the directory password only: the console asks for a second factor
    assert browser.get("/admin").status_code == 403
    authenticator = SoftAuthenticator(RP_ID, ISSUER)
    assert add_passkey(browser, authenticator, name="Kunci kantor").status_code == 200
    # A new sign-in: the directory password, then the passkey.
    fresh = english(app, "10.0.0.3")
    assert sign_in(fresh, BUDI[0], BUDI[1], kind="ldap").headers["Location"].startswith("/login/two-step")
    ceremony, opts, token = options(fresh, "/login/two-step", "/login/two-step/passkey/options")
    done = fresh.post("/login/two-step/passkey", data={"csrf_token": token, "ceremony": ceremony,
                                                       "credential": authenticator.get(opts)})
    assert done.status_code == 303
    current = session_of(app, fresh)
    assert current.acr == assurance.MFA and {"pwd", "hwk", "mfa"} <= set(current.amr)
    assert fresh.get("/admin").status_code == 200
    # The passkey alone does not sign a staff member in.
    alone = english(app, "10.0.0.4")
    resp = passwordless(alone, authenticator)
    assert resp.headers["Location"].startswith("/login") and alone.get_cookie("idp_session") is None


def test_linking_an_account_with_a_passkey_needs_that_passkey(app: Flask) -> None:
    """A staff member links their citizen account, which is protected by a passkey: its password alone is
    not enough; the passkey of that account (not another one) finishes the link."""
    owner = english(app, "10.0.0.5")
    citizen = register_and_verify(owner)
    assert sign_in(owner, citizen).status_code == 303
    citizens_key = SoftAuthenticator(RP_ID, ISSUER)
    assert add_passkey(owner, citizens_key).status_code == 200
    siti = staff(app, SITI, "10.0.0.6")
    strangers_key = SoftAuthenticator(RP_ID, ISSUER)
    assert add_passkey(siti, strangers_key).status_code == 200  # siti's own passkey proves nothing here
    page = siti.get("/account/link/citizen")
    resp = siti.post("/account/link/citizen", data={"csrf_token": csrf(page.data), "identifier": citizen.nik,
                                                    "password": citizen.password})
    assert resp.headers["Location"].endswith("/account/link/citizen/two-step")
    for key, linked in ((strangers_key, False), (citizens_key, True)):
        ceremony, opts, token = options(siti, "/account/link/citizen/two-step",
                                        "/account/link/citizen/two-step/passkey-options")
        done = siti.post("/account/link/citizen/two-step", data={"csrf_token": token, "ceremony": ceremony,
                                                                 "credential": key.get(opts)})
        assert (done.status_code == 303) is linked, done.status_code
    with app.app_context():
        linked_to = db.session.execute(select(CitizenAccount.person_id).where(
            CitizenAccount.email == citizen.email)).scalar_one()
    assert session_of(app, siti).person_id == linked_to  # one person now (the merge's survivor)
