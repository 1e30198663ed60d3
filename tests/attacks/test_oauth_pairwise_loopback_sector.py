"""Issue 13, also found: pairwise clients with only loopback redirect URIs shared one sector.

The sector was the redirect URIs' host, so every native app (RFC 8252 7.3: http://127.0.0.1) was in
sector "127.0.0.1" and received the same pairwise ``sub`` for a person: two unrelated apps could link
their users.  Each such client is now a sector of its own.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask
from joserfc import jwt
from joserfc.jwk import KeySet

from tests.oauth import conftest as oauth_fixtures
from tests.oauth.conftest import RP

oauth_app, app, make_rp = oauth_fixtures.oauth_app, oauth_fixtures.app, oauth_fixtures.make_rp


def id_token_sub(app: Flask, rp: RP) -> str:
    token = rp.tokens(scope="openid")["id_token"]
    keyset = KeySet.import_key_set(app.test_client().get("/jwks.json").get_json())
    return str(jwt.decode(token, keyset).claims["sub"])


def test_two_native_apps_cannot_link_a_person(app: Flask, make_rp: Callable[..., RP]) -> None:
    uris = ("http://127.0.0.1/callback", "http://127.0.0.1:8400/cb", "http://[::1]/callback",
            "http://localhost:9000/cb")
    apps = []
    for uri in uris:
        rp = make_rp(redirect_uris=[uri], subject_type="pairwise")
        rp.redirect_uri = uri
        apps.append(rp)
    subs = [id_token_sub(app, rp) for rp in apps]
    assert len(set(subs)) == len(subs)
    assert apps[0].sub not in subs  # and none is the public sub
    # Stable: the same app gets the same sub again.
    assert id_token_sub(app, apps[0]) == subs[0]


def test_clients_of_one_web_sector_still_share_it(app: Flask, make_rp: Callable[..., RP]) -> None:
    one = make_rp(redirect_uris=["https://rp.example.org/a"], subject_type="pairwise")
    two = make_rp(redirect_uris=["https://rp.example.org/b"], subject_type="pairwise")
    one.redirect_uri, two.redirect_uri = "https://rp.example.org/a", "https://rp.example.org/b"
    assert id_token_sub(app, one) == id_token_sub(app, two) != one.sub
