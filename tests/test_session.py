"""The sign-in session (idp.people.session): cookie ``sid.secret``, per-person index, ending by sid or person.

Run on both stores: Redis (with PostgreSQL) and the in-process store (with SQLite).
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from flask import Flask

from idp.people import session as login_session


@pytest.fixture(params=["postgres", "sqlite"])
def app(request: pytest.FixtureRequest, make_app: Any) -> Flask:
    return make_app(backend=request.param)


def begin(app: Flask, person_id: int = 7, **kwargs: Any) -> login_session.LoginSession:
    with app.test_request_context("/"):
        return login_session.begin(person_id=person_id, sub=f"sub-{person_id}", acr="a", amr=["pwd"],
                                   source="citizen", **kwargs)


def current(app: Flask, cookie: str | None) -> login_session.LoginSession | None:
    headers = {"Cookie": f"{login_session.COOKIE}={cookie}"} if cookie is not None else {}
    with app.test_request_context("/", headers=headers):
        return login_session.current()


def test_the_cookie_carries_sid_and_secret_and_the_store_only_a_hash(app: Flask) -> None:
    made = begin(app)
    assert made.cookie == f"{made.sid}.{made.secret}"
    stored = app.extensions["idp"].store.get("sid", made.sid)
    assert made.secret not in str(stored) and stored["secret_hash"] == made.secret_hash
    found = current(app, made.cookie)
    assert found is not None and found.sid == made.sid and found.person_id == 7


@pytest.mark.parametrize("tamper", [
    lambda s: s.sid,  # the sid alone (it is in every ID token)
    lambda s: f"{s.sid}.",
    lambda s: f"{s.sid}.wrong-secret",
    lambda s: f"{s.sid}.{s.secret}x",
    lambda s: f".{s.secret}",
    lambda s: s.secret,
    lambda s: f"{s.sid}.{s.secret}.{s.secret}",
    lambda s: f"{s.sid}.{s.secret}" + "A" * 300,
    lambda s: "",
    lambda s: "\x00.\x00",
    lambda s: "../../etc/passwd",
    lambda s: "%00.%00",
])
def test_a_tampered_cookie_is_no_session(app: Flask, tamper: Any) -> None:
    made = begin(app)
    assert current(app, tamper(made)) is None


def test_two_sessions_of_one_person_are_listed_and_ended_one_by_one(app: Flask) -> None:
    first, second = begin(app), begin(app)
    other = begin(app, person_id=8)
    with app.app_context():
        oldest_first = sorted((first, second), key=lambda s: (s.created, s.sid))
        assert [s.sid for s in login_session.sessions_of(7)] == [s.sid for s in oldest_first]
        ended = login_session.end_sid(first.sid)
        assert ended is not None and ended.sid == first.sid
        assert login_session.end_sid(first.sid) is None  # once only
        assert [s.sid for s in login_session.sessions_of(7)] == [second.sid]
        assert [s.sid for s in login_session.sessions_of(8)] == [other.sid]
    assert current(app, first.cookie) is None and current(app, second.cookie) is not None


def test_end_all_except_this_one(app: Flask) -> None:
    keep, drop1, drop2 = begin(app), begin(app), begin(app)
    with app.app_context():
        ended = login_session.end_all(7, except_sid=keep.sid)
        assert {s.sid for s in ended} == {drop1.sid, drop2.sid}
        assert [s.sid for s in login_session.sessions_of(7)] == [keep.sid]
        assert {s.sid for s in login_session.end_all(7)} == {keep.sid}
        assert login_session.sessions_of(7) == [] and login_session.end_all(7) == []


def test_the_index_prunes_sessions_that_are_gone(app: Flask) -> None:
    made = begin(app)
    store = app.extensions["idp"].store
    store.delete("sid", made.sid)  # expired in the store
    with app.app_context():
        assert login_session.sessions_of(7) == []
        assert store.set_members(login_session.INDEX, "7") == set()


def test_ttls_follow_the_settings(make_app: Any) -> None:
    app = make_app(SESSION_IDLE_TTL=120, SESSION_ABSOLUTE_TTL=3600)
    made = begin(app)
    store = app.extensions["idp"].store
    assert 110 <= store.ttl("sid", made.sid) <= 120
    assert 3500 <= store.ttl(login_session.INDEX, "7") <= 3600
    assert made.absolute_exp - int(time.time()) <= 3600


def test_an_absolutely_expired_session_is_no_session(app: Flask) -> None:
    made = begin(app)
    store = app.extensions["idp"].store
    data = store.get("sid", made.sid)
    data["absolute_exp"] = int(time.time()) - 1
    store.put("sid", made.sid, data, 60)
    assert current(app, made.cookie) is None
    with app.app_context():
        assert login_session.sessions_of(7) == []


def test_a_session_written_by_another_version_is_no_session(app: Flask) -> None:
    made = begin(app)
    store = app.extensions["idp"].store
    store.put("sid", made.sid, {"unexpected": 1}, 60)
    assert current(app, made.cookie) is None
    store.put("sid", made.sid, ["not", "a", "dict"], 60)
    assert current(app, made.cookie) is None
