"""/account/sessions: every session of the person, sign out one, sign out everywhere."""

from __future__ import annotations

import re

import pytest
from flask import Flask

from idp.models import AuditEvent
from tests.citizen.helpers import csrf, sign_in

from .conftest import english, post_page, signed_in_citizen


def sids(html: str) -> list[str]:
    return re.findall(r'action="/account/sessions/end/([^"]+)"', html)


def test_two_sessions_listed_and_one_ended(app: Flask) -> None:
    browser, citizen = signed_in_citizen(app)
    other = english(app, "10.0.0.9")
    assert sign_in(other, citizen).status_code == 303
    page = browser.get("/account/sessions").get_data(as_text=True)
    assert len(sids(page)) == 2 and 'id="this-session"' in page and "this device" in page
    mine = re.search(r'id="this-session">.*?action="/account/sessions/end/([^"]+)"', page, re.S)
    assert mine is not None
    theirs = next(s for s in sids(page) if s != mine.group(1))
    resp = post_page(browser, "/account/sessions", action=f"/account/sessions/end/{theirs}")
    assert resp.status_code == 303
    assert other.get("/account").status_code == 303  # the other browser is signed out
    assert browser.get("/account").status_code == 200
    with app.app_context():
        from idp.extensions import db

        assert db.session.query(AuditEvent).filter_by(event="logout", outcome="success").count() >= 1


@pytest.mark.parametrize("sid", ["nope", "x" * 300, "..", "%00", "' OR 1=1 --"])
def test_unknown_or_hostile_sid(app: Flask, sid: str) -> None:
    browser, _ = signed_in_citizen(app)
    resp = post_page(browser, "/account/sessions", action=f"/account/sessions/end/{sid}")
    assert resp.status_code in (404, 405)
    assert browser.get("/account").status_code == 200


def test_cannot_end_someone_elses_session(app: Flask) -> None:
    browser, _ = signed_in_citizen(app)
    victim, _ = signed_in_citizen(app)
    victim_sid = sids(victim.get("/account/sessions").get_data(as_text=True))[0]
    resp = post_page(browser, "/account/sessions", action=f"/account/sessions/end/{victim_sid}")
    assert resp.status_code == 404
    assert victim.get("/account").status_code == 200


def test_end_this_session_goes_to_start(app: Flask) -> None:
    browser, _ = signed_in_citizen(app)
    mine = sids(browser.get("/account/sessions").get_data(as_text=True))[0]
    resp = post_page(browser, "/account/sessions", action=f"/account/sessions/end/{mine}")
    assert resp.status_code == 303 and resp.headers["Location"] == "/"
    assert browser.get("/account").status_code == 303


def test_sign_out_everywhere(app: Flask) -> None:
    browser, citizen = signed_in_citizen(app)
    other = english(app, "10.0.0.8")
    assert sign_in(other, citizen).status_code == 303
    page = browser.get("/account/sessions")
    resp = browser.post("/account/sessions/end-all", data={"csrf_token": csrf(page.data)})
    assert resp.status_code == 303 and resp.headers["Location"] == "/"
    assert browser.get("/account").status_code == 303 and other.get("/account").status_code == 303


def test_each_session_shows_its_device_and_address(app: Flask) -> None:
    browser, citizen = signed_in_citizen(app)
    phone = english(app, "10.1.2.3")
    phone.environ_base["HTTP_USER_AGENT"] = ("Mozilla/5.0 (Linux; Android 14; SM-A146P) AppleWebKit/537.36 "
                                             "(KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36")
    assert sign_in(phone, citizen).status_code == 303
    page = browser.get("/account/sessions").get_data(as_text=True)
    assert "Chrome / Android" in page and "IP address 10.1.2.3" in page


@pytest.mark.parametrize(("ua", "shown"), [
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Version/17.0 Safari/604.1",
     "Safari / iPhone"),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36 Edg/131.0",
     "Edge / Windows"),
    ("Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0", "Firefox / Linux"),
    ("<script>alert(1)</script>", None), ("", None), ("x" * 10_000, None),
])
def test_device_summary(ua: str, shown: str | None) -> None:
    from idp.people.session import device_of

    assert device_of(ua) == shown
