"""Sessions that expire (idle or absolute timeout) still reach their applications (Back-Channel Logout 2.7).

The session lives in the real store and vanishes at its timeout; ``idp.people.signout.sweep`` notices it through
the ``watched_sessions`` row and queues one notice per application, which a real HTTP receiver gets.
"""

from __future__ import annotations

import calendar
import datetime as dt
import time
from typing import Any

from flask import Flask
from sqlalchemy import select, update

from idp.extensions import db
from idp.models import AuditEvent, RefreshToken, WatchedSession
from idp.people import signout

from . import test_backchannel as bc
from .test_backchannel import check_logout_token, deliver, notices, verify

app = bc.app  # the fixtures of the back-channel tests: loopback receivers allowed, no delivery thread
receivers = bc.receivers


def make_due(app: Flask) -> None:
    """Every watched row is due for checking now (as if the last pass were long ago)."""
    with app.app_context():
        db.session.execute(update(WatchedSession).values(checked_at=dt.datetime(2000, 1, 1)))
        db.session.commit()


def sweep(app: Flask, now: float | None = None) -> int:
    make_due(app)
    with app.app_context():
        return signout.sweep(now=now)


def watched(app: Flask) -> list[str]:
    with app.app_context():
        return list(db.session.execute(select(WatchedSession.sid)).scalars())


def expire_idle(app: Flask, sid: str) -> None:
    """Let the store expire the session for real: a one-second TTL, then wait it out."""
    with app.app_context():
        store = app.extensions["idp"].store
        assert store.touch("sid", sid, 1)
    deadline = time.time() + 5
    while time.time() < deadline:
        with app.app_context():
            if app.extensions["idp"].store.get("sid", sid) is None:
                return
        time.sleep(0.2)
    raise AssertionError("the store did not expire the session")


def sid_of(app: Flask, id_token: str) -> str:
    return str(verify(app, id_token)[1]["sid"])


def refresh(rp: Any, token: str) -> Any:
    return rp.client_post("/token", {"grant_type": "refresh_token", "refresh_token": token})


def test_idle_expiry_notifies_revokes_and_audits(app, make_rp, receivers) -> None:
    recv = receivers()
    rp = make_rp(backchannel_logout_uri=recv.url, grant_types=["authorization_code", "refresh_token"])
    tokens = rp.tokens(scope="openid profile")
    sid = sid_of(app, tokens["id_token"])
    assert watched(app) == [sid]
    assert sweep(app) == 0 and notices(app) == []  # alive: nothing to say

    expire_idle(app, sid)
    assert sweep(app) == 1
    assert watched(app) == [] and sweep(app) == 0  # reported once
    rows = notices(app)
    assert [(r.client_id, r.sid, r.status) for r in rows] == [(rp.client_id, sid, "pending")]
    assert deliver(app) == {"delivered": 1}
    check_logout_token(app, recv.tokens()[0], aud=rp.client_id, sid=sid, sub=rp.sub)

    # Ending a session revokes the refresh tokens issued in it (not offline_access ones).
    resp = refresh(rp, tokens["refresh_token"])
    assert resp.status_code == 400 and resp.get_json()["error"] == "invalid_grant"
    with app.app_context():
        reasons = set(db.session.execute(select(RefreshToken.revoked_reason)).scalars())
        assert reasons == {"logout:expired"}
        events = db.session.execute(select(AuditEvent).where(AuditEvent.event == "logout")).scalars().all()
        assert [e.detail["reason"] for e in events] == ["expired"]


def test_offline_access_survives_expiry(app, make_rp, receivers) -> None:
    recv = receivers()
    rp = make_rp(backchannel_logout_uri=recv.url, grant_types=["authorization_code", "refresh_token"])
    tokens = rp.tokens(scope="openid offline_access")
    expire_idle(app, sid_of(app, tokens["id_token"]))
    assert sweep(app) == 1
    assert refresh(rp, tokens["refresh_token"]).status_code == 200


def test_absolute_timeout_is_reported_even_if_the_store_still_holds_the_record(app, make_rp, receivers) -> None:
    recv = receivers()
    rp = make_rp(backchannel_logout_uri=recv.url)
    sid = sid_of(app, rp.tokens()["id_token"])
    with app.app_context():
        absolute = db.session.get(WatchedSession, sid).absolute_exp
    past_absolute = calendar.timegm(absolute.timetuple()) + 10  # absolute_exp is naive UTC
    assert sweep(app, now=past_absolute) == 1
    with app.app_context():
        assert app.extensions["idp"].store.get("sid", sid) is None  # and the session is gone for good
    assert "/login" in rp.browser.get("/account").headers["Location"]  # back to the sign-in page


def test_deliberate_logout_is_not_reported_again(app, make_rp, receivers) -> None:
    recv = receivers()
    rp = make_rp(backchannel_logout_uri=recv.url)
    id_token = rp.tokens()["id_token"]
    resp = rp.browser.get("/end_session", query_string={"id_token_hint": id_token})
    assert resp.status_code in (200, 302)
    assert watched(app) == []
    assert sweep(app) == 0
    assert len(notices(app)) == 1


def test_sessions_without_back_channel_applications_are_not_watched(app, make_rp) -> None:
    rp = make_rp()
    rp.tokens()
    assert watched(app) == []


def test_a_second_application_joins_the_watched_row(app, make_rp, receivers) -> None:
    recv = receivers()
    a = make_rp()
    b = make_rp(signed_in=False, backchannel_logout_uri=recv.url)
    b.browser = a.browser
    a.tokens()
    assert watched(app) == []
    sid = sid_of(app, b.tokens()["id_token"])
    with app.app_context():
        assert sorted(db.session.get(WatchedSession, sid).clients) == sorted([a.client_id, b.client_id])
    expire_idle(app, sid)
    assert sweep(app) == 1
    assert [r.client_id for r in notices(app)] == [b.client_id]  # a registered no back-channel URI


def test_cli_sweep(app, make_rp, receivers) -> None:
    recv = receivers()
    rp = make_rp(backchannel_logout_uri=recv.url)
    sid = sid_of(app, rp.tokens()["id_token"])
    expire_idle(app, sid)
    make_due(app)
    result = app.test_cli_runner().invoke(args=["logout", "sweep"])
    assert result.exit_code == 0 and "expired sessions found: 1" in result.output


def test_refreshing_keeps_the_session_alive(app, make_rp, receivers) -> None:
    recv = receivers()
    rp = make_rp(backchannel_logout_uri=recv.url, grant_types=["authorization_code", "refresh_token"])
    tokens = rp.tokens(scope="openid profile")
    sid = sid_of(app, tokens["id_token"])
    with app.app_context():
        assert app.extensions["idp"].store.touch("sid", sid, 2)  # about to idle out
    resp = refresh(rp, tokens["refresh_token"])
    assert resp.status_code == 200
    time.sleep(2.5)
    with app.app_context():
        assert app.extensions["idp"].store.get("sid", sid) is not None  # the idle timeout started again
    assert sweep(app) == 0 and notices(app) == []


def test_offline_refresh_keeps_nothing_alive(app, make_rp, receivers) -> None:
    recv = receivers()
    rp = make_rp(backchannel_logout_uri=recv.url, grant_types=["authorization_code", "refresh_token"])
    tokens = rp.tokens(scope="openid offline_access")
    sid = sid_of(app, tokens["id_token"])
    with app.app_context():
        assert app.extensions["idp"].store.touch("sid", sid, 1)
    assert refresh(rp, tokens["refresh_token"]).status_code == 200
    time.sleep(1.5)
    assert sweep(app) == 1  # expired all the same: offline access is not the person at work
