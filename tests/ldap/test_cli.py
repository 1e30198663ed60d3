"""``idp ldap test`` and ``idp ldap sync`` against a real slapd, PostgreSQL and Redis."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from idp.extensions import db
from idp.models import AuditEvent, Client, Person, RefreshToken, StaffAccount, utcnow
from idp.oauth import tokens
from idp.people import staff
from idp.sources.ldap import get_connector, ldap3

from .conftest import BUDI, SITI, closed_port_url, unique
from .slapd import GROUPS, add_user, admin_do


def run(app, *args, input=None):
    return app.test_cli_runner().invoke(args=list(args), input=input)


def sign_in(app, username, password) -> Person:
    person = staff.provision(get_connector(app).authenticate(username, password))
    db.session.commit()
    return person


def give_refresh_token(person: Person, family: str) -> None:
    client = db.session.execute(select(Client).where(Client.client_id == "rp-staff")).scalar_one_or_none()
    if client is None:
        client = Client(client_id="rp-staff", client_metadata={})
        db.session.add(client)
        db.session.flush()
    db.session.add(RefreshToken(token_hash=f"hash-{family}", family_id=family, client_id=client.id,
                                person_id=person.id, scope="openid", expires_at=utcnow() + dt.timedelta(days=1)))
    db.session.commit()


# --- idp ldap test ---------------------------------------------------------------------------------

def test_ldap_test_reports_the_identity_without_secrets(ldap_app):
    app = ldap_app()
    result = run(app, "ldap", "test", "budi", input=BUDI[1] + "\n")
    assert result.exit_code == 0, result.output
    assert "OK: budi is entry uid=budi,ou=diskominfo" in result.output
    assert "nip: 198503152010011002" in result.output and "roles: admin" in result.output
    assert "3603********0002" in result.output and "3603011503850002" not in result.output
    assert BUDI[1] not in result.output


def test_ldap_test_refusal_and_option(ldap_app):
    app = ldap_app()
    result = run(app, "ldap", "test", "budi", "--password", "wrong-password")
    assert result.exit_code == 1 and "REFUSED: invalid" in result.output
    result = run(app, "ldap", "test", "gantisandi", input="Ganti-Pass-2026\n")
    assert result.exit_code == 1 and "REFUSED: must_change" in result.output


def test_ldap_test_when_the_directory_is_down_or_not_configured(ldap_app, make_app):
    result = run(ldap_app([closed_port_url()]), "ldap", "test", "budi", "--password", BUDI[1])
    assert result.exit_code == 2 and "UNAVAILABLE" in result.output
    result = run(make_app(), "ldap", "test", "budi", "--password", BUDI[1])
    assert result.exit_code == 2 and "not configured" in result.output


# --- idp ldap sync ---------------------------------------------------------------------------------

def test_sync_disables_a_deleted_user_and_revokes_the_refresh_tokens(ldap_app, slapd_main):
    app = ldap_app(LDAP_SYNC_PAGE_SIZE=10)  # several pages (RFC 2696) for the seeded directory
    uid = unique("keluar")
    dn = add_user(slapd_main, uid, "Keluar-Pass-2026")
    with app.app_context():
        leaving = sign_in(app, uid, "Keluar-Pass-2026")
        staying = sign_in(app, *BUDI)
        give_refresh_token(leaving, "family-leaving")
        give_refresh_token(staying, "family-staying")
        leaving_id, staying_id = leaving.id, staying.id
    admin_do(slapd_main, "delete", dn)

    result = run(app, "ldap", "sync")
    assert result.exit_code == 0, result.output
    assert "disabled: " in result.output and f"({uid}): deleted" in result.output
    assert "1 disabled" in result.output and "1 token families revoked" in result.output
    with app.app_context():
        assert db.session.get(Person, leaving_id).status == "disabled"
        assert db.session.get(Person, staying_id).status == "active"
        rows = {r.family_id: r for r in db.session.execute(select(RefreshToken)).scalars()}
        assert rows["family-leaving"].revoked_at is not None and rows["family-leaving"].revoked_reason == "ldap-sync"
        assert rows["family-staying"].revoked_at is None
        assert tokens.family_revoked("family-leaving") and not tokens.family_revoked("family-staying")
        account = db.session.execute(select(StaffAccount).where(StaffAccount.username == uid)).scalar_one()
        assert account.status == "deleted" and account.last_synced_at is not None
        events = db.session.execute(select(AuditEvent).where(AuditEvent.event == "staff.disabled")).scalars().all()
        assert [e.person_id for e in events] == [leaving_id]

    # Idempotent: a second run (cron) changes nothing.
    again = run(app, "ldap", "sync")
    assert again.exit_code == 0 and "0 disabled" in again.output and "0 token families revoked" in again.output


def test_sync_follows_disable_and_enable_in_the_directory(ldap_app, slapd_main):
    app = ldap_app()
    uid = unique("cuti")
    dn = add_user(slapd_main, uid, "Cuti-Pass-2026")
    with app.app_context():
        person_id = sign_in(app, uid, "Cuti-Pass-2026").id
    admin_do(slapd_main, "modify", dn, {"employeeType": [(ldap3.MODIFY_ADD, ["disabled"])]})
    dry = run(app, "ldap", "sync", "--dry-run")
    assert dry.exit_code == 0 and "would disable: " in dry.output and "(dry run)" in dry.output
    with app.app_context():
        assert db.session.get(Person, person_id).status == "active"  # nothing changed
    assert f"({uid}): disabled" in run(app, "ldap", "sync").output
    with app.app_context():
        assert db.session.get(Person, person_id).status == "disabled"
    admin_do(slapd_main, "modify", dn, {"employeeType": [(ldap3.MODIFY_DELETE, ["disabled"])]})
    result = run(app, "ldap", "sync")
    assert result.exit_code == 0 and "enabled: " in result.output and uid in result.output
    with app.app_context():
        assert db.session.get(Person, person_id).status == "active"


def test_sign_in_enables_a_person_the_directory_accepts_again(ldap_app, slapd_main):
    app = ldap_app()
    uid = unique("kembali")
    dn = add_user(slapd_main, uid, "Kembali-Pass-2026")
    with app.app_context():
        person_id = sign_in(app, uid, "Kembali-Pass-2026").id
    admin_do(slapd_main, "modify", dn, {"employeeType": [(ldap3.MODIFY_ADD, ["disabled"])]})
    run(app, "ldap", "sync")
    admin_do(slapd_main, "modify", dn, {"employeeType": [(ldap3.MODIFY_DELETE, ["disabled"])]})
    with app.app_context():
        assert db.session.get(Person, person_id).status == "disabled"
        assert sign_in(app, uid, "Kembali-Pass-2026").status == "active"


def test_sync_refuses_to_disable_most_of_the_staff(ldap_app, slapd_main):
    """A wrong base finds nobody: the sync refuses instead of disabling everyone (unless --force)."""
    wrong = ldap_app(LDAP_USER_BASE=GROUPS)  # apps first: building an app empties the tables
    app = ldap_app()
    people = [BUDI, SITI, ("rudi", "Rudi-Pass-2026"), ("star*user", "Star-Pass-2026")]
    people += [(uid, "Banyak-Pass-2026") for uid in (unique("banyak"), unique("banyak"))]
    for uid, password in people[4:]:
        add_user(slapd_main, uid, password)
    with app.app_context():
        ids = [sign_in(app, *p).id for p in people]
    result = run(wrong, "ldap", "sync")
    assert result.exit_code == 1 and "REFUSED" in result.output and "6 of 6" in result.output
    with wrong.app_context():
        assert all(db.session.get(Person, i).status == "active" for i in ids)
    forced = run(wrong, "ldap", "sync", "--force")
    assert forced.exit_code == 0 and "6 disabled" in forced.output


def test_sync_changes_nothing_when_the_directory_is_down(ldap_app):
    down = ldap_app([closed_port_url()])  # apps first: building an app empties the tables
    app = ldap_app()
    with app.app_context():
        person_id = sign_in(app, *BUDI).id
    result = run(down, "ldap", "sync")
    assert result.exit_code == 2 and "nothing changed" in result.output
    with down.app_context():
        assert db.session.get(Person, person_id).status == "active"
