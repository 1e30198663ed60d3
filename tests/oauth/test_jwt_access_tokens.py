"""JWT access tokens (RFC 9068) for clients that ask for them: verified by an independent library
against the JWKS, and still revocable, introspectable and accepted at userinfo like opaque ones."""

from __future__ import annotations

import time
import warnings
from typing import Any

import pytest
from flask import Flask
from joserfc import jwt
from joserfc.errors import SecurityWarning
from joserfc.jwk import KeySet

from idp.oauth import registration

from . import helpers
from .test_client_credentials import cc, machine

ISS = "http://127.0.0.1:5000"


def decode(app: Flask, token: str) -> Any:
    jwks = KeySet.import_key_set(app.test_client().get("/jwks.json").get_json())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SecurityWarning)  # "EdDSA" by name (RFC 9864)
        return jwt.decode(token, jwks, algorithms=["RS256", "ES256", "EdDSA"])


@pytest.mark.parametrize("alg", ["RS256", "ES256", "EdDSA"])
def test_client_credentials_jwt(app: Flask, alg: str) -> None:
    cid, secret = machine(app, access_token_format="jwt", access_token_signed_response_alg=alg,
                          access_token_audience="https://api.perizinan.example.go.id")
    assert secret
    resp = cc(app.test_client(), cid, secret)
    assert resp.status_code == 200, resp.get_json()
    token = resp.get_json()["access_token"]
    decoded = decode(app, token)
    assert decoded.header["typ"] == "at+jwt" and decoded.header["alg"] == alg and decoded.header["kid"]
    claims = decoded.claims
    now = time.time()
    assert claims["iss"] == ISS and claims["sub"] == cid and claims["client_id"] == cid
    assert claims["aud"] == "https://api.perizinan.example.go.id"
    assert claims["iat"] <= now < claims["exp"] and len(claims["jti"]) >= 16
    # Introspection and revocation treat it like an opaque token.
    active = app.test_client().post("/introspect", data={"token": token}, headers=helpers.basic(cid, secret))
    assert active.get_json()["active"] is True
    revoked = app.test_client().post("/revoke", data={"token": token}, headers=helpers.basic(cid, secret))
    assert revoked.status_code == 200
    gone = app.test_client().post("/introspect", data={"token": token}, headers=helpers.basic(cid, secret))
    assert gone.get_json() == {"active": False}


def test_code_flow_jwt_access_token_at_userinfo(make_rp) -> None:
    rp = make_rp(access_token_format="jwt", grant_types=["authorization_code", "refresh_token"])
    body = rp.tokens(scope="openid profile offline_access")
    claims = decode(rp.app, body["access_token"]).claims
    assert claims["sub"] == rp.sub and claims["aud"] == ISS + "/userinfo" and claims["acr"] and claims["auth_time"]
    assert rp.userinfo_status(body["access_token"]) == 200
    # Revoking the refresh token's family stops the JWT access token too (checked through the store).
    assert rp.client_post("/revoke", {"token": body["refresh_token"]}).status_code == 200
    assert rp.userinfo_status(body["access_token"]) == 401


@pytest.mark.parametrize("token", ["a.b.c", "x" * 5000 + ".y.z", "e30.e30.", "..", "a.b.c.d"])
def test_hostile_jwt_shaped_tokens(make_rp, token: str) -> None:
    rp = make_rp()
    assert rp.userinfo_status(token) == 401


@pytest.mark.parametrize("metadata, field", [
    ({"access_token_format": "paseto"}, "access_token_format"),
    ({"access_token_format": "jwt", "access_token_signed_response_alg": "none"}, "access_token_signed_response_alg"),
    ({"access_token_signed_response_alg": "RS256"}, "access_token_signed_response_alg"),
])
def test_registration_rules(app: Flask, metadata: dict[str, Any], field: str) -> None:
    base = {"redirect_uris": ["https://app.example.org/cb"], "grant_types": ["authorization_code"]}
    with app.app_context(), pytest.raises(registration.MetadataError) as info:
        registration.validate_metadata({**base, **metadata}, dynamic=True)
    assert field in info.value.description
