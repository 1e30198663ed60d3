"""Roles operators grant (issue 18): the bootstrap administrator (``idp admin grant``, a second factor at first
use) and portal access for a vendor's developer who is not staff (console and CLI, with an expiry; the
team's owner sees and revokes it), all audited; and ``idp demo``'s port and portal access."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any

import pyotp
import pytest
from flask import Flask
from sqlalchemy import select, update

from idp.extensions import db
from idp.models import AuditEvent, Client, Person, RoleGrant, TeamMember
from tests.citizen.helpers import csrf, register_and_verify, sign_in

from .conftest import admin, english, post_form


def audit_events(app: Flask, event: str) -> list[AuditEvent]:
    with app.app_context():
        return list(db.session.execute(select(AuditEvent).where(AuditEvent.event == event)).scalars())


def person_of(app: Flask, email: str) -> Person:
    with app.app_context():
        person = db.session.execute(select(Person).where(Person.email == email)).scalar_one()
        db.session.expunge(person)
        return person


def cli(app: Flask, *args: str) -> Any:
    result = app.test_cli_runner().invoke(args=list(args))
    return result


# --- the bootstrap administrator -------------------------------------------------------------------------
@pytest.fixture
def bare_app(oauth_app: Callable[..., Flask]) -> Flask:
    """A fresh installation without a directory; ``admin`` requires a second factor (the default)."""
    return oauth_app(MFA_REQUIRED_ROLES=["admin"])


def test_admin_grant_makes_the_first_administrator_with_a_second_factor(bare_app: Flask) -> None:
    browser = english(bare_app)
    citizen = register_and_verify(browser)
    # Before the grant: signed in, the console is refused.
    assert sign_in(browser, citizen).status_code == 303
    assert browser.get("/admin").status_code == 403
    result = cli(bare_app, "admin", "grant", "--email", citizen.email)
    assert result.exit_code == 0, result.output
    assert "second factor" in result.output
    granted = audit_events(bare_app, "role.granted")
    assert granted and granted[-1].detail["role"] == "admin" and granted[-1].detail["by"].startswith("cli ")
    # The session from before the grant has no second factor: the console says how to add one.
    assert browser.get("/admin").status_code == 403
    # At the next sign-in the second factor is required, and set up the first time (no session until then).
    fresh = english(bare_app)
    resp = sign_in(fresh, citizen)
    assert resp.status_code == 303 and resp.headers["Location"].endswith("/login/two-step")
    assert fresh.get("/login/two-step").headers["Location"].endswith("/account/two-step/setup")
    assert fresh.get_cookie("idp_session") is None
    page = fresh.get("/account/two-step/setup")
    secret = re.search(r'<code id="totp-secret">([A-Z2-7 ]+)</code>', page.get_data(as_text=True)).group(1)
    done = fresh.post("/account/two-step/setup", data={"csrf_token": csrf(page.data),
                                                       "code": pyotp.TOTP(secret.replace(" ", "")).now()})
    assert done.status_code == 200
    assert fresh.get("/admin").status_code == 200
    # idp admin list shows it; revoke withdraws it (audited).
    assert citizen.email in cli(bare_app, "admin", "list").output
    assert cli(bare_app, "admin", "revoke", "--email", citizen.email).exit_code == 0
    assert fresh.get("/admin").status_code == 403
    assert audit_events(bare_app, "role.revoked")


def test_admin_grant_refuses_unknown_people(bare_app: Flask) -> None:
    result = cli(bare_app, "admin", "grant", "--email", "nobody@example.org")
    assert result.exit_code != 0 and "no such person" in result.output
    assert not audit_events(bare_app, "role.granted")


# --- portal access for vendors -----------------------------------------------------------------------------
def owner_with_team(app: Flask, name: str = "Dinas Kominfo") -> tuple[Any, int]:
    """budi (staff, an administrator with a second factor) owns a team in the portal."""
    budi = admin(app)
    page = budi.get("/portal")
    resp = budi.post("/portal/teams", data={"csrf_token": csrf(page.data), "name": name})
    assert resp.status_code == 303, resp.get_data(as_text=True)[:500]
    return budi, int(resp.headers["Location"].rsplit("/", 1)[1])


def test_vendor_portal_access_from_the_cli_with_owner_revocation(app: Flask) -> None:
    budi, team_id = owner_with_team(app)
    vendor = english(app)
    citizen = register_and_verify(vendor)
    assert sign_in(vendor, citizen).status_code == 303
    assert vendor.get("/portal").status_code == 403  # a citizen without a grant
    result = cli(app, "portal", "grant", "--email", citizen.email, "--team", "dinas kominfo", "--days", "30")
    assert result.exit_code == 0, result.output
    # The vendor is in the team now, and sees it; starting a team of their own is refused.
    assert vendor.get("/portal").status_code == 200
    assert vendor.get(f"/portal/teams/{team_id}").status_code == 200
    page = vendor.get("/portal")
    refused = vendor.post("/portal/teams", data={"csrf_token": csrf(page.data), "name": "Vendor Sendiri"})
    assert refused.status_code == 400 and "Only staff can start a team" in refused.get_data(as_text=True)
    # The owner sees the access with its end date, and revokes it.
    team_page = budi.get(f"/portal/teams/{team_id}").get_data(as_text=True)
    grant_id = int(re.search(r'id="grant-(\d+)"', team_page).group(1))
    assert citizen.email in team_page and "until" in team_page
    resp = post_form(budi, f"/portal/teams/{team_id}", f"/portal/teams/{team_id}/grants/{grant_id}/revoke")
    assert resp.status_code == 303
    assert vendor.get("/portal").status_code == 403
    assert vendor.get(f"/portal/teams/{team_id}").status_code == 403
    with app.app_context():
        person = db.session.execute(select(Person).where(Person.email == citizen.email)).scalar_one()
        assert db.session.execute(select(TeamMember).where(TeamMember.person_id == person.id)).first() is None
    revoked = audit_events(app, "role.revoked")
    assert revoked and revoked[-1].detail["role"] == "portal" and revoked[-1].detail["by"].startswith("portal owner")


def test_a_member_who_is_not_owner_cannot_revoke(app: Flask) -> None:
    budi, team_id = owner_with_team(app, "Dinas Pendidikan")
    vendor = english(app)
    citizen = register_and_verify(vendor)
    assert cli(app, "portal", "grant", "--email", citizen.email, "--team", "Dinas Pendidikan").exit_code == 0
    assert sign_in(vendor, citizen).status_code == 303
    team_page = vendor.get(f"/portal/teams/{team_id}").get_data(as_text=True)
    grant_id = int(re.search(r'id="grant-(\d+)"', team_page).group(1))
    assert 'id="revoke-grant-' not in team_page
    resp = post_form(vendor, f"/portal/teams/{team_id}", f"/portal/teams/{team_id}/grants/{grant_id}/revoke")
    assert resp.status_code == 403
    assert vendor.get("/portal").status_code == 200


def test_expired_access_ends_with_its_membership(app: Flask) -> None:
    _budi, team_id = owner_with_team(app, "Bappeda")
    vendor = english(app)
    citizen = register_and_verify(vendor)
    assert cli(app, "portal", "grant", "--email", citizen.email, "--team", "Bappeda", "--days", "1").exit_code == 0
    assert sign_in(vendor, citizen).status_code == 303
    assert vendor.get(f"/portal/teams/{team_id}").status_code == 200
    with app.app_context():
        db.session.execute(update(RoleGrant).values(expires_at=dt.datetime(2020, 1, 1)))
        db.session.commit()
    assert vendor.get("/portal").status_code == 403
    with app.app_context():
        person = db.session.execute(select(Person).where(Person.email == citizen.email)).scalar_one()
        assert db.session.execute(select(TeamMember).where(TeamMember.person_id == person.id)).first() is None
        assert db.session.execute(select(RoleGrant)).first() is None
    assert audit_events(app, "portal.access_expired")


@pytest.mark.parametrize("days", ["0", "367", "-1", "x", ""])
def test_the_expiry_is_bounded(app: Flask, days: str) -> None:
    owner_with_team(app, "Dinas Bounded")
    vendor = english(app)
    citizen = register_and_verify(vendor)
    result = cli(app, "portal", "grant", "--email", citizen.email, "--team", "Dinas Bounded", "--days", days)
    assert result.exit_code != 0
    with app.app_context():
        assert db.session.execute(select(RoleGrant)).first() is None


def test_console_grants_and_revokes_portal_access(app: Flask) -> None:
    budi, team_id = owner_with_team(app, "Dinas Kesehatan")
    vendor = english(app)
    citizen = register_and_verify(vendor)
    person = person_of(app, citizen.email)
    page = f"/admin/people/{person.id}"
    assert "Grant portal access" in budi.get(page).get_data(as_text=True)
    # Hostile and wrong values: a clear refusal, nothing written.
    for data in ({"team": "No Such Team", "days": "30"}, {"team": "Dinas Kesehatan", "days": "999"},
                 {"team": "Dinas Kesehatan", "days": "abc"}, {"team": "<script>", "days": "1"}):
        resp = post_form(budi, page, f"{page}/portal-access", data)
        assert resp.status_code == 400, data
    with app.app_context():
        assert db.session.execute(select(RoleGrant)).first() is None
    resp = post_form(budi, page, f"{page}/portal-access", {"team": "Dinas Kesehatan", "days": "14"})
    assert resp.status_code == 303
    html = budi.get(page).get_data(as_text=True)
    assert "portal access" in html and "Dinas Kesehatan" in html
    assert sign_in(vendor, citizen).status_code == 303
    assert vendor.get(f"/portal/teams/{team_id}").status_code == 200
    grant_id = int(re.search(r'id="revoke-grant-(\d+)"', html).group(1))
    assert post_form(budi, page, f"{page}/portal-access/{grant_id}/revoke").status_code == 303
    assert vendor.get("/portal").status_code == 403
    granted = audit_events(app, "role.granted")
    assert granted[-1].detail["by"].startswith("console ") and granted[-1].person_id is not None


def test_console_makes_an_administrator(app: Flask) -> None:
    budi = admin(app)
    other = english(app)
    citizen = register_and_verify(other)
    person = person_of(app, citizen.email)
    page = f"/admin/people/{person.id}"
    assert post_form(budi, page, f"{page}/admin-role").status_code == 303
    assert 'id="revoke-admin"' in budi.get(page).get_data(as_text=True)
    assert post_form(budi, page, f"{page}/admin-role/revoke").status_code == 303
    assert [e.detail["role"] for e in audit_events(app, "role.revoked")] == ["admin"]


# --- the demo ------------------------------------------------------------------------------------------------
def test_demo_registers_the_chosen_port_and_grants_portal_access(bare_app: Flask) -> None:
    first = cli(bare_app, "demo", "--rp-port", "5002")
    assert first.exit_code == 0, first.output
    assert "RP_ISSUER=http://127.0.0.1:5000 RP_PORT=5002 RP_CLIENT_ID=" in first.output
    assert "http://127.0.0.1:5002/" in first.output and "/portal" in first.output and "/admin" in first.output
    assert "idp admin grant --email warga.demo@example.id" in first.output
    again = cli(bare_app, "demo", "--rp-port", "5003")
    assert again.exit_code == 0, again.output
    with bare_app.app_context():
        client = db.session.execute(select(Client).where(Client.created_by == "demo")).scalar_one()
        assert client.client_metadata["redirect_uris"] == ["http://127.0.0.1:5002/callback",
                                                           "http://127.0.0.1:5003/callback"]
        assert client.team_id is not None
    assert "team 'Tim Demo'" in cli(bare_app, "portal", "list").output
    browser = english(bare_app)
    assert sign_in(browser, "3603015501900001", "Banten-Demo-2026!").status_code == 303
    portal = browser.get("/portal").get_data(as_text=True)
    assert "Contoh Aplikasi (demo)" in portal


# --- access policies in the console ------------------------------------------------------------------------
def test_console_sets_an_access_policy(app: Flask, make_rp: Callable[..., Any]) -> None:
    from idp import assurance

    budi = admin(app)
    rp = make_rp(signed_in=False, client_name="Kepegawaian")
    with app.app_context():
        pk = db.session.execute(select(Client.id).where(Client.client_id == rp.client_id)).scalar_one()
    group = "cn=Kepegawaian,ou=Groups,dc=bantenprov,dc=go,dc=id"
    assert f'id="policy-{pk}"' in budi.get("/admin/clients").get_data(as_text=True)
    for bad in ({"required_acr": "gold"}, {"required_person_type": "alien"},
                {"required_person_type": "citizen", "required_groups": group},
                {"required_groups": "\n".join(f"cn=g{i}" for i in range(21))}):
        resp = post_form(budi, "/admin/clients", f"/admin/clients/{pk}/policy", bad)
        assert resp.status_code == 400 and "Not accepted" in resp.get_data(as_text=True), bad
    resp = post_form(budi, "/admin/clients", f"/admin/clients/{pk}/policy",
                     {"required_person_type": "staff", "required_groups": group, "required_acr": assurance.MFA})
    assert resp.status_code == 303
    with app.app_context():
        meta = db.session.get(Client, pk).client_metadata  # type: ignore[union-attr]
        assert meta["required_person_type"] == "staff" and meta["required_groups"] == [group]
        assert meta["required_acr"] == assurance.MFA and meta["client_name"] == "Kepegawaian"
    resp = post_form(budi, "/admin/clients", f"/admin/clients/{pk}/policy",
                     {"required_person_type": "any", "required_groups": "", "required_acr": "any"})
    with app.app_context():
        meta = db.session.get(Client, pk).client_metadata  # type: ignore[union-attr]
        assert not {"required_person_type", "required_groups", "required_acr"} & set(meta)
    changed = audit_events(app, "client.policy_changed")
    assert len(changed) == 2 and changed[-1].detail["by"].startswith("console ")


def test_removing_the_vendor_from_the_team_ends_the_access(app: Flask) -> None:
    budi, team_id = owner_with_team(app, "Dinas Perhubungan")
    vendor = english(app)
    citizen = register_and_verify(vendor)
    assert cli(app, "portal", "grant", "--email", citizen.email, "--team", "Dinas Perhubungan").exit_code == 0
    person = person_of(app, citizen.email)
    resp = post_form(budi, f"/portal/teams/{team_id}", f"/portal/teams/{team_id}/members/{person.id}/remove")
    assert resp.status_code == 303
    with app.app_context():
        assert db.session.execute(select(RoleGrant)).first() is None
    assert sign_in(vendor, citizen).status_code == 303
    assert vendor.get("/portal").status_code == 403
