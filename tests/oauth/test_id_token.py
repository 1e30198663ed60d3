"""ID tokens: verified with the published JWKS by an independent library (joserfc), claims, at_hash."""

from __future__ import annotations

import base64
import hashlib
import time
import warnings

import pytest
from joserfc import jwt
from joserfc.errors import SecurityWarning
from joserfc.jwk import KeySet

from idp import assurance

ISS = "http://127.0.0.1:5000"


def _verify(rp, id_token: str) -> tuple[dict, dict]:
    jwks = KeySet.import_key_set(rp.browser.get("/jwks.json").get_json())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SecurityWarning)  # joserfc: "EdDSA" by name (RFC 9864)
        token = jwt.decode(id_token, jwks, algorithms=["RS256", "ES256", "EdDSA"])
    registry = jwt.JWTClaimsRegistry(iss={"essential": True, "value": ISS},
                                     aud={"essential": True, "value": rp.client_id},
                                     sub={"essential": True, "value": rp.sub})
    registry.validate(token.claims)
    return dict(token.header), dict(token.claims)


def _half_hash(value: str, alg: str = "RS256") -> str:
    """OIDC Core 3.1.3.6: the left half of the hash the signing algorithm uses (SHA-512 for Ed25519)."""
    digest = (hashlib.sha512 if alg == "EdDSA" else hashlib.sha256)(value.encode()).digest()
    return base64.urlsafe_b64encode(digest[: len(digest) // 2]).rstrip(b"=").decode()


@pytest.mark.parametrize("alg", ["RS256", "ES256", "EdDSA"])
def test_id_token_verifies_with_jwks(make_rp, alg) -> None:
    rp = make_rp(id_token_signed_response_alg=alg)
    auth_time = int(time.time()) - 30
    sid = rp.sign_in(auth_time=auth_time)
    body = rp.tokens(scope="openid profile email", nonce="abc-123")
    header, claims = _verify(rp, body["id_token"])
    assert header["alg"] == alg and header["kid"]
    assert claims["nonce"] == "abc-123"
    assert claims["auth_time"] == auth_time and claims["sid"] == sid
    assert claims["acr"] == assurance.CITIZEN and claims["amr"] == ["pwd"]
    assert claims["at_hash"] == _half_hash(body["access_token"], alg)
    assert claims["iat"] <= time.time() < claims["exp"] <= claims["iat"] + 900
    assert claims["name"] == "Siti Aminah" and claims["email_verified"] is True
    assert "nik" not in claims


def test_kid_matches_a_published_key(rp) -> None:
    body = rp.tokens()
    header = jwt.decode(body["id_token"], KeySet.import_key_set(rp.browser.get("/jwks.json").get_json())).header
    kids = {k["kid"] for k in rp.browser.get("/jwks.json").get_json()["keys"]}
    assert header["kid"] in kids


def test_no_nonce_no_nonce_claim(rp) -> None:
    body = rp.tokens(nonce=None)
    _, claims = _verify(rp, body["id_token"])
    assert "nonce" not in claims


def test_without_openid_scope_no_id_token(rp) -> None:
    body = rp.tokens(scope="profile")
    assert "id_token" not in body and body["scope"] == "profile"


def test_tampered_token_does_not_verify(rp) -> None:
    body = rp.tokens()
    head, payload, sig = body["id_token"].split(".")
    forged = base64.urlsafe_b64encode(b'{"sub":"someone-else"}').rstrip(b"=").decode()
    with pytest.raises(Exception):
        _verify(rp, f"{head}.{forged}.{sig}")


def test_eddsa_key_is_published_as_okp(rp) -> None:
    keys = rp.browser.get("/jwks.json").get_json()["keys"]
    okp = [k for k in keys if k["alg"] == "EdDSA"]
    assert len(okp) == 1 and okp[0]["kty"] == "OKP" and okp[0]["crv"] == "Ed25519" and "d" not in okp[0]


def test_eddsa_id_token_hint_is_accepted(make_rp) -> None:
    rp = make_rp(id_token_signed_response_alg="EdDSA")
    id_token = rp.tokens()["id_token"]
    resp = rp.authorize(prompt="none", id_token_hint=id_token)
    assert resp.status_code == 302 and "code=" in resp.headers["Location"]
