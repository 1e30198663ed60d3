"""Token revocation (RFC 7009) at /revoke."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select

from idp.extensions import db
from idp.models import RefreshToken

from . import helpers
from .conftest import RP

SCOPE = "openid profile offline_access"


@pytest.fixture
def rrp(make_rp: Callable[..., RP]) -> RP:
    return make_rp(grant_types=["authorization_code", "refresh_token"])


def revoke(rp: RP, token: str, *, secret: str | None = None, client_id: str | None = None,
           **extra: Any) -> Any:
    data = {"token": token, **extra}
    return rp.client_post("/revoke", data, client_id=client_id, secret=secret)


def userinfo(rp: RP, access_token: str) -> int:
    return rp.userinfo_status(access_token)


def refresh(rp: RP, token: str) -> Any:
    return rp.browser.post("/token", data={"grant_type": "refresh_token", "refresh_token": token},
                           headers=helpers.basic(rp.client_id, rp.secret or ""))


@pytest.mark.parametrize("hint", [None, "access_token", "refresh_token"])
def test_revoke_access_token(rrp: RP, hint: str | None) -> None:
    tokens = rrp.tokens(scope=SCOPE)
    extra = {"token_type_hint": hint} if hint else {}
    resp = revoke(rrp, tokens["access_token"], **extra)
    assert resp.status_code == 200 and resp.get_json() == {}
    assert resp.headers["Cache-Control"] == "no-store"
    assert userinfo(rrp, tokens["access_token"]) == 401
    # Only the access token: the refresh token still works.
    assert refresh(rrp, tokens["refresh_token"]).status_code == 200


@pytest.mark.parametrize("hint", [None, "access_token", "refresh_token"])
def test_revoke_refresh_token_revokes_family(rrp: RP, hint: str | None) -> None:
    tokens = rrp.tokens(scope=SCOPE)
    extra = {"token_type_hint": hint} if hint else {}
    resp = revoke(rrp, tokens["refresh_token"], **extra)
    assert resp.status_code == 200
    assert refresh(rrp, tokens["refresh_token"]).get_json()["error"] == "invalid_grant"
    assert userinfo(rrp, tokens["access_token"]) == 401
    with rrp.app.app_context():
        row = db.session.execute(select(RefreshToken)).scalar_one()
        assert row.revoked_at is not None and row.revoked_reason == "revoked_by_client"
    # Revoking again is fine (RFC 7009 2.2).
    assert revoke(rrp, tokens["refresh_token"]).status_code == 200


def test_cannot_revoke_another_clients_token(rrp: RP, make_rp: Callable[..., RP]) -> None:
    tokens = rrp.tokens(scope=SCOPE)
    other = make_rp()
    for value in (tokens["access_token"], tokens["refresh_token"]):
        resp = revoke(other, value)
        assert resp.status_code == 400
        assert resp.get_json()["error"] == "invalid_grant"
    assert userinfo(rrp, tokens["access_token"]) == 200
    assert refresh(rrp, tokens["refresh_token"]).status_code == 200


@pytest.mark.parametrize("value", ["unknown", "x" * 5000, "' OR 1=1 --", "a.b", "\u00e4\u00f6", "%00"])
def test_unknown_tokens_answer_200(rrp: RP, value: str) -> None:
    assert revoke(rrp, value).status_code == 200


def test_public_client_revokes_its_own(make_rp: Callable[..., RP]) -> None:
    rp = make_rp(secret=None, grant_types=["authorization_code", "refresh_token"])
    tokens = rp.tokens(scope=SCOPE)
    assert revoke(rp, tokens["refresh_token"]).status_code == 200
    assert userinfo(rp, tokens["access_token"]) == 401


def test_unsupported_hint(rrp: RP) -> None:
    tokens = rrp.tokens(scope=SCOPE)
    resp = revoke(rrp, tokens["access_token"], token_type_hint="id_token")
    assert resp.status_code == 400 and resp.get_json()["error"] == "unsupported_token_type"


@pytest.mark.parametrize("headers,data", [
    ({}, {"token": "abc"}),
    ({"Authorization": "Basic !!!"}, {"token": "abc"}),
    ({"Authorization": "Bearer abc"}, {"token": "abc"}),
    ({}, {"token": "abc", "client_id": "nope"}),
    ({}, {"token": "abc", "client_id": "x" * 500}),
])
def test_clients_must_authenticate(rrp: RP, headers: dict[str, str], data: dict[str, str]) -> None:
    resp = rrp.browser.post("/revoke", data=data, headers=headers)
    assert resp.status_code in (400, 401)
    assert resp.get_json()["error"] == "invalid_client"


def test_confidential_client_cannot_skip_its_secret(rrp: RP) -> None:
    tokens = rrp.tokens(scope=SCOPE)
    resp = rrp.browser.post("/revoke", data={"token": tokens["access_token"], "client_id": rrp.client_id})
    assert resp.get_json()["error"] == "invalid_client"
    assert userinfo(rrp, tokens["access_token"]) == 200


def test_repeated_token(rrp: RP) -> None:
    tokens = rrp.tokens(scope=SCOPE)
    resp = rrp.browser.post("/revoke", data={"token": [tokens["access_token"], "x"]},
                            headers=helpers.basic(rrp.client_id, rrp.secret or ""))
    assert resp.status_code == 400 and resp.get_json()["error"] == "invalid_request"
    assert userinfo(rrp, tokens["access_token"]) == 200


def test_wrong_secret_gets_401_with_challenge(rrp: RP) -> None:
    resp = revoke(rrp, "abc", secret="wrong")
    assert resp.status_code == 401
    assert resp.headers["WWW-Authenticate"].startswith("Basic")


def test_missing_token_and_get(rrp: RP) -> None:
    resp = rrp.browser.post("/revoke", data={}, headers=helpers.basic(rrp.client_id, rrp.secret or ""))
    assert resp.status_code == 400 and resp.get_json()["error"] == "invalid_request"
    assert rrp.browser.get("/revoke").status_code == 405
