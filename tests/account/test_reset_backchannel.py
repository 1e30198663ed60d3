"""A password reset and a "this was not me" link end the person's sessions at the applications too (issue 16):
each application that registered a ``backchannel_logout_uri`` gets a Back-Channel Logout notice for the
session the person had there.  A real HTTP receiver plays the application (:mod:`tests.oauth.test_backchannel`);
the logout token it receives is checked against the published JWKS."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from idp.extensions import db
from idp.models import CitizenAccount
from tests.citizen.helpers import body, reset_password, sign_in
from tests.oauth.test_backchannel import Receiver, check_logout_token, deliver, verify
from tests.oauth.test_backchannel import notices as logout_notices

from .conftest import RP, english, signed_in_citizen
from .test_notices import LINK_RE, not_me, notices

NEW = "gado gado tanpa kacang"


@pytest.fixture
def app(oauth_app: Callable[..., Flask]) -> Flask:
    # Loopback receivers need the test switch; delivery is driven by the test (no thread).
    return oauth_app(JWKS_URI_ALLOW_LOOPBACK=True, BACKCHANNEL_WORKER=False)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    made = Receiver().start()
    yield made
    made.stop()


def citizen_at_application(app: Flask, make_rp: Callable[..., RP], receiver: Receiver) -> tuple[Any, RP, str]:
    """A citizen signed in (through the pages) to an application with a back-channel URI, and one without;
    (citizen, the first application, the session id the applications know)."""
    browser, citizen = signed_in_citizen(app)
    with app.app_context():
        account = db.session.execute(select(CitizenAccount).where(CitizenAccount.email == citizen.email)).scalar_one()
        person_id, sub = account.person_id, account.person.sub
    rp = make_rp(signed_in=False, backchannel_logout_uri=receiver.url)
    silent = make_rp(signed_in=False)  # registered no back-channel URI: gets nothing
    for app_rp in (rp, silent):
        app_rp.browser, app_rp.person_id, app_rp.sub = browser, person_id, sub
    sid = verify(app, rp.tokens()["id_token"])[1]["sid"]
    silent.tokens()
    assert logout_notices(app) == []
    return citizen, rp, sid


def delivered_to(app: Flask, rp: RP, receiver: Receiver, sid: str) -> None:
    """Exactly one notice, for this application and session, queued and then delivered."""
    rows = logout_notices(app)
    assert [(r.client_id, r.sid, r.status) for r in rows] == [(rp.client_id, sid, "pending")]
    assert deliver(app) == {"delivered": 1}
    [token] = receiver.tokens()
    check_logout_token(app, token, aud=rp.client_id, sid=sid, sub=rp.sub)


def test_a_password_reset_notifies_the_applications(app: Flask, make_rp: Callable[..., RP],
                                                    receiver: Receiver) -> None:
    citizen, rp, sid = citizen_at_application(app, make_rp, receiver)
    done = reset_password(english(app, "10.7.0.1"), app, citizen, NEW)
    assert done.status_code == 303
    delivered_to(app, rp, receiver, sid)


def test_this_was_not_me_notifies_the_applications(app: Flask, make_rp: Callable[..., RP],
                                                   receiver: Receiver) -> None:
    citizen, rp, sid = citizen_at_application(app, make_rp, receiver)
    intruder = english(app, "10.7.1.1")
    intruder.environ_base["HTTP_USER_AGENT"] = "Mozilla/5.0 (Linux; Android 14) Chrome/131.0 Mobile Safari/537.36"
    assert sign_in(intruder, citizen).status_code == 303  # a new device: the owner gets a notice
    [notice] = notices(app, citizen.email, 2, "New sign-in")
    path = LINK_RE.search(body(notice)).group(1)  # type: ignore[union-attr]
    assert not_me(english(app, "10.7.1.2"), path).status_code == 303
    # Both sessions ended; only the one the application knew has a notice (the intruder's was at no application).
    delivered_to(app, rp, receiver, sid)
    assert intruder.get("/account").status_code == 303
