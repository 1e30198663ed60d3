"""Dynamic client registration (RFC 7591) and management (RFC 7592), and the shared metadata rules."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from joserfc.jwk import ECKey, OctKey, RSAKey
from sqlalchemy import select

from idp.extensions import db
from idp.models import Client, InitialAccessToken
from idp.oauth import registration

from . import helpers

GOOD = {
    "client_name": "Dinas Contoh",
    "redirect_uris": ["https://rp.example.org/cb"],
    "post_logout_redirect_uris": ["https://rp.example.org/bye"],
    "grant_types": ["authorization_code", "refresh_token"],
    "response_types": ["code"],
    "token_endpoint_auth_method": "client_secret_basic",
    "scope": "openid profile email offline_access",
}

RSA_PUBLIC = RSAKey.generate_key(2048).as_dict(private=False)
RSA_PRIVATE = RSAKey.generate_key(2048).as_dict(private=True)


def iat(app: Flask, *, expires_in: int = 3600, max_uses: int = 1) -> str:
    with app.app_context():
        return registration.initial_access_token(expires_in=expires_in, max_uses=max_uses, note="test")


def register(client: FlaskClient, token: str | None, body: Any, **kwargs: Any) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if isinstance(body, (dict, list)):
        return client.post("/register", json=body, headers=headers, **kwargs)
    return client.post("/register", data=body, headers=headers, **kwargs)


def with_(**changes: Any) -> dict[str, Any]:
    meta = dict(GOOD)
    for key, value in changes.items():
        if value is ...:
            meta.pop(key, None)
        else:
            meta[key] = value
    return meta


# --------------------------------------------------------------------------- happy path
def test_register_read_update_delete(app: Flask) -> None:
    http = app.test_client()
    resp = register(http, iat(app), GOOD)
    assert resp.status_code == 201, resp.get_json()
    assert resp.headers["Cache-Control"] == "no-store"
    body = resp.get_json()
    for field in ("client_id", "client_secret", "client_id_issued_at", "registration_access_token",
                  "registration_client_uri"):
        assert body[field]
    assert body["client_secret_expires_at"] == 0
    assert body["redirect_uris"] == GOOD["redirect_uris"]
    assert body["registration_client_uri"] == f"http://127.0.0.1:5000/register/{body['client_id']}"
    rat = {"Authorization": f"Bearer {body['registration_access_token']}"}
    uri = f"/register/{body['client_id']}"

    with app.app_context():
        row = db.session.execute(select(Client).where(Client.client_id == body["client_id"])).scalar_one()
        crypto = app.extensions["idp"].crypto
        assert row.client_secret_hash == crypto.keyed_hash("client_secret", body["client_secret"])
        assert row.registration_token_hash == crypto.keyed_hash("registration_token",
                                                                body["registration_access_token"])
        assert not row.first_party and row.approved_scopes == ""
        assert body["client_secret"] not in json.dumps(row.client_metadata)

    read = http.get(uri, headers=rat)
    assert read.status_code == 200
    assert read.get_json()["client_name"] == "Dinas Contoh"
    assert "client_secret" not in read.get_json()
    # RFC 7592 3: the response carries the registration access token; a read does not rotate it (issue 13:
    # a lost read response must not leave the client unable to manage itself), so it is the same one.
    assert read.get_json()["registration_client_uri"] == body["registration_client_uri"]
    assert read.get_json()["registration_access_token"] == body["registration_access_token"]
    assert http.get(uri, headers=rat).status_code == 200

    # The registered client works at the token endpoint (client_credentials not allowed: unauthorized).
    tok = http.post("/token", data={"grant_type": "client_credentials"},
                    headers=helpers.basic(body["client_id"], body["client_secret"]))
    assert tok.get_json()["error"] == "unauthorized_client"

    update = dict(GOOD, client_id=body["client_id"], client_name="Renamed",
                  redirect_uris=["https://rp.example.org/cb2"], client_id_issued_at=1)
    resp = http.put(uri, json=update, headers=rat)
    assert resp.status_code == 200, resp.get_json()
    assert resp.get_json()["redirect_uris"] == ["https://rp.example.org/cb2"]
    assert resp.get_json()["client_name"] == "Renamed"
    assert "client_secret" not in resp.get_json()  # unchanged secret is not re-sent
    rat = {"Authorization": f"Bearer {resp.get_json()['registration_access_token']}"}

    resp = http.delete(uri, headers=rat)
    assert resp.status_code == 204
    assert http.get(uri, headers=rat).status_code == 401
    with app.app_context():
        assert db.session.execute(select(Client).where(Client.client_id == body["client_id"])).first() is None


def test_dynamic_client_cannot_promote_itself(app: Flask) -> None:
    http = app.test_client()
    body = register(http, iat(app), with_(first_party=True, approved_scopes="nik", require_pkce=False,
                                          scope="openid nik", client_id="chosen", client_secret="chosen",
                                          disabled=False)).get_json()
    assert body["client_id"] != "chosen" and body["client_secret"] != "chosen"
    assert body["scope"] == "openid"  # sensitive scope removed: an operator decision
    assert "first_party" not in body and "approved_scopes" not in body
    with app.app_context():
        row = db.session.execute(select(Client).where(Client.client_id == body["client_id"])).scalar_one()
        assert row.first_party is False and row.approved_scopes == ""
    # Nor through an update.
    rat = {"Authorization": f"Bearer {body['registration_access_token']}"}
    resp = http.put(f"/register/{body['client_id']}", headers=rat,
                    json=with_(client_id=body["client_id"], first_party=True, scope="openid nik"))
    assert resp.status_code == 200
    with app.app_context():
        row = db.session.execute(select(Client).where(Client.client_id == body["client_id"])).scalar_one()
        assert row.first_party is False and "nik" not in row.client_metadata.get("scope", "")


def test_public_client_and_switching_auth_method(app: Flask) -> None:
    http = app.test_client()
    body = register(http, iat(app), with_(token_endpoint_auth_method="none")).get_json()
    assert "client_secret" not in body and "client_secret_expires_at" not in body
    rat = {"Authorization": f"Bearer {body['registration_access_token']}"}
    # Becoming confidential issues a secret (RFC 7592 2.2), shown in that answer.
    resp = http.put(f"/register/{body['client_id']}", headers=rat, json=with_(client_id=body["client_id"]))
    assert resp.status_code == 200 and resp.get_json()["client_secret"]


def test_private_key_jwt_registration(app: Flask) -> None:
    http = app.test_client()
    resp = register(http, iat(app), with_(token_endpoint_auth_method="private_key_jwt",
                                          jwks={"keys": [RSA_PUBLIC]}))
    assert resp.status_code == 201, resp.get_json()
    assert "client_secret" not in resp.get_json()
    assert resp.get_json()["jwks"]["keys"][0]["n"] == RSA_PUBLIC["n"]


# --------------------------------------------------------------------------- initial access tokens
@pytest.mark.parametrize("header", [None, "", "Bearer", "Bearer ", "Basic abc", "Bearer not-a-token",
                                    "Bearer " + "x" * 500, "bearer \x00"])
def test_registration_requires_initial_access_token(app: Flask, header: str | None) -> None:
    headers = {"Authorization": header} if header is not None else {}
    resp = app.test_client().post("/register", json=GOOD, headers=headers)
    assert resp.status_code == 401
    assert resp.get_json()["error"] == "invalid_token"
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")


def test_initial_access_token_uses_and_expiry(app: Flask) -> None:
    http = app.test_client()
    token = iat(app, max_uses=2)
    assert register(http, token, GOOD).status_code == 201
    # A failed registration does not use the token up.
    assert register(http, token, with_(redirect_uris=["http://evil.example/cb"])).status_code == 400
    assert register(http, token, GOOD).status_code == 201
    assert register(http, token, GOOD).status_code == 401  # used up (repeated registration)
    expired = iat(app)
    with app.app_context():
        db.session.execute(InitialAccessToken.__table__.update().values(expires_at=registration.utcnow()))
        db.session.commit()
    assert register(http, expired, GOOD).status_code == 401


def test_initial_access_token_concurrent_uses(app: Flask) -> None:
    """The single conditional UPDATE lets exactly max_uses registrations through."""
    token = iat(app, max_uses=3)
    results: list[int] = []

    def worker() -> None:
        results.append(register(app.test_client(), token, GOOD).status_code)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [201] * 3 + [401] * 5


# --------------------------------------------------------------------------- hostile metadata
BAD_METADATA: list[tuple[str, Any, str]] = [
    ("javascript uri", with_(redirect_uris=["javascript:alert(1)"]), "invalid_redirect_uri"),
    ("data uri", with_(redirect_uris=["data:text/html,hi"]), "invalid_redirect_uri"),
    ("http non-loopback", with_(redirect_uris=["http://rp.example.org/cb"]), "invalid_redirect_uri"),
    ("http lookalike loopback", with_(redirect_uris=["http://127.0.0.1.evil.example/cb"]), "invalid_redirect_uri"),
    ("fragment", with_(redirect_uris=["https://rp.example.org/cb#x"]), "invalid_redirect_uri"),
    ("empty fragment", with_(redirect_uris=["https://rp.example.org/cb#"]), "invalid_redirect_uri"),
    ("wildcard host", with_(redirect_uris=["https://*.example.org/cb"]), "invalid_redirect_uri"),
    ("wildcard path", with_(redirect_uris=["https://rp.example.org/*"]), "invalid_redirect_uri"),
    ("relative", with_(redirect_uris=["/cb"]), "invalid_redirect_uri"),
    ("custom scheme", with_(redirect_uris=["com.example.app:/cb"]), "invalid_redirect_uri"),
    ("user info", with_(redirect_uris=["https://user:pw@rp.example.org/cb"]), "invalid_redirect_uri"),
    ("space", with_(redirect_uris=["https://rp.example.org/c b"]), "invalid_redirect_uri"),
    ("newline", with_(redirect_uris=["https://rp.example.org/cb\r\nX: y"]), "invalid_redirect_uri"),
    ("bad port", with_(redirect_uris=["https://rp.example.org:99999/cb"]), "invalid_redirect_uri"),
    ("not a list", with_(redirect_uris="https://rp.example.org/cb"), "invalid_redirect_uri"),
    ("number in list", with_(redirect_uris=[42]), "invalid_redirect_uri"),
    ("missing redirect uris", with_(redirect_uris=...), "invalid_redirect_uri"),
    ("empty redirect uris", with_(redirect_uris=[]), "invalid_redirect_uri"),
    ("overlong uri", with_(redirect_uris=["https://rp.example.org/" + "a" * 3000]), "invalid_redirect_uri"),
    ("too many uris", with_(redirect_uris=[f"https://rp.example.org/{i}" for i in range(30)]),
     "invalid_redirect_uri"),
    ("logout javascript", with_(post_logout_redirect_uris=["javascript:alert(1)"]), "invalid_client_metadata"),
    ("logout http", with_(post_logout_redirect_uris=["http://rp.example.org/bye"]), "invalid_client_metadata"),
    ("logout fragment", with_(post_logout_redirect_uris=["https://rp.example.org/bye#x"]),
     "invalid_client_metadata"),
    ("unknown grant", with_(grant_types=["authorization_code", "password"]), "invalid_client_metadata"),
    ("implicit", with_(grant_types=["implicit"], response_types=["token"]), "invalid_client_metadata"),
    ("token response", with_(response_types=["code", "id_token"]), "invalid_client_metadata"),
    ("grant not list", with_(grant_types="authorization_code"), "invalid_client_metadata"),
    ("refresh alone", with_(grant_types=["refresh_token"], response_types=[]), "invalid_client_metadata"),
    ("code without grant", with_(grant_types=["client_credentials"]), "invalid_client_metadata"),
    ("public client credentials", with_(token_endpoint_auth_method="none",
                                        grant_types=["authorization_code", "client_credentials"]),
     "invalid_client_metadata"),
    ("unknown auth method", with_(token_endpoint_auth_method="client_secret_jwt"), "invalid_client_metadata"),
    ("pkjwt without keys", with_(token_endpoint_auth_method="private_key_jwt"), "invalid_client_metadata"),
    ("pkjwt private key", with_(token_endpoint_auth_method="private_key_jwt", jwks={"keys": [RSA_PRIVATE]}),
     "invalid_client_metadata"),
    ("pkjwt symmetric key", with_(token_endpoint_auth_method="private_key_jwt",
                                  jwks={"keys": [OctKey.generate_key(256).as_dict()]}), "invalid_client_metadata"),
    ("pkjwt garbage key", with_(token_endpoint_auth_method="private_key_jwt",
                                jwks={"keys": [{"kty": "RSA", "n": "!!", "e": "AQAB"}]}), "invalid_client_metadata"),
    ("pkjwt jwks not set", with_(token_endpoint_auth_method="private_key_jwt", jwks=[RSA_PUBLIC]),
     "invalid_client_metadata"),
    ("pkjwt both", with_(token_endpoint_auth_method="private_key_jwt", jwks={"keys": [RSA_PUBLIC]},
                         jwks_uri="https://rp.example.org/jwks"), "invalid_client_metadata"),
    ("jwks_uri http", with_(token_endpoint_auth_method="private_key_jwt", jwks_uri="http://rp.example.org/j"),
     "invalid_client_metadata"),
    ("jwks_uri loopback http", with_(token_endpoint_auth_method="private_key_jwt",
                                     jwks_uri="http://127.0.0.1:9/jwks"), "invalid_client_metadata"),
    ("id token alg none", with_(id_token_signed_response_alg="none"), "invalid_client_metadata"),
    ("id token alg HS256", with_(id_token_signed_response_alg="HS256"), "invalid_client_metadata"),
    ("unknown subject type", with_(subject_type="pairwise-ish"), "invalid_client_metadata"),
    ("unknown scope", with_(scope="openid admin"), "invalid_client_metadata"),
    ("scope not string", with_(scope=["openid"]), "invalid_client_metadata"),
    ("overlong name", with_(client_name="x" * 201), "invalid_client_metadata"),
    ("name not string", with_(client_name={"a": 1}), "invalid_client_metadata"),
    ("name control chars", with_(client_name="a\x00b"), "invalid_client_metadata"),
    ("sql-looking name", with_(client_name="x'); DROP TABLE clients;--", redirect_uris=["https://a' OR 1=1--"]),
     "invalid_redirect_uri"),
    ("sql-looking scope", with_(scope="openid' OR '1'='1"), "invalid_client_metadata"),
    ("logo javascript", with_(logo_uri="javascript:alert(1)"), "invalid_client_metadata"),
    ("contacts bad", with_(contacts=["not-an-email"]), "invalid_client_metadata"),
    ("encrypted id token", with_(id_token_encrypted_response_alg="RSA-OAEP"), "invalid_client_metadata"),
    ("signed userinfo", with_(userinfo_signed_response_alg="RS256"), "invalid_client_metadata"),
    ("default max age", with_(default_max_age=60), "invalid_client_metadata"),
    ("sector uri http", with_(sector_identifier_uri="http://rp.example.org/s.json"), "invalid_client_metadata"),
    ("pairwise several hosts", with_(subject_type="pairwise", redirect_uris=["https://a.example/cb",
                                                                            "https://b.example/cb"]),
     "invalid_client_metadata"),
    ("bound tokens", with_(tls_client_certificate_bound_access_tokens=True), "invalid_client_metadata"),
    ("array body", [GOOD], "invalid_client_metadata"),
    ("string body", "just text", "invalid_client_metadata"),
    ("null body", None, "invalid_client_metadata"),
]


@pytest.mark.parametrize("body,error", [pytest.param(b, e, id=i) for i, b, e in BAD_METADATA])
def test_bad_metadata_is_refused(app: Flask, body: Any, error: str) -> None:
    http = app.test_client()
    token = iat(app)
    if body is None or isinstance(body, str):
        resp = http.post("/register", data=json.dumps(body), content_type="application/json",
                         headers={"Authorization": f"Bearer {token}"})
    else:
        resp = register(http, token, body)
    assert resp.status_code == 400, resp.get_data(as_text=True)
    answer = resp.get_json()
    assert answer["error"] == error
    assert answer["error_description"]
    assert resp.headers["Cache-Control"] == "no-store"
    with app.app_context():
        assert db.session.execute(select(Client)).first() is None
        assert db.session.execute(select(InitialAccessToken.uses)).scalar_one() == 0


@pytest.mark.parametrize("raw,content_type", [
    (b"{not json", "application/json"),
    (b"client_name=x", "application/x-www-form-urlencoded"),
    (b"[" * 20000 + b"]" * 20000, "application/json"),
    (b"\xff\xfe", "application/json"),
    (b"", "application/json"),
])
def test_non_json_bodies(app: Flask, raw: bytes, content_type: str) -> None:
    resp = app.test_client().post("/register", data=raw, content_type=content_type,
                                  headers={"Authorization": f"Bearer {iat(app)}"})
    assert resp.status_code == 400
    assert resp.get_json()["error"] == "invalid_client_metadata"


@pytest.mark.parametrize("metadata,field", [
    (with_(client_name="x" * 500), "client_name"),
    (with_(redirect_uris=["http://rp.example.org/cb"]), "redirect_uris"),
    (with_(post_logout_redirect_uris=["ftp://x/"]), "post_logout_redirect_uris"),
    (with_(grant_types=["password"]), "grant_types"),
    (with_(token_endpoint_auth_method="private_key_jwt"), "jwks"),
    (with_(scope="openid root"), "scope"),
    (with_(id_token_signed_response_alg="none"), "id_token_signed_response_alg"),
])
def test_error_description_names_the_field(app: Flask, metadata: dict[str, Any], field: str) -> None:
    resp = register(app.test_client(), iat(app), metadata)
    assert f"'{field}'" in resp.get_json()["error_description"]


def test_loopback_http_redirects_are_allowed(app: Flask) -> None:
    uris = ["http://127.0.0.1:8080/cb", "http://[::1]/cb", "http://localhost:3000/cb", "https://127.0.0.1/cb"]
    resp = register(app.test_client(), iat(app), with_(redirect_uris=uris))
    assert resp.status_code == 201, resp.get_json()
    assert resp.get_json()["redirect_uris"] == uris


def test_unknown_fields_are_ignored(app: Flask) -> None:
    resp = register(app.test_client(), iat(app), with_(foo={"a": [1]}, frontchannel_logout_uri_extra="x"))
    assert resp.status_code == 201
    assert "foo" not in resp.get_json()


# --------------------------------------------------------------------------- RFC 7592 hostile input
def test_configuration_endpoint_refuses_others(app: Flask) -> None:
    http = app.test_client()
    a = register(http, iat(app), GOOD).get_json()
    b = register(http, iat(app), GOOD).get_json()
    a_token = {"Authorization": f"Bearer {a['registration_access_token']}"}
    # A's token does not open B's configuration, nor an unknown client, nor with a bad token.
    assert http.get(f"/register/{b['client_id']}", headers=a_token).status_code == 401
    assert http.get("/register/unknown", headers=a_token).status_code == 401
    assert http.get(f"/register/{a['client_id']}", headers={"Authorization": "Bearer nope"}).status_code == 401
    assert http.get(f"/register/{a['client_id']}").status_code == 401
    assert http.delete(f"/register/{b['client_id']}", headers=a_token).status_code == 401
    # Operator-created clients have no registration token at all.
    cid, _ = helpers.create_client(app)
    assert http.get(f"/register/{cid}", headers=a_token).status_code == 401


@pytest.mark.parametrize("change,error", [
    ({"client_id": "other"}, "invalid_request"),
    ({"client_id": None}, "invalid_request"),
    ({"client_secret": "wrong"}, "invalid_request"),
    ({"redirect_uris": ["http://evil.example/cb"]}, "invalid_redirect_uri"),
    ({"grant_types": ["password"]}, "invalid_client_metadata"),
    # RFC 7592 update may not change the subject type: every person's sub at this client would change.
    ({"subject_type": "pairwise"}, "invalid_client_metadata"),
])
def test_bad_updates(app: Flask, change: dict[str, Any], error: str) -> None:
    http = app.test_client()
    body = register(http, iat(app), GOOD).get_json()
    update = dict(GOOD, client_id=body["client_id"])
    update.update(change)
    resp = http.put(f"/register/{body['client_id']}", json=update,
                    headers={"Authorization": f"Bearer {body['registration_access_token']}"})
    assert resp.status_code == 400
    assert resp.get_json()["error"] == error
    read = http.get(f"/register/{body['client_id']}",
                    headers={"Authorization": f"Bearer {body['registration_access_token']}"})
    assert read.get_json()["redirect_uris"] == GOOD["redirect_uris"]


def test_update_with_matching_secret_and_array_body(app: Flask) -> None:
    http = app.test_client()
    body = register(http, iat(app), GOOD).get_json()
    rat = {"Authorization": f"Bearer {body['registration_access_token']}"}
    ok = http.put(f"/register/{body['client_id']}", headers=rat,
                  json=dict(GOOD, client_id=body["client_id"], client_secret=body["client_secret"]))
    assert ok.status_code == 200
    rat = {"Authorization": f"Bearer {ok.get_json()['registration_access_token']}"}
    bad = http.put(f"/register/{body['client_id']}", headers=rat, json=[GOOD])
    assert bad.status_code == 400 and bad.get_json()["error"] == "invalid_client_metadata"


def test_disabled_client_cannot_manage_itself(app: Flask) -> None:
    http = app.test_client()
    body = register(http, iat(app), GOOD).get_json()
    with app.app_context():
        row = db.session.execute(select(Client).where(Client.client_id == body["client_id"])).scalar_one()
        row.disabled = True
        db.session.commit()
    resp = http.get(f"/register/{body['client_id']}",
                    headers={"Authorization": f"Bearer {body['registration_access_token']}"})
    assert resp.status_code == 401


def test_es256_key_is_accepted(app: Flask) -> None:
    key = ECKey.generate_key("P-256").as_dict(private=False)
    resp = register(app.test_client(), iat(app), with_(token_endpoint_auth_method="private_key_jwt",
                                                       jwks={"keys": [key]}, token_endpoint_auth_signing_alg="ES256"))
    assert resp.status_code == 201, resp.get_json()


def test_loopback_jwks_uri_never_in_production(oauth_app: Any) -> None:
    import base64

    app = oauth_app(ENV="production", ISSUER="https://sso.example.org", SECRET_KEY="s" * 40,
                    HASH_KEY=base64.urlsafe_b64encode(b"h" * 32).decode(), JWKS_URI_ALLOW_LOOPBACK=True)
    resp = register(app.test_client(), iat(app), with_(token_endpoint_auth_method="private_key_jwt",
                                                       jwks_uri="http://127.0.0.1:9/jwks"))
    assert resp.status_code == 400 and "jwks_uri" in resp.get_json()["error_description"]


_JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=30),
                     lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=10), c, max_size=4),
                     max_leaves=10)
_FIELDS = st.sampled_from(["redirect_uris", "post_logout_redirect_uris", "grant_types", "response_types",
                           "token_endpoint_auth_method", "jwks", "jwks_uri", "scope", "client_name", "contacts",
                           "logo_uri", "id_token_signed_response_alg", "subject_type", "application_type",
                           "token_endpoint_auth_signing_alg", "software_id"])
_URIS = st.lists(st.text(max_size=40).map(lambda t: "https://" + t), max_size=3)


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(meta=st.dictionaries(_FIELDS, _JSON | _URIS, max_size=8))
def test_validator_property(app: Flask, meta: dict[str, Any]) -> None:
    """Any JSON object either fails with MetadataError or yields metadata that validates to itself."""
    with app.app_context():
        try:
            clean = registration.validate_metadata(meta, dynamic=True)
        except registration.MetadataError as exc:
            assert exc.error in {"invalid_client_metadata", "invalid_redirect_uri"} and exc.description
            return
        assert registration.validate_metadata(clean, dynamic=True) == clean
