"""The console's work, through its pages against PostgreSQL, Redis and slapd: scope requests (mail to
the team, the consent page shows the purpose), people (search by exact NIK only, lock ends sessions and
queues back-channel notices), clients, the audit log (filters, hostile parameters, CSV escaping),
initial access tokens and signing keys."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable

from flask import Flask
from sqlalchemy import select

from idp import audit
from idp.consoles import admin as admin_logic
from idp.extensions import db
from idp.models import (
    AuditEvent,
    Client,
    InitialAccessToken,
    LogoutNotice,
    Person,
    RefreshToken,
    ScopeRequest,
    SigningKey,
    Team,
    TeamMember,
)
from tests.citizen.helpers import body, mails_to, sign_in
from tests.oauth import helpers
from tests.oauth.conftest import RP

from .conftest import SITI, admin, english, post_form, staff

PURPOSE = "Memeriksa kepesertaan bantuan sosial (Pergub 12/2026)"


def _request(app: Flask, rp: RP, scope: str = "nik") -> tuple[int, str]:
    """A team (one member with an address) with rp's client, and a pending request; (request id, member address)."""
    with app.app_context():
        member_id, _sub = helpers.create_person(app, name="Dewi Developer", email="dewi@dinsos.example.org",
                                                nik="3603014501900002")
        team = Team(name="Dinas Sosial")
        db.session.add(team)
        db.session.flush()
        db.session.add(TeamMember(team_id=team.id, person_id=member_id, role="owner"))
        client = db.session.execute(select(Client).where(Client.client_id == rp.client_id)).scalar_one()
        client.team_id = team.id
        row = ScopeRequest(client_id=client.id, scope=scope, purpose=PURPOSE, requested_by=member_id)
        db.session.add(row)
        db.session.commit()
        return row.id, "dewi@dinsos.example.org"


def _consent_html(rp: RP) -> str:
    resp = rp.authorize(scope="openid nik")
    assert resp.status_code == 200, resp.status_code
    return str(resp.get_data(as_text=True))


def test_approve_then_the_consent_page_shows_the_purpose(app: Flask, make_rp: Callable[..., RP]) -> None:
    rp = make_rp(first_party=False)
    request_id, member = _request(app, rp)
    # The consent page is in Indonesian (the default): "Tujuan" is "Purpose".
    assert "Tujuan:" not in _consent_html(rp) and "NIK" not in _consent_html(rp)  # not approved: dropped
    browser = admin(app)
    page = browser.get("/admin/scope-requests").get_data(as_text=True)
    assert PURPOSE in page and "Dinas Sosial" in page and "Dewi Developer" in page
    done = post_form(browser, "/admin/scope-requests", f"/admin/scope-requests/{request_id}/approve",
                     {"note": "Disetujui untuk 1 tahun"})
    assert done.status_code == 303 and done.headers["Location"].endswith("/admin/scope-requests")
    with app.app_context():
        row = db.session.get(ScopeRequest, request_id)
        assert row.status == "approved" and row.decided_by is not None and row.decided_at is not None
        client = db.session.execute(select(Client).where(Client.client_id == rp.client_id)).scalar_one()
        assert client.approved_scopes.split() == ["nik"]
        event = db.session.execute(select(AuditEvent).where(AuditEvent.event == "admin.scope_approved")).scalar_one()
        assert event.client_id == rp.client_id and event.detail["admin"] == row.decided_by
    mails = mails_to(app, member)
    assert len(mails) == 1 and "nik" in mails[0]["Subject"] and PURPOSE in body(mails[0])
    assert "Disetujui untuk 1 tahun" in body(mails[0])
    html = _consent_html(rp)
    assert f"Tujuan: {PURPOSE}" in html
    # A second decision on the same request is refused cleanly.
    again = post_form(browser, "/admin/keys", f"/admin/scope-requests/{request_id}/approve")
    assert again.status_code == 409
    # Withdrawing the approval removes the scope, and the purpose leaves the page.
    gone = post_form(browser, "/admin/keys", f"/admin/scope-requests/{request_id}/revoke")
    assert gone.status_code == 303
    with app.app_context():
        client = db.session.execute(select(Client).where(Client.client_id == rp.client_id)).scalar_one()
        assert client.approved_scopes == ""
        assert db.session.get(ScopeRequest, request_id).status == "revoked"
    assert len(mails_to(app, member)) == 2
    assert "Tujuan:" not in _consent_html(rp)


