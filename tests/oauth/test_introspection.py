"""Token introspection (RFC 7662) at /introspect."""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select, update

from idp.extensions import db
from idp.models import Client, RefreshToken

from . import helpers
from .conftest import RP

SCOPE = "openid profile offline_access"
FIELDS = {"active", "scope", "client_id", "sub", "exp", "iat", "token_type", "iss", "aud"}


API = "https://api.example.go.id"


@pytest.fixture
def rrp(make_rp: Callable[..., RP]) -> RP:
    # Its access tokens are for API (RFC 9068 aud), so API's resource server may introspect them.
    return make_rp(grant_types=["authorization_code", "refresh_token"], access_token_audience=API)


@pytest.fixture
def resource_server(app: Flask) -> tuple[str, str]:
    """A confidential client acting as the resource server API (RFC 7662 4: it may introspect the tokens
    meant for it, issue 13)."""
    cid, secret = helpers.create_client(app, grant_types=["client_credentials"], response_types=[],
                                        access_token_audience=API)
    assert secret
    return cid, secret


def introspect(app: Flask, token: str, creds: tuple[str, str | None], **extra: Any) -> Any:
    return app.test_client().post("/introspect", data={"token": token, **extra},
                                  headers=helpers.basic(creds[0], creds[1] or ""))


def test_active_access_token(rrp: RP, resource_server: tuple[str, str]) -> None:
    tokens = rrp.tokens(scope=SCOPE)
    resp = introspect(rrp.app, tokens["access_token"], resource_server)
    assert resp.status_code == 200
    assert resp.headers["Cache-Control"] == "no-store"
    body = resp.get_json()
    assert set(body) == FIELDS
    assert body["active"] is True and body["sub"] == rrp.sub and body["client_id"] == rrp.client_id
    assert body["scope"] == SCOPE and body["token_type"] == "Bearer"
    assert body["iss"] == "http://127.0.0.1:5000" and body["aud"] == API
    assert body["exp"] > body["iat"]


def test_refresh_token_only_for_its_client(rrp: RP, resource_server: tuple[str, str]) -> None:
    tokens = rrp.tokens(scope=SCOPE)
    own = introspect(rrp.app, tokens["refresh_token"], (rrp.client_id, rrp.secret)).get_json()
    assert own["active"] is True and own["token_type"] == "refresh_token" and own["sub"] == rrp.sub
    assert introspect(rrp.app, tokens["refresh_token"], resource_server).get_json() == {"active": False}


def test_client_credentials_token(app: Flask, resource_server: tuple[str, str]) -> None:
    cid, secret = resource_server
    token = app.test_client().post("/token", data={"grant_type": "client_credentials"},
                                   headers=helpers.basic(cid, secret)).get_json()["access_token"]
    body = introspect(app, token, resource_server).get_json()
    assert body["active"] is True and body["sub"] == cid and body["client_id"] == cid


def test_inactive_after_revocation_and_rotation(rrp: RP, resource_server: tuple[str, str]) -> None:
    tokens = rrp.tokens(scope=SCOPE)
    new = rrp.browser.post("/token", data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
                           headers=helpers.basic(rrp.client_id, rrp.secret or "")).get_json()
    # The rotated-out refresh token is inactive.
    assert introspect(rrp.app, tokens["refresh_token"], (rrp.client_id, rrp.secret)).get_json() == {"active": False}
    rrp.browser.post("/revoke", data={"token": new["refresh_token"]},
                     headers=helpers.basic(rrp.client_id, rrp.secret or ""))
    for value in (tokens["access_token"], new["access_token"]):
        assert introspect(rrp.app, value, resource_server).get_json() == {"active": False}
    assert introspect(rrp.app, new["refresh_token"], (rrp.client_id, rrp.secret)).get_json() == {"active": False}


