"""An operator lists and ends a person's sessions (``idp sessions``): tokens revoked, applications told."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
from sqlalchemy import select

from idp.extensions import db
from idp.models import AuditEvent, Person

from . import helpers
from . import test_backchannel as bc
from .test_backchannel import check_logout_token, deliver, notices, verify

app = bc.app  # the back-channel tests' fixtures: loopback receivers allowed, delivery driven by the test
receivers = bc.receivers


def cli(app: Any, *args: str, stdin: str | None = None) -> Any:
    return app.test_cli_runner().invoke(args=["sessions", *args], input=stdin)


@pytest.fixture
def two_sessions(app, make_rp, receivers) -> tuple[Any, Any, Any]:
    recv = receivers()
    first = make_rp(backchannel_logout_uri=recv.url)
    second = dataclasses.replace(first, browser=app.test_client())
    second.sign_in()
    first.tokens(), second.tokens()
    return first, second, recv


def test_list_by_sub_email_and_nik(app, two_sessions) -> None:
    first, _, _ = two_sessions
    by_sub = cli(app, "list", "--sub", first.sub, "--json")
    assert by_sub.exit_code == 0, by_sub.output
    listed = json.loads(by_sub.output)
    assert listed["sub"] == first.sub and len(listed["sessions"]) == 2
    assert all(s["clients"] == [first.client_id] for s in listed["sessions"])
    with app.app_context():
        email = db.session.execute(select(Person.email).where(Person.id == first.person_id)).scalar()
    assert "2 session(s)" in cli(app, "list", "--email", email.upper()).output
    by_nik = cli(app, "list", "--nik", stdin=helpers.NIK + "\n")
    assert by_nik.exit_code == 0 and "2 session(s)" in by_nik.output
    assert helpers.NIK not in by_nik.output  # the hidden prompt does not echo it


@pytest.mark.parametrize("args, stdin, message", [
    ((), None, "exactly one of"),
    (("--sub", "x", "--email", "y@example.org"), None, "exactly one of"),
    (("--sub", "no-such-sub"), None, "no such person"),
    (("--email", "nobody@example.org"), None, "no such person"),
    (("--nik",), "12345\n", "not a NIK"),
    (("--nik",), "3603019999990001\n", "no such person"),
    (("--sub", "' OR 1=1 --"), None, "no such person"),
])
def test_bad_names(app, two_sessions, args, stdin, message) -> None:
    result = cli(app, "list", *args, stdin=stdin)
    assert result.exit_code != 0 and message in result.output
    assert "Traceback" not in result.output


def test_end_every_session_notifies_once_per_session(app, two_sessions) -> None:
    first, second, recv = two_sessions
    result = cli(app, "end", "--sub", first.sub, "--reason", "ticket 42")
    assert result.exit_code == 0 and "ended 2 session(s)" in result.output, result.output
    assert first.browser.get("/account").status_code == 303 and second.browser.get("/account").status_code == 303
    assert deliver(app) == {"delivered": 2}
    sids = {check_logout_token(app, t, aud=first.client_id, sid=verify(app, t)[1]["sid"], sub=first.sub)["sid"]
            for t in recv.tokens()}
    assert len(sids) == 2
    with app.app_context():
        event = db.session.execute(select(AuditEvent).where(AuditEvent.event == "admin.sessions_ended")).scalar_one()
        assert event.person_id == first.person_id and event.detail["reason"] == "ticket 42"
        assert event.detail["sessions"] == 2
        reasons = [e.detail["reason"] for e in db.session.execute(
            select(AuditEvent).where(AuditEvent.event == "logout")).scalars()]
        assert reasons == ["administrator", "administrator"]
    assert "0 session(s)" in cli(app, "list", "--sub", first.sub).output


def test_end_one_session(app, two_sessions) -> None:
    first, second, _ = two_sessions
    sids = [s["sid"] for s in json.loads(cli(app, "list", "--sub", first.sub, "--json").output)["sessions"]]
    result = cli(app, "end", "--sub", first.sub, "--sid", sids[0], "--reason", "lost phone")
    assert result.exit_code == 0 and "ended 1 session(s)" in result.output
    assert [r.sid for r in notices(app)] == [sids[0]]
    assert "1 session(s)" in cli(app, "list", "--sub", first.sub).output
    again = cli(app, "end", "--sub", first.sub, "--sid", sids[0], "--reason", "again")
    assert again.exit_code != 0 and "no such live session" in again.output


def test_reason_is_required(app, two_sessions) -> None:
    first, _, _ = two_sessions
    result = cli(app, "end", "--sub", first.sub)
    assert result.exit_code != 0 and "--reason" in result.output