def test_refuse_needs_a_note_and_tells_the_team(app: Flask, make_rp: Callable[..., RP]) -> None:
    rp = make_rp(first_party=False)
    request_id, member = _request(app, rp)
    browser = admin(app)
    empty = post_form(browser, "/admin/scope-requests", f"/admin/scope-requests/{request_id}/refuse", {"note": ""})
    assert empty.status_code == 400
    done = post_form(browser, "/admin/scope-requests", f"/admin/scope-requests/{request_id}/refuse",
                     {"note": "Tujuan tidak memerlukan NIK"})
    assert done.status_code == 303
    with app.app_context():
        row = db.session.get(ScopeRequest, request_id)
        assert row.status == "refused" and row.decision_note == "Tujuan tidak memerlukan NIK"
        client = db.session.execute(select(Client).where(Client.client_id == rp.client_id)).scalar_one()
        assert client.approved_scopes == ""
    mails = mails_to(app, member)
    assert len(mails) == 1 and "Tujuan tidak memerlukan NIK" in body(mails[0])
    for bad in ("0", "99999999999", "2147483648"):
        resp = post_form(browser, "/admin/keys", f"/admin/scope-requests/{bad}/approve")
        assert resp.status_code == 404


def test_people_by_exact_nik_never_by_prefix(app: Flask, make_rp: Callable[..., RP]) -> None:
    rp = make_rp()
    browser = admin(app)
    found = post_form(browser, "/admin/people", "/admin/people", {"nik": helpers.NIK})
    html = found.get_data(as_text=True)
    assert found.status_code == 200 and f"/admin/people/{rp.person_id}" in html
    assert helpers.NIK not in html  # never echoed back
    for partial in (helpers.NIK[:15], helpers.NIK[:4], "3603%", "3603________0001"):
        none = post_form(browser, "/admin/people", "/admin/people", {"nik": partial})
        assert none.status_code == 200 and 'id="no-results"' in none.get_data(as_text=True), partial
    by_name = post_form(browser, "/admin/people", "/admin/people", {"name": "siti AMI"})
    assert f"/admin/people/{rp.person_id}" in by_name.get_data(as_text=True)
    assert 'id="no-results"' in post_form(browser, "/admin/people", "/admin/people",
                                          {"name": "%"}).get_data(as_text=True)
    two = post_form(browser, "/admin/people", "/admin/people", {"name": "siti", "email": "a@b.c"})
    assert two.status_code == 400
    person = browser.get(f"/admin/people/{rp.person_id}").get_data(as_text=True)
    assert "3603********0001" in person and helpers.NIK not in person
    assert browser.get("/admin/people?nik=" + helpers.NIK).status_code == 200  # a GET never searches
    for bad in ("0", "2147483648", "99999999999999999999"):
        assert browser.get(f"/admin/people/{bad}").status_code == 404


def test_lock_ends_sessions_queues_notices_and_unlock(app: Flask, make_rp: Callable[..., RP]) -> None:
    rp = make_rp(backchannel_logout_uri="https://rp.example.org/backchannel",
                 grant_types=["authorization_code", "refresh_token"])
    rp.tokens()
    browser = admin(app)
    page = browser.get(f"/admin/people/{rp.person_id}").get_data(as_text=True)
    assert page.count('class="session"') == 1 and "Test App" in page
    done = post_form(browser, f"/admin/people/{rp.person_id}", f"/admin/people/{rp.person_id}/lock",
                     {"reason": "tiket 42"})
    assert done.status_code == 303
    with app.app_context():
        assert db.session.get(Person, rp.person_id).status == "locked"  # not "disabled": the sync cannot lift it
        notices = db.session.execute(select(LogoutNotice)).scalars().all()
        assert [(n.client_id, n.sub) for n in notices] == [(rp.client_id, rp.sub)]
        assert all(t.revoked_at is not None for t in db.session.execute(select(RefreshToken)).scalars())
        locked = db.session.execute(select(AuditEvent).where(AuditEvent.event == "admin.person_locked")).scalar_one()
        assert locked.person_id == rp.person_id and locked.detail["sessions"] == 1
        assert db.session.execute(select(AuditEvent).where(AuditEvent.event == "logout")).scalars().first() \
            .detail["reason"] == "administrator"
    assert 'id="no-sessions"' in browser.get(f"/admin/people/{rp.person_id}").get_data(as_text=True)
    assert "code=" not in rp.authorize().headers.get("Location", "")  # signed out: no code
    unlocked = post_form(browser, f"/admin/people/{rp.person_id}", f"/admin/people/{rp.person_id}/unlock")
    assert unlocked.status_code == 303
    with app.app_context():
        assert db.session.get(Person, rp.person_id).status == "active"


