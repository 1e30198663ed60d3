"""The app factory, the settings table and the cross-cutting HTTP behaviour."""

from __future__ import annotations

import pytest

from idp import create_app
from idp.config import ConfigError


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"CODE_TTL": "abc"}, "IDP_CODE_TTL"),
        ({"CODE_TTL": "5"}, "IDP_CODE_TTL"),
        ({"ISSUER": "ftp://x"}, "IDP_ISSUER"),
        ({"ISSUER": "http://example.org"}, "IDP_ISSUER"),
        ({"ENV": "staging"}, "IDP_ENV"),
        ({"ENV": "production"}, "IDP_ISSUER"),
        ({"DATABASE_URL": "mysql://x"}, "IDP_DATABASE_URL"),
        ({"REDIS_URL": "http://x"}, "IDP_REDIS_URL"),
        ({"HASH_KEY": "short"}, "IDP_HASH_KEY"),
        ({"DATA_KEYS": "nocolon"}, "IDP_DATA_KEYS"),
        ({"SESSION_IDLE_TTL": "90000", "SESSION_ABSOLUTE_TTL": "3600"}, "IDP_SESSION_IDLE_TTL"),
        # Passkeys: the RP id must be the issuer's host or a parent domain; origins https on the RP id.
        ({"ISSUER": "http://localhost:5000", "PASSKEY_RP_ID": "example.org"}, "IDP_PASSKEY_RP_ID"),
        ({"ISSUER": "http://127.0.0.1:5000", "PASSKEY_RP_ID": "127.0.0.1"}, "IDP_PASSKEY_RP_ID"),
        ({"ISSUER": "http://localhost:5000", "PASSKEY_RP_ID": "host"}, "IDP_PASSKEY_RP_ID"),
        ({"ISSUER": "http://localhost:5000", "PASSKEY_ORIGINS": "https://evil.example"}, "IDP_PASSKEY_ORIGINS"),
        ({"ISSUER": "http://localhost:5000", "PASSKEY_ORIGINS": "http://app.localhost.evil"}, "IDP_PASSKEY_ORIGINS"),
    ],
)
def test_bad_setting_stops_start_naming_it(tmp_path, overrides, named):
    with pytest.raises(ConfigError) as info:
        create_app({"INSTANCE_DIR": str(tmp_path), **overrides})
    assert named in str(info.value)


@pytest.mark.parametrize(("issuer", "overrides", "rp_id", "origins"), [
    ("http://127.0.0.1:5000", {}, None, []),  # WebAuthn accepts no IP address as RP id: passkeys off
    ("http://localhost:5000", {}, "localhost", ["http://localhost:5000"]),
    ("https://sso.example.id:443", {}, "sso.example.id", ["https://sso.example.id"]),  # no default port
    ("https://sso.bantenprov.go.id", {"PASSKEY_RP_ID": "bantenprov.go.id",
                                      "PASSKEY_ORIGINS": "https://layanan.bantenprov.go.id"},
     "bantenprov.go.id", ["https://sso.bantenprov.go.id", "https://layanan.bantenprov.go.id"]),
])
def test_passkey_settings_derive_from_the_issuer(tmp_path, issuer, overrides, rp_id, origins):
    app = create_app({"INSTANCE_DIR": str(tmp_path), "ISSUER": issuer, **overrides})
    config = app.extensions["idp"].config
    assert config["PASSKEY_RP_ID"] == rp_id and config["PASSKEY_ORIGINS"] == origins


def test_production_requires_every_secret(tmp_path):
    with pytest.raises(ConfigError) as info:
        create_app({"INSTANCE_DIR": str(tmp_path), "ENV": "production", "ISSUER": "https://sso.example.id",
                    "DATABASE_URL": "postgresql+psycopg://x@127.0.0.1/x", "REDIS_URL": "redis://127.0.0.1"})
    assert "required when IDP_ENV=production" in str(info.value)


def test_environment_variables_are_read(tmp_path, monkeypatch):
    monkeypatch.setenv("IDP_CODE_TTL", "42")
    app = create_app({"INSTANCE_DIR": str(tmp_path)})
    assert app.extensions["idp"].config["CODE_TTL"] == 42


def test_security_headers_and_health(client):
    resp = client.get("/healthz")
    assert resp.status_code == 200
    assert "frame-ancestors 'none'" in resp.headers["Content-Security-Policy"]
    assert resp.headers["Referrer-Policy"] == "no-referrer"
    assert client.get("/readyz").json["status"] == "ready"


def test_unknown_page_is_a_clear_404(client):
    resp = client.get("/nope", headers={"Accept": "text/html"})
    assert resp.status_code == 404
    assert b"Traceback" not in resp.data


def test_oversized_request_is_refused(client):
    resp = client.post("/token", data={"x": "a" * 200_000})
    assert resp.status_code == 413
    assert resp.json["error"] == "invalid_request"


def test_overlong_query_is_refused(client):
    assert client.get("/?" + "a" * 10_000).status_code == 414
