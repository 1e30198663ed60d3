"""Signing in again in the same browser: the same person keeps the session (sid and applications);
another person ends it first (with its consequences: back-channel notices, refresh tokens revoked)."""

from __future__ import annotations

import time

from sqlalchemy import select

from idp.extensions import db
from idp.models import LogoutNotice
from tests.oauth import helpers as oauth_helpers

from .helpers import register_and_verify, sign_in


def _sid(client) -> str:
    return client.get_cookie("idp_session").value.split(".")[0]


def test_the_same_person_keeps_the_sid_and_its_applications(app, client) -> None:
    citizen = register_and_verify(client)
    assert sign_in(client, citizen).status_code == 303
    cookie, sid = client.get_cookie("idp_session").value, _sid(client)
    store = app.extensions["idp"].store
    data = store.get("sid", sid)
    data["clients"], data["auth_time"] = ["rp-1"], data["auth_time"] - 100
    store.put("sid", sid, data, 600)
    before = data["auth_time"]
    time.sleep(1)
    assert sign_in(client, citizen).status_code == 303
    assert _sid(client) == sid and client.get_cookie("idp_session").value != cookie  # new secret
    after = store.get("sid", sid)
    assert after["clients"] == ["rp-1"] and after["auth_time"] > before
    # The old cookie (old secret) opens nothing any more.
    old = app.test_client()
    old.set_cookie("idp_session", cookie)
    assert b'id="signed-in"' not in old.get("/").data


def test_another_person_ends_the_previous_session_and_its_applications_are_told(app, client) -> None:
    first = register_and_verify(client)
    second = register_and_verify(app.test_client())
    assert sign_in(client, first).status_code == 303
    client_id, _ = oauth_helpers.create_client(app, backchannel_logout_uri="http://127.0.0.1:9/logout")
    sid = _sid(client)
    store = app.extensions["idp"].store
    data = store.get("sid", sid)
    data["clients"] = [client_id]
    store.put("sid", sid, data, 600)
    assert sign_in(client, second).status_code == 303
    assert _sid(client) != sid and store.get("sid", sid) is None
    with app.app_context():
        notices = [(n.client_id, n.sid) for n in db.session.execute(select(LogoutNotice)).scalars()]
        db.session.close()
    assert notices == [(client_id, sid)]
