"""Ending a session revokes the refresh tokens issued in it, except those issued for offline_access."""

from __future__ import annotations

from . import helpers


def _refresh(rp, token: str) -> int:
    return int(rp.client_post("/token", {"grant_type": "refresh_token", "refresh_token": token}).status_code)


def _logout(rp, hint: str) -> None:
    resp = rp.browser.get("/end_session", query_string={"id_token_hint": hint,
                                                         "post_logout_redirect_uri": helpers.LOGOUT_REDIRECT})
    assert resp.status_code == 302


def test_logout_revokes_the_session_bound_refresh_token_and_its_access_tokens(make_rp) -> None:
    rp = make_rp(grant_types=["authorization_code", "refresh_token"])
    body = rp.tokens(scope="openid profile")
    assert body["refresh_token"] and rp.userinfo_status(body["access_token"]) == 200
    _logout(rp, body["id_token"])
    assert _refresh(rp, body["refresh_token"]) == 400
    assert rp.userinfo_status(body["access_token"]) == 401


def test_offline_access_outlives_the_session(make_rp) -> None:
    rp = make_rp(grant_types=["authorization_code", "refresh_token"])
    body = rp.tokens(scope="openid offline_access")
    _logout(rp, body["id_token"])
    assert _refresh(rp, body["refresh_token"]) == 200


def test_logout_of_one_session_leaves_another_sessions_tokens(make_rp) -> None:
    first = make_rp(grant_types=["authorization_code", "refresh_token"])
    second = make_rp(grant_types=["authorization_code", "refresh_token"])  # its own browser and session
    one, two = first.tokens(scope="openid"), second.tokens(scope="openid")
    _logout(first, one["id_token"])
    assert _refresh(first, one["refresh_token"]) == 400
    assert _refresh(second, two["refresh_token"]) == 200