def test_end_one_session(app: Flask, make_rp: Callable[..., RP]) -> None:
    rp = make_rp()
    other = helpers.sign_in(app, app.test_client(), rp.person_id, rp.sub)
    browser = admin(app)
    done = post_form(browser, f"/admin/people/{rp.person_id}", f"/admin/people/{rp.person_id}/end-sessions",
                     {"sid": other})
    assert done.status_code == 303
    page = browser.get(f"/admin/people/{rp.person_id}").get_data(as_text=True)
    assert page.count('class="session"') == 1
    stranger = post_form(browser, f"/admin/people/{rp.person_id}", f"/admin/people/{rp.person_id}/end-sessions",
                         {"sid": "x" * 500})
    assert stranger.status_code == 400


def test_clients_filter_disable_enable_delete(app: Flask, make_rp: Callable[..., RP]) -> None:
    rp = make_rp(client_name="Perizinan Online")
    make_rp(client_name="Sekolah")
    browser = admin(app)
    listed = browser.get("/admin/clients?name=perizinan").get_data(as_text=True)
    assert "Perizinan Online" in listed and "Sekolah" not in listed
    assert 'id="no-clients"' in browser.get("/admin/clients?team=%25nothing").get_data(as_text=True)
    with app.app_context():
        pk = db.session.execute(select(Client.id).where(Client.client_id == rp.client_id)).scalar_one()
    assert post_form(browser, "/admin/clients", f"/admin/clients/{pk}/disable").status_code == 303
    with app.app_context():
        assert db.session.get(Client, pk).disabled
    assert post_form(browser, "/admin/clients", f"/admin/clients/{pk}/enable").status_code == 303
    assert post_form(browser, "/admin/clients", f"/admin/clients/{pk}/delete").status_code == 303
    with app.app_context():
        assert db.session.get(Client, pk) is None
        events = db.session.execute(select(AuditEvent.event).where(AuditEvent.client_id == rp.client_id)).scalars()
        assert {"admin.client_disabled", "admin.client_enabled", "admin.client_deleted"} <= set(events)
    assert post_form(browser, "/admin/clients", f"/admin/clients/{pk}/delete").status_code == 404


def test_audit_log_filters_and_hostile_parameters(app: Flask, make_rp: Callable[..., RP]) -> None:
    browser = admin(app)
    with app.test_request_context():
        for i in range(admin_logic.PAGE_SIZE + 3):
            audit.record("test.many", person_id=7, client_id="c-audit", n=i)
        audit.record("other.event", person_id=8)
        db.session.commit()
    first = browser.get("/admin/audit?event=test.&person=7").get_data(as_text=True)
    assert first.count("<code>test.many</code>") == admin_logic.PAGE_SIZE and 'id="next"' in first
    second = browser.get("/admin/audit?event=test.&person=7&page=2").get_data(as_text=True)
    assert second.count("<code>test.many</code>") == 3 and 'id="next"' not in second
    assert "other.event" not in browser.get("/admin/audit?client=c-audit").get_data(as_text=True)
    dated = browser.get("/admin/audit?from=2000-01-01&to=2000-01-02").get_data(as_text=True)
    assert 'id="no-events"' in dated
    assert browser.get("/admin/audit?event=%25").get_data(as_text=True).count("<tr><td>") == 0  # a literal %
    assert browser.get("/admin/audit?page=99999").status_code == 200
    for query in ("page=-1", "page=0", "page=abc", "page=" + "9" * 40, "page=1e3", "person=abc", "person=-3",
                  "person=99999999999", "from=yesterday", "to=2026-13-45", "from=2026-01-01T25:00",
                  "from=" + "1" * 500, "client=" + "c" * 65, "event=%00", "to=0000-01-01"):
        resp = browser.get("/admin/audit?" + query)
        assert resp.status_code == 400 and 'id="audit-error"' in resp.get_data(as_text=True), query
        assert browser.get("/admin/audit.csv?" + query).status_code in (200, 400), query


