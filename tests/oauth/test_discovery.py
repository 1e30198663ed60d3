"""Discovery metadata and the JWKS: fields, caching headers, ETags, no private key material."""

from __future__ import annotations

from flask import Flask
from joserfc.jwk import KeySet

from idp import assurance
from idp.oauth import keys

ISS = "http://127.0.0.1:5000"


def test_discovery_document(client) -> None:
    resp = client.get("/.well-known/openid-configuration")
    assert resp.status_code == 200 and resp.mimetype == "application/json"
    doc = resp.get_json()
    assert doc["issuer"] == ISS
    for name, path in [("authorization_endpoint", "/authorize"), ("token_endpoint", "/token"),
                       ("userinfo_endpoint", "/userinfo"), ("jwks_uri", "/jwks.json"),
                       ("end_session_endpoint", "/end_session"), ("revocation_endpoint", "/revoke"),
                       ("introspection_endpoint", "/introspect"), ("registration_endpoint", "/register")]:
        assert doc[name] == ISS + path
    assert doc["authorization_response_iss_parameter_supported"] is True
    assert doc["code_challenge_methods_supported"] == ["S256"]
    assert doc["token_endpoint_auth_methods_supported"] == ["client_secret_basic", "client_secret_post",
                                                            "private_key_jwt", "none"]
    assert doc["token_endpoint_auth_signing_alg_values_supported"]
    # Every algorithm private_key_jwt accepts is advertised (OIDC Discovery 3).
    assert set(doc["token_endpoint_auth_signing_alg_values_supported"]) == {"RS256", "ES256", "PS256"}
    assert doc["id_token_signing_alg_values_supported"] == ["RS256", "ES256", "EdDSA"]
    assert doc["response_types_supported"] == ["code"]
    assert doc["response_modes_supported"] == ["query", "form_post"]
    assert {"authorization_code", "refresh_token"} <= set(doc["grant_types_supported"])
    assert doc["subject_types_supported"] == ["public", "pairwise"]
    assert {"openid", "profile", "email", "offline_access", "nik"} <= set(doc["scopes_supported"])
    assert {"sub", "name", "email", "nik", "acr", "amr", "sid", "auth_time"} <= set(doc["claims_supported"])
    assert doc["ui_locales_supported"] == ["id", "en"]
    assert {"none", "login", "consent"} <= set(doc["prompt_values_supported"])
    assert doc["acr_values_supported"] == list(assurance.LEVELS)


def test_discovery_is_cacheable_with_etag(client) -> None:
    resp = client.get("/.well-known/openid-configuration")
    etag = resp.headers["ETag"]
    assert "max-age" in resp.headers["Cache-Control"]
    again = client.get("/.well-known/openid-configuration", headers={"If-None-Match": etag})
    assert again.status_code == 304 and not again.data


def test_jwks_has_public_parts_only(client) -> None:
    resp = client.get("/jwks.json")
    assert resp.status_code == 200
    assert resp.headers["Cache-Control"] == "public, max-age=300"
    data = resp.get_json()
    algs = {k["alg"] for k in data["keys"]}
    assert {"RS256", "ES256"} <= algs
    for key in data["keys"]:
        assert key["use"] == "sig" and key["kid"]
        assert not {"d", "p", "q", "dp", "dq", "qi", "oth", "k"} & set(key)
        if key["kty"] == "RSA":
            assert set(key) == {"kty", "kid", "use", "alg", "n", "e"}
        elif key["kty"] == "OKP":  # RFC 8037: Ed25519 for EdDSA
            assert set(key) == {"kty", "kid", "use", "alg", "crv", "x"} and key["crv"] == "Ed25519"
        else:
            assert set(key) == {"kty", "kid", "use", "alg", "crv", "x", "y"} and key["crv"] == "P-256"
    KeySet.import_key_set(data)  # parses as a key set
    etag = resp.headers["ETag"]
    again = client.get("/jwks.json", headers={"If-None-Match": etag})
    assert again.status_code == 304


def test_keys_are_loaded_once_per_process(app: Flask) -> None:
    with app.app_context():
        first = keys.keyring()
        assert keys.keyring() is first
        assert keys.ensure() == []  # both algorithms already have an active key
        assert keys.keyring() is not first


def test_keys_commands(app: Flask) -> None:
    runner = app.test_cli_runner()
    result = runner.invoke(args=["keys", "ensure"])
    assert result.exit_code == 0 and "signing keys present" in result.output
    result = runner.invoke(args=["keys", "list"])
    assert result.exit_code == 0 and "RS256" in result.output and "ES256" in result.output
    assert "PRIVATE" not in result.output
    result = runner.invoke(args=["keys", "new-data-key"])
    assert result.exit_code == 0 and ":" in result.output


def test_undecryptable_keys_are_replaced(make_app) -> None:
    """An app with other data keys cannot use the stored keys: ensure() makes usable ones."""
    app = make_app()  # generated data keys, unlike the fixed one of the protocol tests
    with app.app_context():
        created = keys.ensure()
        assert len(created) == 3
        ring = keys.keyring()
        assert set(ring.signing) == {"RS256", "ES256", "EdDSA"}
        assert {k["kid"] for k in __import__("json").loads(ring.jwks_bytes)["keys"]} == set(created)


def test_private_key_is_encrypted_at_rest(app: Flask) -> None:
    from idp.extensions import db
    from idp.models import SigningKey

    with app.app_context():
        for row in db.session.query(SigningKey).all():
            assert "PRIVATE KEY" not in row.private_enc


def test_missing_keys_in_production_mode_is_503(make_app) -> None:
    from idp.extensions import db
    from idp.models import SigningKey

    app = make_app(DATA_KEYS=["other1:" + "A" * 43 + "="])  # no stored key decrypts with this one
    app.extensions["idp"].config.values["ENV"] = "production"
    resp = app.test_client().get("/jwks.json")
    assert resp.status_code == 503 and resp.get_json()["error"] == "temporarily_unavailable"
    app.extensions["idp"].config.values["ENV"] = "development"
    resp = app.test_client().get("/jwks.json")  # development: created on first use
    assert resp.status_code == 200 and len(resp.get_json()["keys"]) == 3
    with app.app_context():
        assert db.session.query(SigningKey).count() >= 3
