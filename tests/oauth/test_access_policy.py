"""Access policies per application (issue 18): staff only, citizens only, directory groups, a minimum
assurance level; each rule through the code flow, again at refresh, and the registration rules.

A person who does not qualify sees a page naming the application and why (403), never a code; the way
back hands the application ``access_denied`` with ``state`` and ``iss``; ``prompt=none`` gets
``access_denied`` at once.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select, update

from idp import assurance
from idp.extensions import db
from idp.models import AuditEvent, Person, StaffAccount
from idp.oauth import registration

from . import helpers
from .conftest import RP

GROUP = "cn=Kepegawaian,ou=Groups,dc=bantenprov,dc=go,dc=id"
OTHER_GROUP = "cn=Keuangan,ou=Groups,dc=bantenprov,dc=go,dc=id"


def citizen(app: Flask) -> tuple[int, str]:
    """Another citizen (its own NIK: the make_rp fixture's person holds the default one)."""
    return helpers.create_person(app, nik=f"360301450190{secrets.randbelow(9000) + 1000}")


def make_staff(app: Flask, *, groups: list[str] | None = None, linked: bool = False) -> tuple[int, str]:
    """A person with an active staff record (and a citizen account when ``linked``)."""
    if linked:
        person_id, sub = citizen(app)
    else:
        with app.app_context():
            person = Person(sub=secrets.token_urlsafe(32), name="Budi Pegawai", email_verified=False)
            db.session.add(person)
            db.session.commit()
            person_id, sub = person.id, person.sub
    with app.app_context():
        db.session.add(StaffAccount(person_id=person_id, entry_uuid=secrets.token_hex(16),
                                    dn=f"uid=budi{person_id},ou=People,dc=bantenprov,dc=go,dc=id",
                                    username=f"budi{person_id}", groups=groups or [], roles=[]))
        db.session.commit()
    return person_id, sub


def as_person(rp: RP, person_id: int, sub: str, acr: str = assurance.STAFF) -> RP:
    rp.person_id, rp.sub = person_id, sub
    rp.browser = rp.app.test_client()
    rp.sign_in(acr=acr)
    return rp


def assert_refused(rp: RP, reason_fragment: str, **params: Any) -> None:
    resp = rp.authorize(**params)
    body = resp.get_data(as_text=True)
    assert resp.status_code == 403, body
    assert "Location" not in resp.headers
    assert "code=" not in body
    with rp.app.app_context():
        audited = db.session.execute(
            select(AuditEvent).where(AuditEvent.event == "oauth.access_denied",
                                     AuditEvent.client_id == rp.client_id)).scalars().first()
    assert audited is not None
    assert "Test App " + rp.client_id in body  # the page names the application
    assert reason_fragment in body
    assert 'id="helpdesk"' in body  # a dead end for the person: the help desk is named (issue 16)
    # The way back gives the application access_denied with its state and the issuer (RFC 9207).
    back = body.split('id="refused-back" href="')[1].split('"')[0].replace("&amp;", "&")
    assert back.startswith(helpers.REDIRECT + "?")
    q = helpers.query(back)
    assert q["error"] == "access_denied" and q["state"] == "st-123" and q["iss"] == "http://127.0.0.1:5000"
    assert "code" not in q


@pytest.fixture
def policy_rp(make_rp: Callable[..., RP]) -> Callable[..., RP]:
    def factory(**policy: Any) -> RP:
        return make_rp(signed_in=False, grant_types=["authorization_code", "refresh_token"],
                       **policy)
    return factory


def english(params: dict[str, Any]) -> dict[str, Any]:
    return {"ui_locales": "en", **params}


# --- staff only ------------------------------------------------------------------------------------
def test_staff_only_refuses_a_citizen_and_admits_staff(app: Flask, policy_rp: Callable[..., RP]) -> None:
    rp = policy_rp(required_person_type="staff")
    citizen_id, citizen_sub = citizen(app)
    as_person(rp, citizen_id, citizen_sub, acr=assurance.CITIZEN)
    assert_refused(rp, "for staff of the provincial government only", ui_locales="en")
    staff_id, staff_sub = make_staff(app)
    as_person(rp, staff_id, staff_sub)
    code, q = rp.get_code()
    assert code and q["state"] == "st-123"


def test_refusal_page_is_indonesian_by_default(app: Flask, policy_rp: Callable[..., RP]) -> None:
    rp = policy_rp(required_person_type="staff")
    citizen_id, citizen_sub = citizen(app)
    as_person(rp, citizen_id, citizen_sub, acr=assurance.CITIZEN)
    resp = rp.authorize(ui_locales="id")
    assert resp.status_code == 403
    assert "Anda tidak dapat masuk ke" in resp.get_data(as_text=True)


# --- citizens only ---------------------------------------------------------------------------------
def test_citizens_only_refuses_staff_without_a_citizen_account(app: Flask, policy_rp: Callable[..., RP]) -> None:
    rp = policy_rp(required_person_type="citizen")
    staff_id, staff_sub = make_staff(app)
    as_person(rp, staff_id, staff_sub)
    assert_refused(rp, "for citizens only", ui_locales="en")
    linked_id, linked_sub = make_staff(app, linked=True)  # a linked person is a citizen too
    as_person(rp, linked_id, linked_sub)
    assert rp.get_code()[0]


# --- directory groups -----------------------------------------------------------------------------
def test_groups_admit_members_only(app: Flask, policy_rp: Callable[..., RP]) -> None:
    rp = policy_rp(required_groups=[GROUP])
    outsider_id, outsider_sub = make_staff(app, groups=[OTHER_GROUP])
    as_person(rp, outsider_id, outsider_sub)
    assert_refused(rp, "members of particular units or groups", ui_locales="en")
    citizen_id, citizen_sub = citizen(app)
    as_person(rp, citizen_id, citizen_sub, acr=assurance.CITIZEN)
    assert_refused(rp, "members of particular units or groups", ui_locales="en")
    # DNs compare normalised: the directory's spelling may differ in case and spacing.
    member_id, member_sub = make_staff(app, groups=[OTHER_GROUP, "CN=kepegawaian, OU=Groups,DC=bantenprov,dc=go,dc=id"])
    as_person(rp, member_id, member_sub)
    assert rp.get_code()[0]


# --- minimum assurance level ----------------------------------------------------------------------
def test_second_factor_required_steps_up_then_admits(app: Flask, policy_rp: Callable[..., RP]) -> None:
    rp = policy_rp(required_acr=assurance.MFA)
    person_id, sub = citizen(app)
    as_person(rp, person_id, sub, acr=assurance.CITIZEN)
    resp = rp.authorize()
    # Only the second factor is missing: the person is asked for it (never a code, never a password again).
    assert resp.status_code == 303 and "/login/two-step" in resp.headers["Location"], resp.headers.get("Location")
    # prompt=none cannot show that page: access_denied at once, to the application.
    resp = rp.authorize(prompt="none")
    assert resp.status_code == 302
    q = helpers.query(resp.headers["Location"])
    assert q["error"] == "access_denied" and "code" not in q
    as_person(rp, person_id, sub, acr=assurance.MFA)
    assert rp.get_code()[0]


def test_staff_level_refuses_a_citizen_sign_in(app: Flask, policy_rp: Callable[..., RP]) -> None:
    rp = policy_rp(required_acr=assurance.STAFF)
    person_id, sub = make_staff(app, linked=True)
    as_person(rp, person_id, sub, acr=assurance.CITIZEN)  # signed in with the citizen account
    assert_refused(rp, "stronger sign-in", ui_locales="en")
    as_person(rp, person_id, sub, acr=assurance.STAFF)
    assert rp.get_code()[0]


def test_a_nik_proof_level_is_judged_on_the_nik_as_it_stands(app: Flask, policy_rp: Callable[..., RP]) -> None:
    """Issue 15 with issue 18: an application requiring a registry-matched NIK by registration admits a
    person whose NIK is registry-matched now, and refuses one whose session says so but whose NIK no
    longer is (lost in a dispute since)."""
    from idp.models import CitizenAccount

    rp = policy_rp(required_acr=assurance.CITIZEN_REGISTRY)
    person_id, sub = citizen(app)
    as_person(rp, person_id, sub, acr=assurance.CITIZEN_REGISTRY)  # the session's stale claim
    assert_refused(rp, "stronger sign-in", ui_locales="en")
    with app.app_context():
        db.session.execute(update(CitizenAccount).where(CitizenAccount.person_id == person_id)
                           .values(assurance=assurance.CITIZEN_REGISTRY))
        db.session.commit()
    as_person(rp, person_id, sub, acr=assurance.CITIZEN)
    assert rp.get_code()[0]


def test_refusal_comes_before_consent(app: Flask, policy_rp: Callable[..., RP]) -> None:
    rp = policy_rp(required_person_type="staff", first_party=False)
    citizen_id, citizen_sub = citizen(app)
    as_person(rp, citizen_id, citizen_sub, acr=assurance.CITIZEN)
    resp = rp.authorize(ui_locales="en")
    assert resp.status_code == 403
    assert 'name="decision"' not in resp.get_data(as_text=True)


def test_form_post_refusal_posts_access_denied(app: Flask, policy_rp: Callable[..., RP]) -> None:
    rp = policy_rp(required_person_type="staff")
    citizen_id, citizen_sub = citizen(app)
    as_person(rp, citizen_id, citizen_sub, acr=assurance.CITIZEN)
    body = rp.authorize(response_mode="form_post").get_data(as_text=True)
    assert f'action="{helpers.REDIRECT}"' in body
    assert 'name="error" value="access_denied"' in body and 'name="code"' not in body


# --- at refresh -------------------------------------------------------------------------------------
def test_policy_is_checked_again_at_refresh(app: Flask, policy_rp: Callable[..., RP]) -> None:
    rp = policy_rp(required_groups=[GROUP])
    person_id, sub = make_staff(app, groups=[GROUP])
    as_person(rp, person_id, sub)
    first = rp.tokens(scope="openid offline_access")
    resp = rp.client_post("/token", {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]})
    assert resp.status_code == 200, resp.get_json()
    second = resp.get_json()
    # The person leaves the group (the next sign-in or `idp ldap sync` records it).
    with app.app_context():
        db.session.execute(update(StaffAccount).where(StaffAccount.person_id == person_id).values(groups=[]))
        db.session.commit()
    resp = rp.client_post("/token", {"grant_type": "refresh_token", "refresh_token": second["refresh_token"]})
    assert resp.status_code == 400 and resp.get_json()["error"] == "invalid_grant"
    assert "access_token" not in resp.get_json()
    assert rp.userinfo_status(second["access_token"]) == 401  # the family's access tokens went too
    with app.app_context():
        events = db.session.execute(select(AuditEvent).where(AuditEvent.event == "oauth.access_denied",
                                                             AuditEvent.person_id == person_id)).scalars().all()
    assert events and events[-1].detail["at"] == "refresh"


