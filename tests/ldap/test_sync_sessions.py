"""``idp ldap sync`` ends the sign-in sessions of the people it disables and tells their applications."""

from __future__ import annotations

from sqlalchemy import select

from idp.extensions import db
from idp.models import LogoutNotice
from tests.oauth import helpers

from .conftest import BUDI, unique
from .slapd import add_user, admin_do
from .test_cli import run
from .test_login import english, post_login, session_of


def test_sync_ends_the_sessions_of_a_deleted_user_and_queues_logout_notices(ldap_app, slapd_main):
    app = ldap_app()
    uid = unique("pergi")
    dn = add_user(slapd_main, uid, "Pergi-Pass-2026")
    client_id, _ = helpers.create_client(app, backchannel_logout_uri="http://127.0.0.1:9/logout")
    leaving, other_device, staying = english(app), english(app, "10.0.0.9"), english(app, "10.0.0.8")
    for browser in (leaving, other_device):
        assert post_login(browser, uid, "Pergi-Pass-2026").status_code == 303
    assert post_login(staying, *BUDI).status_code == 303
    # The application got tokens in the first browser's session (what /token records).
    store = app.extensions["idp"].store
    sid = leaving.get_cookie("idp_session").value.split(".")[0]
    data = store.get("sid", sid)
    data["clients"] = [client_id]
    store.put("sid", sid, data, 600)

    admin_do(slapd_main, "delete", dn)
    result = run(app, "ldap", "sync")
    assert result.exit_code == 0, result.output
    assert "2 sessions ended" in result.output

    assert session_of(app, leaving) is None and session_of(app, other_device) is None
    assert session_of(app, staying) is not None
    home = leaving.get("/")
    assert b'id="signed-in"' not in home.data
    with app.app_context():
        notices = [(n.client_id, n.sid) for n in db.session.execute(select(LogoutNotice)).scalars()]
        db.session.close()
    assert notices == [(client_id, sid)]

    again = run(app, "ldap", "sync")
    assert again.exit_code == 0 and "0 sessions ended" in again.output
