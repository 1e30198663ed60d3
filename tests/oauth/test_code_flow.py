"""The authorization code flow end to end: code, PKCE, token response, reuse and concurrency."""

from __future__ import annotations

from flask import Flask

from idp.oauth import clients, tokens

from . import helpers


def test_client_lookup_and_secret(app: Flask) -> None:
    cid, secret = helpers.create_client(app)
    dcid, _ = helpers.create_client(app, disabled=True)
    with app.test_request_context():
        client = clients.query_client(cid)
        assert client is not None and client.check_client_secret(secret)
        assert not client.check_client_secret(secret + "x")
        assert clients.query_client(dcid) is None
        assert clients.query_client("x" * 65) is None
        assert clients.query_client("a\x00b") is None
        assert client.get_allowed_scope("openid nik profile bogus openid") == "openid profile"


def test_access_token_lookup_and_family_revocation(app: Flask) -> None:
    with app.test_request_context():
        store = app.extensions["idp"].store
        family = tokens.new_family()
        token = f"abc.{family}"
        store.put("at", token, {"family": family, "exp": 2**40, "sub": "s"}, 60)
        assert tokens.lookup_access_token(token)["sub"] == "s"
        assert tokens.lookup_access_token("abc.other") is None
        assert tokens.lookup_access_token("x" * 500) is None
        tokens.revoke_family(family, "test")
        assert tokens.lookup_access_token(token) is None


def test_full_code_flow_with_pkce(rp) -> None:
    verifier, challenge = helpers.pkce_pair()
    code, q = rp.get_code(code_challenge=challenge, code_challenge_method="S256")
    assert q["state"] == "st-123" and q["iss"] == rp.app.extensions["idp"].config["ISSUER"]
    resp = rp.token(code, verifier=verifier)
    assert resp.status_code == 200, resp.get_json()
    assert resp.headers["Cache-Control"] == "no-store" and resp.headers["Pragma"] == "no-cache"
    body = resp.get_json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 900
    assert set(body) >= {"access_token", "id_token", "scope"} and "refresh_token" not in body
    info = rp.browser.get("/userinfo", headers={"Authorization": "Bearer " + body["access_token"]})
    assert info.status_code == 200 and info.get_json()["sub"] == rp.sub