def test_inactive_when_expired(rrp: RP, resource_server: tuple[str, str]) -> None:
    tokens = rrp.tokens(scope=SCOPE)
    store = rrp.app.extensions["idp"].store
    data = store.get("at", tokens["access_token"])
    data["exp"] = data["iat"] - 1
    store.put("at", tokens["access_token"], data, 60)
    assert introspect(rrp.app, tokens["access_token"], resource_server).get_json() == {"active": False}
    with rrp.app.app_context():
        db.session.execute(update(RefreshToken).values(expires_at=dt.datetime(2020, 1, 1)))
        db.session.commit()
    assert introspect(rrp.app, tokens["refresh_token"], (rrp.client_id, rrp.secret)).get_json() == {"active": False}


def test_inactive_when_tokens_client_is_disabled(rrp: RP, resource_server: tuple[str, str]) -> None:
    tokens = rrp.tokens(scope=SCOPE)
    with rrp.app.app_context():
        # As the operator paths do (ORM): this process forgets its cached copy of the client at once.
        db.session.execute(select(Client).where(Client.client_id == rrp.client_id)).scalar_one().disabled = True
        db.session.commit()
    assert introspect(rrp.app, tokens["access_token"], resource_server).get_json() == {"active": False}


@pytest.mark.parametrize("value", ["unknown", "x" * 5000, "' OR 1=1 --", "a.b", "\u00e4", "%00", " "])
@pytest.mark.parametrize("hint", [None, "access_token", "refresh_token", "id_token"])
def test_unknown_tokens_are_inactive(app: Flask, resource_server: tuple[str, str], value: str,
                                     hint: str | None) -> None:
    extra = {"token_type_hint": hint} if hint else {}
    resp = introspect(app, value, resource_server, **extra)
    assert resp.status_code == 200 and resp.get_json() == {"active": False}


@pytest.mark.parametrize("hint", ["refresh_token", "access_token", "bogus"])
def test_hint_is_not_trusted(rrp: RP, resource_server: tuple[str, str], hint: str) -> None:
    tokens = rrp.tokens(scope=SCOPE)
    assert introspect(rrp.app, tokens["access_token"], resource_server,
                      token_type_hint=hint).get_json()["active"] is True


def test_public_clients_cannot_introspect(rrp: RP, make_rp: Callable[..., RP]) -> None:
    tokens = rrp.tokens(scope=SCOPE)
    public = make_rp(secret=None)
    resp = rrp.app.test_client().post("/introspect", data={"token": tokens["access_token"],
                                                           "client_id": public.client_id})
    assert resp.status_code in (400, 401) and resp.get_json()["error"] == "invalid_client"
    assert "active" not in resp.get_json()


@pytest.mark.parametrize("headers", [
    {}, {"Authorization": "Basic !!!"}, {"Authorization": "Bearer x"},
    {"Authorization": "Basic " + base64.b64encode(b"\xff\xfe:\xfe").decode()},
    {"Authorization": "Basic " + base64.b64encode(b"%ff:%fe").decode()},
    {"Authorization": "Basic " + base64.b64encode(b"nocolon").decode()},
])
def test_unauthenticated(rrp: RP, headers: dict[str, str]) -> None:
    tokens = rrp.tokens(scope=SCOPE)
    resp = rrp.app.test_client().post("/introspect", data={"token": tokens["access_token"]}, headers=headers)
    assert resp.status_code == 401 and resp.get_json()["error"] == "invalid_client"
    assert "active" not in resp.get_json()


def test_wrong_secret_gets_challenge(rrp: RP, resource_server: tuple[str, str]) -> None:
    resp = introspect(rrp.app, "x", (resource_server[0], "wrong"))
    assert resp.status_code == 401 and resp.headers["WWW-Authenticate"].startswith("Basic")


def test_missing_or_repeated_token(app: Flask, resource_server: tuple[str, str]) -> None:
    http = app.test_client()
    auth = helpers.basic(*resource_server)
    assert http.post("/introspect", data={}, headers=auth).get_json()["error"] == "invalid_request"
    assert http.post("/introspect", data={"token": ["a", "b"]}, headers=auth).get_json()["error"] == "invalid_request"
