"""``idp clients ...`` and ``idp iat create`` through Flask's CLI runner against PostgreSQL."""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask import Flask
from joserfc.jwk import RSAKey
from sqlalchemy import select

from idp.extensions import db
from idp.models import Client, InitialAccessToken


def run(app: Flask, *args: str, input: str | None = None) -> Any:
    return app.test_cli_runner().invoke(args=list(args), input=input)


def create(app: Flask, *args: str) -> dict[str, Any]:
    result = run(app, "clients", "create", "--json", *args)
    assert result.exit_code == 0, result.output
    return dict(json.loads(result.output))


def row(app: Flask, client_id: str) -> Client:
    with app.app_context():
        found = db.session.execute(select(Client).where(Client.client_id == client_id)).scalar_one()
        db.session.expunge(found)
        return found


def test_create_confidential_client(app: Flask) -> None:
    info = create(app, "--name", "Portal Pajak", "--redirect-uri", "https://pajak.example.org/cb",
                  "--redirect-uri", "https://pajak.example.org/cb2",
                  "--post-logout-redirect-uri", "https://pajak.example.org/bye",
                  "--first-party", "--approve-scope", "nik", "--scope", "openid profile nik",
                  "--id-token-alg", "ES256")
    assert info["client_secret"] and info["client_id"]
    assert info["grant_types"] == ["authorization_code", "refresh_token"]
    assert info["first_party"] is True and info["approved_scopes"] == "nik"
    saved = row(app, info["client_id"])
    assert saved.client_secret_hash == app.extensions["idp"].crypto.keyed_hash("client_secret",
                                                                                info["client_secret"])
    assert saved.client_metadata["id_token_signed_response_alg"] == "ES256"
    assert saved.client_metadata["redirect_uris"] == ["https://pajak.example.org/cb",
                                                      "https://pajak.example.org/cb2"]
    # The secret is never shown again.
    shown = run(app, "clients", "show", info["client_id"])
    assert shown.exit_code == 0 and info["client_secret"] not in shown.output
    listed = run(app, "clients", "list")
    assert info["client_id"] in listed.output and info["client_secret"] not in listed.output


def test_approved_scope_is_added_to_the_requestable_scopes(app: Flask) -> None:
    info = create(app, "--name", "Dukcapil", "--redirect-uri", "https://d.example.org/cb", "--approve-scope", "nik")
    assert info["scope"].split() == ["openid", "profile", "email", "offline_access", "nik"]
    result = run(app, "clients", "create", "--name", "X", "--redirect-uri", "https://d.example.org/cb",
                 "--scope", "openid", "--approve-scope", "nik")
    assert result.exit_code == 2 and "not in --scope" in result.output


def test_create_plain_output_prints_secret_once(app: Flask) -> None:
    result = run(app, "clients", "create", "--name", "X", "--redirect-uri", "https://x.example.org/cb")
    assert result.exit_code == 0
    assert result.output.count("client_secret:") == 1
    assert "not shown again" in result.output


def test_public_and_machine_clients(app: Flask) -> None:
    public = create(app, "--name", "SPA", "--public", "--redirect-uri", "http://127.0.0.1:8080/cb")
    assert "client_secret" not in public
    assert public["token_endpoint_auth_method"] == "none" and public["require_pkce"] is True
    machine = create(app, "--name", "Batch", "--grant-type", "client_credentials")
    assert machine["grant_types"] == ["client_credentials"] and machine["client_secret"]
    assert "redirect_uris" not in machine


def test_private_key_jwt_client(app: Flask, tmp_path: Any) -> None:
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps({"keys": [RSAKey.generate_key(2048).as_dict(private=False)]}))
    info = create(app, "--name", "Signer", "--auth-method", "private_key_jwt", "--jwks-file", str(path),
                  "--redirect-uri", "https://s.example.org/cb")
    assert "client_secret" not in info and info["jwks"]["keys"]


@pytest.mark.parametrize("args,message", [
    (["--name", "X", "--redirect-uri", "http://evil.example/cb"], "invalid_redirect_uri"),
    (["--name", "X", "--redirect-uri", "javascript:alert(1)"], "invalid_redirect_uri"),
    (["--name", "X", "--redirect-uri", "https://x.example.org/cb#frag"], "fragment"),
    (["--name", "X", "--redirect-uri", "https://*.example.org/cb"], "wildcard"),
    (["--name", "X"], "redirect_uris"),
    (["--name", "X", "--public", "--grant-type", "client_credentials"], "client_credentials"),
    (["--name", "X", "--public", "--auth-method", "client_secret_post"], "--public"),
    (["--name", "X", "--auth-method", "private_key_jwt", "--redirect-uri", "https://x.example.org/cb"], "jwks"),
    (["--name", "X", "--redirect-uri", "https://x.example.org/cb", "--approve-scope", "root"], "root"),
    (["--name", "X", "--redirect-uri", "https://x.example.org/cb", "--scope", "openid admin"], "admin"),
    (["--name", "x" * 300, "--redirect-uri", "https://x.example.org/cb"], "client_name"),
    (["--name", "X", "--redirect-uri", "https://x.example.org/cb", "--grant-type", "password"], "password"),
    (["--name", "X", "--redirect-uri", "https://x.example.org/cb", "--id-token-alg", "none"], "none"),
    (["--redirect-uri", "https://x.example.org/cb"], "--name"),
    # Back-Channel Logout 2.2: https, no fragment; never loopback or private addresses without the test switch.
    *[(["--name", "X", "--redirect-uri", "https://x.example.org/cb", "--backchannel-logout-uri", uri],
       "invalid_client_metadata: 'backchannel_logout_uri'")
      for uri in ("http://x.example.org/bc", "https://x.example.org/bc#f", "https://127.0.0.1/bc",
                  "https://10.0.0.7/bc", "https://localhost/bc", "javascript:alert(1)", "", "' OR 1=1 --",
                  "https://x.example.org/b\tc")],
    (["--name", "X", "--redirect-uri", "https://x.example.org/cb", "--backchannel-logout-session-required"],
     "requires 'backchannel_logout_uri'"),
])
def test_invalid_metadata_exits_2(app: Flask, args: list[str], message: str) -> None:
    result = run(app, "clients", "create", *args)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output
    with app.app_context():
        assert db.session.execute(select(Client)).first() is None


