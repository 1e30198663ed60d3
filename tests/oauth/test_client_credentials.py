"""The client credentials grant: confidential clients registered for it, no refresh token, no person."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from . import helpers

MACHINE = {"grant_types": ["client_credentials"], "response_types": [], "scope": "openid profile nik"}


def machine(app: Flask, **kwargs: Any) -> tuple[str, str | None]:
    args = {**MACHINE, **kwargs}
    return helpers.create_client(app, **args)


def cc(http: FlaskClient, client_id: str, secret: str, **data: Any) -> Any:
    return http.post("/token", data={"grant_type": "client_credentials", **data},
                     headers=helpers.basic(client_id, secret))


def test_issues_an_access_token_for_the_client(app: Flask) -> None:
    cid, secret = machine(app)
    assert secret
    http = app.test_client()
    resp = cc(http, cid, secret)
    assert resp.status_code == 200, resp.get_json()
    body = resp.get_json()
    assert resp.headers["Cache-Control"] == "no-store"
    assert body["token_type"] == "Bearer" and body["expires_in"] > 0
    assert "refresh_token" not in body and "id_token" not in body
    data = app.extensions["idp"].store.get("at", body["access_token"])
    assert data["sub"] == cid and data["person_id"] is None and data["grant"] == "client_credentials"
    # It is no person's token: userinfo refuses it.
    assert http.get("/userinfo", headers={"Authorization": f"Bearer {body['access_token']}"}).status_code == 401


def test_client_secret_post(app: Flask) -> None:
    cid, secret = machine(app, auth_method="client_secret_post")
    resp = app.test_client().post("/token", data={"grant_type": "client_credentials", "client_id": cid,
                                                  "client_secret": secret})
    assert resp.status_code == 200


@pytest.mark.parametrize("scope", ["openid", "openid profile email nik offline_access", "admin", "' OR 1=1"])
def test_person_scopes_are_never_granted(app: Flask, scope: str) -> None:
    cid, secret = machine(app, approved_scopes="nik")
    body = cc(app.test_client(), cid, secret, scope=scope).get_json()
    assert body.get("scope", "") == ""
    assert "refresh_token" not in body


def test_client_not_registered_for_the_grant(app: Flask) -> None:
    cid, secret = helpers.create_client(app)  # authorization_code only
    resp = cc(app.test_client(), cid, secret or "")
    assert resp.status_code == 400 and resp.get_json()["error"] == "unauthorized_client"


def test_public_client_cannot_use_it(app: Flask) -> None:
    cid, _ = helpers.create_client(app, secret=None, grant_types=["client_credentials"])
    resp = app.test_client().post("/token", data={"grant_type": "client_credentials", "client_id": cid})
    assert resp.get_json()["error"] == "invalid_client"


@pytest.mark.parametrize("headers", [
    {},
    {"Authorization": "Basic d3Jvbmc6d3Jvbmc="},  # wrong:wrong
    {"Authorization": "Basic !!!"},
    {"Authorization": "Bearer abc"},
])
def test_bad_client_authentication(app: Flask, headers: dict[str, str]) -> None:
    machine(app)
    resp = app.test_client().post("/token", data={"grant_type": "client_credentials"}, headers=headers)
    assert resp.status_code in (400, 401)
    assert resp.get_json()["error"] == "invalid_client"
    if headers.get("Authorization", "").startswith("Basic"):
        assert resp.status_code == 401 and resp.headers["WWW-Authenticate"].startswith("Basic")


def test_wrong_secret_for_known_client(app: Flask) -> None:
    cid, _ = machine(app)
    resp = cc(app.test_client(), cid, "not-the-secret")
    assert resp.status_code == 401 and resp.headers["WWW-Authenticate"].startswith("Basic")


def test_disabled_client(app: Flask) -> None:
    cid, secret = machine(app, disabled=True)
    assert cc(app.test_client(), cid, secret or "").status_code == 401


def test_repeated_scope(app: Flask) -> None:
    cid, secret = machine(app)
    resp = app.test_client().post("/token", data={"grant_type": "client_credentials", "scope": ["a", "b"]},
                                  headers=helpers.basic(cid, secret or ""))
    assert resp.status_code == 400 and resp.get_json()["error"] == "invalid_request"
