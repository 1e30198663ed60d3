"""Just-in-time provisioning of staff from the directory and the ``staff`` claims (PostgreSQL, real slapd)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from idp.extensions import db
from idp.models import IdentityLink, Person, StaffAccount
from idp.people import staff
from idp.sources.base import Identity
from idp.sources.ldap import get_connector, ldap3

from .conftest import BUDI, SITI, unique
from .slapd import PEOPLE, add_user, admin_do


def sign_in(app, username, password):
    """What the sign-in page will do: authenticate, provision, commit."""
    identity = get_connector(app).authenticate(username, password)
    person = staff.provision(identity)
    db.session.commit()
    return identity, person


def test_first_sign_in_creates_the_person_and_the_staff_record(ldap_app):
    app = ldap_app()
    with app.app_context():
        identity, person = sign_in(app, *BUDI)
        assert person.status == "active" and len(person.sub) >= 32
        assert person.name == "Budi Santoso" and person.email == "budi.santoso@bantenprov.go.id"
        assert person.email_verified is True
        link = db.session.execute(select(IdentityLink).where(IdentityLink.source == "ldap")).scalar_one()
        assert (link.person_id, link.subject) == (person.id, identity.subject)
        account = db.session.execute(select(StaffAccount)).scalar_one()
        assert account.entry_uuid == identity.subject and account.person_id == person.id
        assert account.dn == f"uid=budi,ou=diskominfo,{PEOPLE}" and account.username == "budi"
        assert account.nip == "198503152010011002" and account.title == "Pranata Komputer Ahli Muda"
        assert account.roles == ["admin"] and len(account.groups) == 3
        assert account.status == "active" and account.last_seen_at is not None
        # The NIK is kept encrypted, findable by its keyed hash, never in clear.
        crypto = app.extensions["idp"].crypto
        assert account.nik_enc and "3603011503850002" not in account.nik_enc
        assert crypto.decrypt(account.nik_enc, staff.NIK_CONTEXT) == "3603011503850002"
        assert account.nik_hash == crypto.keyed_hash("nik", "3603011503850002")


def test_staff_claims(ldap_app):
    app = ldap_app()
    with app.app_context():
        _identity, person = sign_in(app, *BUDI)
        claims = staff.staff_claims(person)
        assert claims == {
            "name": "Budi Santoso", "email": "budi.santoso@bantenprov.go.id", "nip": "198503152010011002",
            "unit": "Dinas Komunikasi, Informatika, Statistik dan Persandian", "title": "Pranata Komputer Ahli Muda",
            "groups": claims["groups"], "roles": ["admin"],
        }
        assert f"cn=idp-admins,ou=groups,{PEOPLE.split(',', 1)[1]}" in claims["groups"]
        assert "nik" not in claims and staff.staff_claims(person.id) == claims
        _identity, siti = sign_in(app, *SITI)
        assert staff.staff_claims(siti)["roles"] == []
        citizen = Person(sub="citizen-sub-1", status="active", name="Warga")
        db.session.add(citizen)
        db.session.commit()
        assert staff.staff_claims(citizen) == {}


def test_sign_in_again_refreshes_the_attributes(ldap_app, slapd_main):
    app = ldap_app()
    uid = unique("ubah")
    dn = add_user(slapd_main, uid, "Ubah-Pass-2026", cn="Pegawai Lama", title="Staf")
    with app.app_context():
        _identity, person = sign_in(app, uid, "Ubah-Pass-2026")
        admin_do(slapd_main, "modify", dn, {"cn": [(ldap3.MODIFY_REPLACE, ["Pegawai Baru"])],
                                            "title": [(ldap3.MODIFY_REPLACE, ["Kepala Seksi"])]})
        _identity, again = sign_in(app, uid, "Ubah-Pass-2026")
        assert again.id == person.id
        assert staff.staff_claims(again)["name"] == "Pegawai Baru"
        assert staff.staff_claims(again)["title"] == "Kepala Seksi"
        assert db.session.scalar(select(func.count()).select_from(StaffAccount)) == 1


def test_a_moved_entry_is_the_same_person(ldap_app, slapd_main):
    """The DN changes (modrdn with newSuperior); entryUUID, the person and its sub stay the same."""
    app = ldap_app()
    uid = unique("mutasi")
    dn = add_user(slapd_main, uid, "Mutasi-Pass-2026", ou="diskominfo")
    with app.app_context():
        _identity, person = sign_in(app, uid, "Mutasi-Pass-2026")
        sub = person.sub
        admin_do(slapd_main, "modify_dn", dn, f"uid={uid}", new_superior=f"ou=bappeda,{PEOPLE}")
        _identity, moved = sign_in(app, uid, "Mutasi-Pass-2026")
        assert (moved.id, moved.sub) == (person.id, sub)
        account = db.session.execute(select(StaffAccount)).scalar_one()
        assert account.dn == f"uid={uid},ou=bappeda,{PEOPLE}"
        assert db.session.scalar(select(func.count()).select_from(Person)) == 1


def test_provision_takes_only_ldap_identities(ldap_app):
    app = ldap_app()
    with app.app_context(), pytest.raises(ValueError):
        staff.provision(Identity(source="citizen", subject="x", acr="a", amr=["pwd"]))
