"""An unmodified Authlib client (requests OAuth2Session) completes the code flow against a real server.

The browser part is a ``requests`` session; the sign-in session is created in the store directly
(see helpers.sign_in) so that this test does not depend on the sign-in pages.
"""

from __future__ import annotations

import pytest
import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.jwk import KeySet
from joserfc.jws import JWSRegistry

from idp.oauth import keys

from . import helpers
from .conftest import TEST_DATA_KEY

CALLBACK = "http://127.0.0.1:9/callback"


@pytest.mark.parametrize(("auth_method", "alg"), [("client_secret_basic", "RS256"),
                                                  ("client_secret_post", "ES256"), ("none", "RS256")])
def test_authlib_client_code_flow_with_pkce(live_server, auth_method, alg) -> None:
    server = live_server(DATA_KEYS=[TEST_DATA_KEY])
    app = server.app
    with app.app_context():
        keys.ensure()
    client_id, secret = helpers.create_client(
        app, redirect_uris=[CALLBACK], first_party=True, auth_method=auth_method,
        secret=None if auth_method == "none" else "", id_token_signed_response_alg=alg)
    person_id, sub = helpers.create_person(app)
    browser = requests.Session()
    helpers.sign_in(app, browser, person_id, sub)

    meta = requests.get(server.url + "/.well-known/openid-configuration", timeout=5).json()
    rp = OAuth2Session(client_id, secret, scope="openid profile email", redirect_uri=CALLBACK,
                       code_challenge_method="S256", token_endpoint_auth_method=auth_method)
    verifier = generate_token(48)
    nonce = generate_token(20)
    uri, state = rp.create_authorization_url(meta["authorization_endpoint"], code_verifier=verifier, nonce=nonce)
    resp = browser.get(uri, allow_redirects=False, timeout=5)
    assert resp.status_code == 302, resp.text
    location = resp.headers["Location"]
    assert location.startswith(CALLBACK) and helpers.query(location)["iss"] == meta["issuer"]

    token = rp.fetch_token(meta["token_endpoint"], authorization_response=location, code_verifier=verifier)
    assert token["token_type"] == "Bearer" and "id_token" in token

    # Validate the ID token the way Authlib's OpenID client does (parse_id_token).
    jwks = KeySet.import_key_set(requests.get(meta["jwks_uri"], timeout=5).json())
    decoded = jwt.decode(token["id_token"], jwks,
                         registry=JWSRegistry(algorithms=meta["id_token_signing_alg_values_supported"]))
    assert decoded.header["alg"] == alg
    claims = CodeIDToken(decoded.claims, decoded.header, {"iss": {"values": [meta["issuer"]]}},
                         {"nonce": nonce, "client_id": client_id, "access_token": token["access_token"]})
    claims.validate(leeway=5)
    assert claims["sub"] == sub

    info = rp.get(meta["userinfo_endpoint"], timeout=5).json()
    assert info["sub"] == sub and info["email"]


def test_authlib_flask_client_relying_party(live_server) -> None:
    """Authlib's Flask OpenID client (discovery, PKCE, nonce, ID token validation) as a real RP app."""
    import threading

    from authlib.integrations.flask_client import OAuth
    from flask import Flask, jsonify, url_for
    from werkzeug.serving import make_server

    from tests import services

    server = live_server(DATA_KEYS=[TEST_DATA_KEY])
    with server.app.app_context():
        keys.ensure()
    port = services.free_port()
    callback = f"http://127.0.0.1:{port}/callback"
    client_id, secret = helpers.create_client(server.app, redirect_uris=[callback], first_party=True)
    person_id, sub = helpers.create_person(server.app)

    rp_app = Flask("rp")
    rp_app.secret_key = "rp-secret-key-for-tests-only-0123456789"
    rp_app.config["SESSION_COOKIE_NAME"] = "rp_session"
    oauth = OAuth(rp_app)
    oauth.register("idp", client_id=client_id, client_secret=secret,
                   server_metadata_url=server.url + "/.well-known/openid-configuration",
                   client_kwargs={"scope": "openid profile email", "code_challenge_method": "S256"})

    @rp_app.get("/login")
    def login():
        return oauth.idp.authorize_redirect(url_for("callback", _external=True))

    @rp_app.get("/callback")
    def callback():
        token = oauth.idp.authorize_access_token()
        return jsonify(userinfo=dict(token["userinfo"]), fetched=dict(oauth.idp.userinfo(token=token)))

    rp_server = make_server("127.0.0.1", port, rp_app, threaded=True)
    thread = threading.Thread(target=rp_server.serve_forever, daemon=True)
    thread.start()
    try:
        browser = requests.Session()
        helpers.sign_in(server.app, browser, person_id, sub)
        resp = browser.get(f"http://127.0.0.1:{port}/login", timeout=10)
        assert resp.status_code == 200, resp.text
        data = resp.json()
        assert data["userinfo"]["sub"] == sub and data["userinfo"]["iss"] == server.url
        assert data["fetched"]["sub"] == sub and data["fetched"]["email"]
    finally:
        rp_server.shutdown()
        thread.join(5)
