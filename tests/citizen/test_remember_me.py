""""Remember me": an explicit, longer session with a persistent cookie; otherwise a browser-session cookie."""

from __future__ import annotations

import re

import pytest

from .helpers import form_post, register_and_verify


def _sign_in(client, citizen, **extra):
    return form_post(client, "/login", {"identifier": citizen.nik, "password": citizen.password, "req": "",
                                        **extra}, action="/login")


def _set_cookie(resp) -> str:
    return next(v for v in resp.headers.getlist("Set-Cookie") if v.startswith("idp_session="))


def test_without_remember_me_the_cookie_dies_with_the_browser(app, client) -> None:
    citizen = register_and_verify(client)
    resp = _sign_in(client, citizen)
    assert resp.status_code == 303
    header = _set_cookie(resp)
    assert "Max-Age" not in header and "Expires" not in header
    sid = client.get_cookie("idp_session").value.split(".")[0]
    assert app.extensions["idp"].store.ttl("sid", sid) <= app.extensions["idp"].config["SESSION_IDLE_TTL"]


def test_remember_me_lasts_the_remember_ttl_without_idle_timeout(make_app) -> None:
    app = make_app(SESSION_IDLE_TTL=300, SESSION_REMEMBER_TTL=7 * 86400)
    client = app.test_client()  # English: the citizen tests' client (tests/citizen/conftest.py)
    citizen = register_and_verify(client)
    page = client.get("/login").get_data(as_text=True)
    assert 'name="remember"' in page and "For 7 days" in page
    resp = _sign_in(client, citizen, remember="y")
    assert resp.status_code == 303
    max_age = int(re.search(r"Max-Age=(\d+)", _set_cookie(resp)).group(1))
    assert 7 * 86400 - 60 <= max_age <= 7 * 86400
    sid = client.get_cookie("idp_session").value.split(".")[0]
    assert app.extensions["idp"].store.ttl("sid", sid) > 300  # no idle timeout


@pytest.mark.parametrize("value", ["y", "on", "1", "<script>", "x" * 5000])
def test_remember_me_can_be_switched_off_by_the_operator(make_app, value) -> None:
    app = make_app(SESSION_REMEMBER_TTL=0)
    client = app.test_client()
    citizen = register_and_verify(client)
    assert 'name="remember"' not in client.get("/login").get_data(as_text=True)
    resp = _sign_in(client, citizen, remember=value)
    assert resp.status_code == 303 and "Max-Age" not in _set_cookie(resp)