def test_csv_export_escapes_formulas(app: Flask) -> None:
    browser = admin(app)
    with app.test_request_context():
        audit.record("csv.test", client_id="=HYPERLINK(\"http://evil\")", note="+1", who="@x")
        audit.record("csv.test", client_id="-2+3", person_id=5)
        audit.record("csv.test", client_id="plain, with \"quotes\"")
        db.session.commit()
    resp = browser.get("/admin/audit.csv?event=csv.")
    assert resp.status_code == 200 and resp.mimetype == "text/csv"
    assert "attachment" in resp.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(resp.get_data(as_text=True))))
    assert rows[0] == list(admin_logic.CSV_COLUMNS) and len(rows) == 4
    for row in rows[1:]:
        for cell in row:
            assert not cell.startswith(("=", "+", "-", "@")), row
    clients = {row[4] for row in rows[1:]}
    assert clients == {"'=HYPERLINK(\"http://evil\")", "'-2+3", "plain, with \"quotes\""}
    assert admin_logic.csv_cell("\tcmd") == "'\tcmd" and admin_logic.csv_cell(None) == ""
    with app.app_context():
        assert db.session.execute(select(AuditEvent).where(AuditEvent.event == "admin.audit_exported")).scalar_one()


def test_initial_access_token_shown_once(app: Flask) -> None:
    browser = admin(app)
    resp = post_form(browser, "/admin/tokens", "/admin/tokens",
                     {"note": "Dinas Pendidikan", "expires_hours": "48", "max_uses": "3"})
    html = resp.get_data(as_text=True)
    token = re.search(r'<code id="new-token">([^<]+)</code>', html).group(1)
    with app.app_context():
        row = db.session.execute(select(InitialAccessToken)).scalar_one()
        assert row.max_uses == 3 and row.note == "Dinas Pendidikan" and token not in row.token_hash
    assert token not in browser.get("/admin/tokens").get_data(as_text=True)
    reg = app.test_client().post("/register", headers={"Authorization": f"Bearer {token}"},
                                 json={"client_name": "Dyn", "redirect_uris": ["https://dyn.example.org/cb"]})
    assert reg.status_code == 201, reg.get_data(as_text=True)
    for bad in ({"expires_hours": "0", "max_uses": "1"}, {"expires_hours": "x", "max_uses": "1"},
                {"expires_hours": "1", "max_uses": "-5"}, {"expires_hours": "9" * 30, "max_uses": "1"},
                {"expires_hours": "1", "max_uses": "1", "note": "a\x00b"}):
        assert post_form(browser, "/admin/tokens", "/admin/tokens", bad).status_code == 400, bad


def test_signing_keys_listed_and_rotated(app: Flask) -> None:
    browser = admin(app)
    page = browser.get("/admin/keys").get_data(as_text=True)
    with app.app_context():
        kids = db.session.execute(select(SigningKey.kid)).scalars().all()
    assert kids and all(kid in page for kid in kids)
    assert "private" not in page.lower()
    done = post_form(browser, "/admin/keys", "/admin/keys/rotate")
    assert done.status_code == 303
    with app.app_context():
        assert len(db.session.execute(select(SigningKey.kid)).scalars().all()) > len(kids)
        assert db.session.execute(select(AuditEvent).where(AuditEvent.event == "admin.keys_rotated")).scalar_one()
    assert "scheduled" in browser.get("/admin/keys").get_data(as_text=True)




def test_a_locked_staff_member_cannot_sign_in_until_unlocked(app: Flask) -> None:
    siti = staff(app, SITI, "10.0.0.7")
    with app.app_context():
        siti_id = db.session.execute(select(Person.id).where(Person.email == "siti.nurhaliza@bantenprov.go.id")
                                     ).scalar_one()
    browser = admin(app)
    assert post_form(browser, f"/admin/people/{siti_id}", f"/admin/people/{siti_id}/lock").status_code == 303
    assert siti.get("/account").status_code == 303  # the session is gone
    refused = sign_in(english(app, "10.0.0.8"), SITI[0], SITI[1], kind="ldap")
    assert refused.status_code == 403
    assert post_form(browser, f"/admin/people/{siti_id}", f"/admin/people/{siti_id}/unlock").status_code == 303
    assert sign_in(english(app, "10.0.0.9"), SITI[0], SITI[1], kind="ldap").status_code == 303
    # An administrator cannot lock themselves out.
    with app.app_context():
        me = db.session.execute(select(Person.id).where(Person.email == "budi.santoso@bantenprov.go.id")).scalar_one()
    assert post_form(browser, f"/admin/people/{me}", f"/admin/people/{me}/lock").status_code == 400


def test_only_sensitive_scopes_can_be_approved(app: Flask, make_rp: Callable[..., RP]) -> None:
    rp = make_rp(first_party=False)
    request_id, _member = _request(app, rp, scope="profile")
    browser = admin(app)
    assert post_form(browser, "/admin/keys", f"/admin/scope-requests/{request_id}/approve").status_code == 409
    with app.app_context():
        assert db.session.get(ScopeRequest, request_id).status == "pending"
