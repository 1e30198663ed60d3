"""Deleting the account erases every row that belongs to the person: the list of person-owned tables
comes from the models' foreign keys to ``people``, so a table added later cannot be forgotten."""

from __future__ import annotations

import secrets

from flask import Flask
from sqlalchemy import Table, select

from idp.extensions import db
from idp.models import (
    CitizenAccount,
    Client,
    Consent,
    NikVerification,
    Passkey,
    Person,
    RoleGrant,
    StaffAccount,
    Team,
    TeamMember,
)
from tests.citizen.helpers import csrf, sign_in
from tests.oauth import helpers

from .conftest import RP, english, signed_in_citizen
from .test_two_step import code, second_step, set_up


def person_tables() -> list[tuple[Table, str]]:
    """(table, column) for every column with a foreign key to ``people.id``, from the metadata."""
    found = []
    for table in db.metadata.sorted_tables:
        for column in table.columns:
            if any(fk.column.table.name == "people" for fk in column.foreign_keys):
                found.append((table, column.name))
    return found


def rows_of(person_id: int) -> dict[str, int]:
    return {table.name: len(db.session.execute(select(table).where(table.c[column] == person_id)).all())
            for table, column in person_tables()}


def test_person_tables_are_found() -> None:
    names = {table.name for table, _ in person_tables()}
    assert {"totp_credentials", "recovery_codes", "citizen_accounts", "identity_links"} <= names


def _staff(person_id: int, name: str) -> StaffAccount:
    return StaffAccount(person_id=person_id, entry_uuid=secrets.token_hex(8), dn=f"uid={name},ou=people",
                        username=name, status="active")


def test_deletion_leaves_no_row_of_the_person(app: Flask) -> None:
    """A person with two-step verification, consent, refresh tokens, a staff record and a team deletes the
    account: no table keeps a row pointing at the person (the encrypted TOTP secret included)."""
    browser, citizen = signed_in_citizen(app)
    secret, _codes = set_up(browser)  # two-step on: TOTP secret (encrypted) and recovery codes
    with app.app_context():
        account = db.session.execute(select(CitizenAccount).where(CitizenAccount.email == citizen.email)).scalar_one()
        person = db.session.get(Person, account.person_id)
        assert person is not None
        person_id, sub = person.id, person.sub
        # A linked staff record, an application team and a passkey (rows other flows would have written;
        # the passkey's credential id and public key identify the person's device).
        team = Team(name="Tim " + secrets.token_hex(4))
        db.session.add_all([team, _staff(person_id, "deleted-owner"),
                            Passkey(person_id=person_id, credential_id=secrets.token_urlsafe(16),
                                    public_key=secrets.token_bytes(77), user_handle=secrets.token_urlsafe(32),
                                    name="HP")])
        db.session.flush()
        db.session.add(TeamMember(team_id=team.id, person_id=person_id, role="owner"))
        db.session.add(RoleGrant(person_id=person_id, role="portal", team_id=team.id))  # an operator's grant
        # A population-registry request (issue 15) that still holds the typed data, encrypted.
        db.session.add(NikVerification(person_id=person_id, nik_hash=account.nik_hash, status="pending",
                                       payload_enc="x"))
        db.session.commit()
    client_id, client_secret = helpers.create_client(app, first_party=True,
                                                     grant_types=["authorization_code", "refresh_token"])
    rp = RP(app=app, browser=browser, client_id=client_id, secret=client_secret, person_id=person_id, sub=sub)
    issued = rp.tokens(scope="openid offline_access")
    with app.app_context():
        client = db.session.execute(select(Client).where(Client.client_id == client_id)).scalar_one()
        db.session.add(Consent(person_id=person_id, client_id=client.id, scopes="openid"))
        db.session.commit()
        before = rows_of(person_id)
    # Every person-owned table holds a row of this person, or the check below would prove nothing: a
    # new table must be given a row here.
    assert all(before.values()), f"give the person a row in: {[t for t, n in before.items() if not n]}"

    # A fresh sign-in (password and code) as deletion asks, then the deletion itself.
    fresh = english(app, "10.0.0.7")
    assert sign_in(fresh, citizen).status_code == 303
    assert second_step(fresh, code(secret)).status_code == 303
    page = fresh.get("/account/delete")
    resp = fresh.post("/account/delete", data={"csrf_token": csrf(page.data)})
    assert resp.status_code == 200 and 'id="deleted"' in resp.get_data(as_text=True)

    with app.app_context():
        left = {name: count for name, count in rows_of(person_id).items() if count}
        assert left == {}, f"rows left behind for the deleted person: {left}"
        person = db.session.get(Person, person_id)
        assert person is not None and person.status == "deleted"
    assert rp.client_post("/token", {"grant_type": "refresh_token",
                                     "refresh_token": issued["refresh_token"]}).status_code == 400
    assert rp.userinfo_status(issued["access_token"]) == 401


def test_last_owner_deleted_hands_the_team_to_a_staff_member(app: Flask) -> None:
    browser, citizen = signed_in_citizen(app)
    with app.app_context():
        account = db.session.execute(select(CitizenAccount).where(CitizenAccount.email == citizen.email)).scalar_one()
        owner_id = account.person_id
        heir_id, _ = helpers.create_person(app)
        team = Team(name="Tim " + secrets.token_hex(4))
        db.session.add_all([team, _staff(owner_id, "leaver"), _staff(heir_id, "heir")])
        db.session.flush()
        db.session.add_all([TeamMember(team_id=team.id, person_id=owner_id, role="owner"),
                            TeamMember(team_id=team.id, person_id=heir_id, role="member")])
        db.session.commit()
        team_id = team.id
    page = browser.get("/account/delete")
    assert browser.post("/account/delete", data={"csrf_token": csrf(page.data)}).status_code == 200
    with app.app_context():
        members = db.session.execute(select(TeamMember.person_id, TeamMember.role)
                                     .where(TeamMember.team_id == team_id)).all()
        assert [tuple(m) for m in members] == [(heir_id, "owner")]