# --- registration and discovery -----------------------------------------------------------------------
HOSTILE = [
    ({"required_person_type": "alien"}, "required_person_type"),
    ({"required_person_type": ["staff"]}, "required_person_type"),
    ({"required_groups": "cn=x"}, "required_groups"),
    ({"required_groups": [""]}, "required_groups"),
    ({"required_groups": ["cn=x\n"]}, "required_groups"),
    ({"required_groups": ["cn=x"] * 21}, "required_groups"),
    ({"required_groups": ["x" * 501]}, "required_groups"),
    ({"required_groups": [1]}, "required_groups"),
    ({"required_person_type": "citizen", "required_groups": ["cn=x"]}, "required_groups"),
    ({"required_acr": "gold"}, "required_acr"),
    ({"required_acr": 4}, "required_acr"),
]


def register(app: Flask, body: dict[str, Any]) -> Any:
    """RFC 7591 registration with a fresh initial access token."""
    with app.app_context():
        token = registration.initial_access_token(expires_in=60, max_uses=1)
    return app.test_client().post("/register", json=body, headers={"Authorization": f"Bearer {token}"})


@pytest.mark.parametrize(("policy", "field"), HOSTILE)
def test_registration_refuses_malformed_policies(app: Flask, policy: dict[str, Any], field: str) -> None:
    body = {"redirect_uris": [helpers.REDIRECT], "client_name": "Kepegawaian", **policy}
    resp = register(app, body)
    assert resp.status_code == 400
    assert resp.get_json()["error"] == "invalid_client_metadata"
    assert field in resp.get_json()["error_description"]


def test_registration_keeps_a_policy(app: Flask) -> None:
    body = {"redirect_uris": [helpers.REDIRECT], "client_name": "Kepegawaian", "required_person_type": "staff",
            "required_groups": [GROUP, GROUP], "required_acr": assurance.MFA}
    resp = register(app, body)
    assert resp.status_code == 201, resp.get_json()
    got = resp.get_json()
    assert got["required_person_type"] == "staff" and got["required_groups"] == [GROUP]
    assert got["required_acr"] == assurance.MFA


def test_discovery_names_the_policy_metadata(app: Flask) -> None:
    doc = app.test_client().get("/.well-known/openid-configuration").get_json()
    assert doc["client_access_policy_metadata_supported"] == ["required_person_type", "required_groups",
                                                              "required_acr"]
    assert doc["required_person_type_values_supported"] == ["staff", "citizen"]
