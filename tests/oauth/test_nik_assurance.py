"""How well a NIK is proven: the NIK levels in ``acr``/``acr_values`` and the ``nik_verified`` claims (issue 15)."""

from __future__ import annotations

import warnings

import pytest
from joserfc import jwt
from joserfc.errors import SecurityWarning
from joserfc.jwk import KeySet

from idp import assurance
from idp.extensions import db
from idp.models import CitizenAccount

from . import helpers
from .test_userinfo import _consent

REVIEW, SELF, REGISTRY, IN_PERSON = (assurance.CITIZEN_REVIEW, assurance.CITIZEN, assurance.CITIZEN_REGISTRY,
                                     assurance.CITIZEN_IN_PERSON)
STAFF, MFA = assurance.STAFF, assurance.MFA


def _set_level(rp, level: str | None) -> None:
    """The person's NIK level as an officer or the registry left it (None: the person holds no NIK)."""
    with rp.app.app_context():
        account = db.session.query(CitizenAccount).filter_by(person_id=rp.person_id).one()
        if level is None:
            db.session.delete(account)
        else:
            account.assurance = level
        db.session.commit()


def _id_token_claims(rp, id_token: str) -> dict:
    jwks = KeySet.import_key_set(rp.browser.get("/jwks.json").get_json())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SecurityWarning)
        return dict(jwt.decode(id_token, jwks, algorithms=["RS256", "ES256", "EdDSA"]).claims)


# (session acr, the person's NIK level, requested acr_values, met?)
CASES = [
    (SELF, SELF, REGISTRY, False),
    (SELF, REGISTRY, REGISTRY, True),  # verified after the sign-in: the account's level now counts
    (REGISTRY, REGISTRY, REGISTRY, True),
    (IN_PERSON, IN_PERSON, REGISTRY, True),  # a higher NIK proof meets a lower one
    (REGISTRY, REGISTRY, IN_PERSON, False),
    (MFA, SELF, REGISTRY, False),  # a second factor proves nothing about the NIK
    (MFA, IN_PERSON, IN_PERSON, True),
    (STAFF, None, REGISTRY, False),  # a staff sign-in without a NIK
    (STAFF, None, SELF, True),  # unchanged: staff meets "citizen" as before
    (REGISTRY, SELF, REGISTRY, False),  # the NIK moved away (dispute) since the sign-in
    (REVIEW, REVIEW, SELF, False),
    (SELF, SELF, f"{IN_PERSON} {SELF}", True),  # any one of the requested values
    (MFA, REGISTRY, f"{IN_PERSON} {MFA}", True),
]


@pytest.mark.parametrize(("session_acr", "level", "requested", "met"), CASES)
def test_acr_values_ask_for_a_nik_proof(make_rp, session_acr, level, requested, met) -> None:
    rp = make_rp()
    rp.sign_in(acr=session_acr, amr=["pwd", "otp", "mfa"] if session_acr == MFA else ["pwd"])
    _set_level(rp, level)
    resp = rp.authorize(acr_values=requested)
    assert resp.status_code == 302
    query = helpers.query(resp.headers["Location"])
    if met:
        assert "code" in query, resp.headers["Location"]
    else:
        assert "/login?req=" in resp.headers["Location"]
        # acr_values are voluntary (Core 5.5.1.1) but prompt=none cannot show the sign-in page.
        again = helpers.query(rp.authorize(acr_values=requested, prompt="none").headers["Location"])
        assert again.get("error") == "login_required"


@pytest.mark.parametrize(("session_acr", "level", "requested", "expected"), [
    (MFA, REGISTRY, REGISTRY, REGISTRY),  # the satisfied class, not "mfa" (Core 2, 3.1.2.1)
    (MFA, IN_PERSON, f"{REGISTRY} {IN_PERSON}", REGISTRY),  # the application's first preference that is met
    (REGISTRY, REGISTRY, REGISTRY, REGISTRY),
    (IN_PERSON, IN_PERSON, REGISTRY, REGISTRY),
    (MFA, REGISTRY, f"{MFA} {REGISTRY}", MFA),  # the session's own value when it was asked for
    (IN_PERSON, IN_PERSON, "", IN_PERSON),  # no acr_values: the sign-in's level
])
def test_id_token_acr_names_the_satisfied_level(make_rp, session_acr, level, requested, expected) -> None:
    rp = make_rp()
    rp.sign_in(acr=session_acr, amr=["pwd", "otp", "mfa"] if session_acr == MFA else ["pwd"])
    _set_level(rp, level)
    body = rp.tokens(acr_values=requested or None)
    claims = _id_token_claims(rp, body["id_token"])
    assert claims["acr"] == expected
    if session_acr == MFA:
        assert claims["amr"] == ["pwd", "otp", "mfa"]  # the second factor stays visible in amr


@pytest.mark.parametrize(("level", "verified", "method"), [
    (SELF, False, "self-declared"), (REVIEW, False, "self-declared"),
    (REGISTRY, True, "registry"), (IN_PERSON, True, "in-person"),
])
def test_userinfo_says_how_the_nik_was_proven(make_rp, level, verified, method) -> None:
    rp = make_rp(approved_scopes="nik")
    _set_level(rp, level)
    _consent(rp)
    body = rp.tokens(scope="openid nik")
    info = rp.browser.get("/userinfo", headers={"Authorization": "Bearer " + body["access_token"]}).get_json()
    assert info["nik"] == helpers.NIK
    assert info["nik_verified"] is verified and info["nik_verification"] == method
    assert "nik_verified" not in _id_token_claims(rp, body["id_token"])  # with the NIK: UserInfo only


def test_nik_claims_need_the_nik_scope(make_rp) -> None:
    rp = make_rp(approved_scopes="nik")
    _set_level(rp, IN_PERSON)
    body = rp.tokens(scope="openid profile")
    info = rp.browser.get("/userinfo", headers={"Authorization": "Bearer " + body["access_token"]}).get_json()
    assert not {"nik", "nik_verified", "nik_verification"} & set(info)


def test_discovery_names_the_levels_and_claims(rp) -> None:
    doc = rp.browser.get("/.well-known/openid-configuration").get_json()
    assert {REGISTRY, IN_PERSON} <= set(doc["acr_values_supported"])
    assert {"nik_verified", "nik_verification"} <= set(doc["claims_supported"])


def test_satisfies_keeps_its_order() -> None:
    assert assurance.satisfies(STAFF, [SELF]) and assurance.satisfies(MFA, [STAFF])
    assert not assurance.satisfies(SELF, [STAFF]) and not assurance.satisfies(REGISTRY, [MFA])
    assert assurance.satisfies(IN_PERSON, [REGISTRY]) and not assurance.satisfies(REGISTRY, [IN_PERSON])
    assert not assurance.satisfies(MFA, [REGISTRY]) and assurance.satisfies(MFA, [REGISTRY], REGISTRY)
    assert assurance.satisfies(None, []) and not assurance.satisfies(None, [SELF])