def test_backchannel_logout_options(app: Flask) -> None:
    info = create(app, "--name", "Sekolah", "--redirect-uri", "https://ppdb.example.org/cb",
                  "--backchannel-logout-uri", "https://ppdb.example.org/backchannel-logout",
                  "--backchannel-logout-session-required")
    meta = row(app, info["client_id"]).client_metadata
    assert meta["backchannel_logout_uri"] == "https://ppdb.example.org/backchannel-logout"
    assert meta["backchannel_logout_session_required"] is True
    plain = create(app, "--name", "Pajak", "--redirect-uri", "https://pajak.example.org/cb")
    assert "backchannel_logout_uri" not in row(app, plain["client_id"]).client_metadata


def test_bad_jwks_file(app: Flask, tmp_path: Any) -> None:
    path = tmp_path / "jwks.json"
    path.write_text("{not json")
    result = run(app, "clients", "create", "--name", "X", "--auth-method", "private_key_jwt",
                 "--jwks-file", str(path), "--redirect-uri", "https://x.example.org/cb")
    assert result.exit_code == 2 and "jwks" in result.output


def test_disable_enable_delete(app: Flask) -> None:
    info = create(app, "--name", "X", "--redirect-uri", "https://x.example.org/cb")
    cid = info["client_id"]
    assert run(app, "clients", "disable", cid).exit_code == 0
    assert row(app, cid).disabled is True
    assert "disabled" in run(app, "clients", "list").output
    assert run(app, "clients", "enable", cid).exit_code == 0
    assert row(app, cid).disabled is False
    assert run(app, "clients", "delete", cid, input="n\n").exit_code == 1  # aborted
    assert run(app, "clients", "delete", cid, "--yes").exit_code == 0
    with app.app_context():
        assert db.session.execute(select(Client).where(Client.client_id == cid)).first() is None


@pytest.mark.parametrize("command", ["show", "disable", "enable", "delete"])
@pytest.mark.parametrize("client_id", ["missing", "x' OR '1'='1", "a" * 300])
def test_unknown_client(app: Flask, command: str, client_id: str) -> None:
    args = ["clients", command, client_id] + (["--yes"] if command == "delete" else [])
    result = run(app, *args)
    assert result.exit_code == 2
    assert "no client" in result.output


def test_iat_create(app: Flask) -> None:
    result = run(app, "iat", "create", "--expires-in", "600", "--max-uses", "3", "--note", "Dinas X")
    assert result.exit_code == 0, result.output
    token = result.output.strip()
    assert len(token) >= 40
    with app.app_context():
        saved = db.session.execute(select(InitialAccessToken)).scalar_one()
        assert saved.token_hash == app.extensions["idp"].crypto.keyed_hash("initial_access_token", token)
        assert saved.max_uses == 3 and saved.note == "Dinas X"
    # It works for registration.
    resp = app.test_client().post("/register", headers={"Authorization": f"Bearer {token}"},
                                  json={"redirect_uris": ["https://x.example.org/cb"]})
    assert resp.status_code == 201


@pytest.mark.parametrize("args", [["--expires-in", "0"], ["--max-uses", "0"], ["--max-uses", "x"],
                                  ["--note", "a\x00b"], ["--note", "n" * 300]])
def test_iat_bad_options(app: Flask, args: list[str]) -> None:
    result = run(app, "iat", "create", *args)
    assert result.exit_code == 2
    assert "Traceback" not in result.output


def test_iat_list_and_revoke(app: Flask) -> None:
    token = run(app, "iat", "create", "--note", "for Dinas Y").output.strip()
    listed = run(app, "iat", "list")
    assert listed.exit_code == 0 and "0/1" in listed.output and "for Dinas Y" in listed.output
    assert token not in listed.output
    token_id = listed.output.split()[0]
    assert run(app, "iat", "revoke", token_id).exit_code == 0
    resp = app.test_client().post("/register", headers={"Authorization": f"Bearer {token}"},
                                  json={"redirect_uris": ["https://x.example.org/cb"]})
    assert resp.status_code == 401
    assert run(app, "iat", "revoke", token_id).exit_code == 2
    assert run(app, "iat", "revoke", "abc").exit_code == 2
