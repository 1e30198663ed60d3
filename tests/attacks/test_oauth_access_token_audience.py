"""Attack 4 of issue 13: JWT access tokens ignored ``access_token_audience``.

Registration dropped the field and every JWT access token said ``aud = <issuer>/userinfo``, so an API
that validates tokens itself (RFC 9068 4) could not tell a token meant for it from a token of any other
client: a token obtained by some unrelated application was accepted by the API.  Now the audience is
registered (RFC 7591, RFC 7592, CLI), checked as an absolute URI, and is the ``aud`` of the tokens.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from joserfc import jwt
from joserfc.jwk import KeySet
from sqlalchemy import select

from idp.extensions import db
from idp.models import Client
from tests.oauth import conftest as oauth_fixtures
from tests.oauth.conftest import RP
from tests.oauth.helpers import basic
from tests.oauth.test_registration import GOOD, iat, register

# The protocol tests' fixtures: an app with signing keys, a relying party with a signed-in person.
oauth_app, app, make_rp = oauth_fixtures.oauth_app, oauth_fixtures.app, oauth_fixtures.make_rp

API = "https://pajak.api.banten.go.id"
OTHER_API = "https://kepegawaian.api.banten.go.id"


def api_accepts(app: Flask, token: str, identifier: str) -> bool:
    """What an API does with a JWT access token (RFC 9068 4): our signature, typ at+jwt, its own aud."""
    keyset = KeySet.import_key_set(app.test_client().get("/jwks.json").get_json())
    decoded = jwt.decode(token, keyset)
    if decoded.header.get("typ") != "at+jwt" or decoded.claims.get("iss") != app.extensions["idp"].config["ISSUER"]:
        return False
    aud = decoded.claims.get("aud")
    return identifier in ([aud] if isinstance(aud, str) else list(aud or []))


def test_an_api_refuses_a_token_issued_for_another_client(app: Flask) -> None:
    """The attack: an application registered for another API presents its own valid token to API."""
    http = app.test_client()
    token_of = {}
    for audience in (API, OTHER_API):
        resp = register(http, iat(app), dict(GOOD, access_token_format="jwt", access_token_audience=audience,
                                             grant_types=["client_credentials"], response_types=[],
                                             redirect_uris=[]))
        assert resp.status_code == 201, resp.get_json()
        body = resp.get_json()
        assert body["access_token_audience"] == audience  # stored and returned (RFC 7591 3.2.1)
        tok = http.post("/token", data={"grant_type": "client_credentials"},
                        headers=basic(body["client_id"], body["client_secret"]))
        assert tok.status_code == 200, tok.get_json()
        token_of[audience] = tok.get_json()["access_token"]
    assert api_accepts(app, token_of[API], API)
    assert not api_accepts(app, token_of[OTHER_API], API)
    assert api_accepts(app, token_of[OTHER_API], OTHER_API)


def _jwt_rp(make_rp: Callable[..., RP], audience: str | None) -> RP:
    extra: dict[str, Any] = {"access_token_format": "jwt"}
    if audience:
        extra["access_token_audience"] = audience
    return make_rp(grant_types=["authorization_code", "refresh_token"], **extra)


def test_tokens_name_their_api_and_only_it(app: Flask, make_rp: Callable[..., RP]) -> None:
    mine = _jwt_rp(make_rp, API)
    other = _jwt_rp(make_rp, OTHER_API)
    plain = _jwt_rp(make_rp, None)
    mine_token = mine.tokens(scope="openid profile")["access_token"]
    other_token = other.tokens(scope="openid profile")["access_token"]
    plain_token = plain.tokens(scope="openid profile")["access_token"]

    assert api_accepts(app, mine_token, API)
    # The attack: tokens of other applications are valid JWTs of this provider, but not for API.
    assert not api_accepts(app, other_token, API)
    assert not api_accepts(app, plain_token, API)
    # Without a registered audience the token is for this provider's userinfo, as before.
    issuer = app.extensions["idp"].config["ISSUER"]
    assert api_accepts(app, plain_token, issuer + "/userinfo")
    # Unmodified relying parties: the token for API still reads userinfo (openid scope).
    assert mine.userinfo_status(mine_token) == 200


def test_registered_through_rfc7591_and_changed_through_rfc7592(app: Flask) -> None:
    http = app.test_client()
    body = register(http, iat(app), dict(GOOD, access_token_format="jwt", access_token_audience=API)).get_json()
    assert body["access_token_audience"] == API
    rat = {"Authorization": f"Bearer {body['registration_access_token']}"}
    resp = http.put(f"/register/{body['client_id']}", headers=rat,
                    json=dict(GOOD, client_id=body["client_id"], access_token_format="jwt",
                              access_token_audience=OTHER_API))
    assert resp.status_code == 200, resp.get_json()
    assert resp.get_json()["access_token_audience"] == OTHER_API
    # Token for the new audience through the code flow is covered above; here the stored metadata.
    with app.app_context():
        row = db.session.execute(select(Client).where(Client.client_id == body["client_id"])).scalar_one()
        assert row.client_metadata["access_token_audience"] == OTHER_API


HOSTILE_AUDIENCES = [
    "pajak", "/relative/path", "api.example.go.id", "https://", "https:///path", "https://user@api.example.go.id",
    "https://api.example.go.id/#frag", "https://api.example.go.id/*", " https://api.example.go.id",
    "https://api example.go.id", "https://api.example.go.id\n", "urn:", "1https://x", "https://[::1",
    "https://api.example.go.id:99999", "x" * 2100, 42, True, ["https://api.example.go.id"], {"uri": API},
]


@pytest.mark.parametrize("value", HOSTILE_AUDIENCES, ids=[repr(v)[:40] for v in HOSTILE_AUDIENCES])
def test_an_audience_that_is_not_an_absolute_uri_is_refused(app: Flask, value: Any) -> None:
    resp = register(app.test_client(), iat(app), dict(GOOD, access_token_audience=value))
    assert resp.status_code == 400
    body = resp.get_json()
    assert body["error"] == "invalid_client_metadata" and "'access_token_audience'" in body["error_description"]
    with app.app_context():
        assert db.session.execute(select(Client)).first() is None


@pytest.mark.parametrize("value", [API, "https://api.example.go.id:8443/v1", "urn:banten:api:pajak",
                                   "api://pajak"])
def test_absolute_uris_are_accepted(app: Flask, value: str) -> None:
    resp = register(app.test_client(), iat(app), dict(GOOD, access_token_audience=value))
    assert resp.status_code == 201, resp.get_json()
    assert resp.get_json()["access_token_audience"] == value


def test_cli_registers_the_audience(app: Flask) -> None:
    result = app.test_cli_runner().invoke(args=[
        "clients", "create", "--json", "--name", "Pajak", "--redirect-uri", "https://pajak.example.go.id/cb",
        "--access-token-format", "jwt", "--access-token-audience", API])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["access_token_audience"] == API
    bad = app.test_cli_runner().invoke(args=[
        "clients", "create", "--name", "Pajak", "--redirect-uri", "https://pajak.example.go.id/cb",
        "--access-token-audience", "pajak"])
    assert bad.exit_code == 2 and "'access_token_audience'" in bad.output
