"""``idp export`` / ``idp import``: from one provider into a fresh database, then used there (issue 19).

The source runs on PostgreSQL; the target is a new SQLite database with no signing key of its own.  After
the import the target signs ID tokens with the imported key and authenticates the imported client with
its original secret; importing again changes nothing; a document from other ``IDP_DATA_KEYS`` or another
``IDP_HASH_KEY`` is refused with one line and imports nothing.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from joserfc import jwt
from joserfc.jwk import KeySet
from sqlalchemy import delete, func, select

from idp.extensions import db
from idp.models import Client, ScopeRequest, SigningKey
from tests.oauth import helpers
from tests.oauth.conftest import RP, TEST_DATA_KEY, oauth_app  # noqa: F401 - the fixture

HASH_KEY = base64.b64encode(b"h" * 32).decode()
OTHER_DATA_KEY = "other:" + base64.urlsafe_b64encode(b"o" * 32).decode()


def cli(app: Flask, *args: str) -> Any:
    return app.test_cli_runner().invoke(args=list(args))


@pytest.fixture
def source(oauth_app: Callable[..., Flask]) -> Flask:  # noqa: F811
    app = oauth_app(HASH_KEY=HASH_KEY)
    # The suite keeps signing-key rows between tests; rows of other tests' data keys would not decrypt here,
    # and an import refuses such a key (rightly).  This instance's own keys only (the other tests' fixtures
    # make theirs again when they need them).
    with app.app_context():
        db.session.execute(delete(SigningKey).where(~SigningKey.private_enc.startswith("test1.")))
        db.session.commit()
    return app


def _target(make_app: Callable[..., Flask], **settings: Any) -> Flask:
    """A fresh SQLite database, no signing key yet."""
    settings = {"DATA_KEYS": [TEST_DATA_KEY], "HASH_KEY": HASH_KEY, **settings}
    return make_app(backend="sqlite", **settings)


def _count(app: Flask, model: Any) -> int:
    with app.app_context():
        return int(db.session.execute(select(func.count()).select_from(model)).scalar_one())


def _export(source: Flask, tmp_path: Path) -> tuple[Path, dict[str, Any]]:
    made = cli(source, "clients", "create", "--name", "Perizinan Online", "--redirect-uri", helpers.REDIRECT,
               "--scope", "openid profile email nik", "--approve-scope", "nik", "--first-party", "--json")
    assert made.exit_code == 0, made.output
    created = json.loads(made.output)
    with source.app_context():
        client = db.session.execute(select(Client).where(Client.client_id == created["client_id"])).scalar_one()
        db.session.add(ScopeRequest(client_id=client.id, scope="nik", purpose="Verifikasi izin usaha",
                                    status="approved"))
        db.session.commit()
    path = tmp_path / "backup.json"
    result = cli(source, "export", "--output", str(path))
    assert result.exit_code == 0, result.output
    assert path.stat().st_mode & 0o777 == 0o600
    document = json.loads(path.read_text())
    assert document["format"] == "idp-backup" and document["version"] == 1
    assert created["client_secret"] not in path.read_text()
    # Still encrypted under IDP_DATA_KEYS.  (The suite keeps signing-key rows between tests, so rows of
    # other tests' data keys may be exported beside this instance's: none of them is in clear either.)
    assert any(key["private_enc"].startswith("test1.") for key in document["signing_keys"])
    for key in document["signing_keys"]:
        assert "PRIVATE KEY" not in key["private_enc"] and "." in key["private_enc"]
    document["secret"] = created["client_secret"]
    document["created_client"] = created["client_id"]
    return path, document


def test_export_import_then_sign_and_authenticate(source: Flask, make_app: Callable[..., Flask],
                                                  tmp_path: Path) -> None:
    path, document = _export(source, tmp_path)
    target = _target(make_app)
    assert _count(target, SigningKey) == 0 and _count(target, Client) == 0

    first = cli(target, "import", str(path))
    assert first.exit_code == 0, first.output
    assert f"clients: {len(document['clients'])} added" in first.output
    again = cli(target, "import", str(path))  # idempotent
    assert again.exit_code == 0, again.output
    assert "clients: 0 added, 0 updated" in again.output and "signing keys: 0 added" in again.output
    assert "scope requests: 0 added" in again.output
    assert _count(target, Client) == len(document["clients"])
    assert _count(target, SigningKey) == len(document["signing_keys"])
    assert _count(target, ScopeRequest) == 1

    # The imported client, with the secret it was given by the source, gets tokens from the target.
    person_id, sub = helpers.create_person(target)
    rp = RP(app=target, browser=target.test_client(), client_id=document["created_client"],
            secret=document["secret"], person_id=person_id, sub=sub)
    rp.sign_in()
    tokens = rp.tokens(scope="openid profile")
    # ... signed with an imported key, which the source's published key set verifies too.
    kid = json.loads(base64.urlsafe_b64decode(tokens["id_token"].split(".")[0] + "=="))["kid"]
    assert kid in {k["kid"] for k in document["signing_keys"]}
    jwks = source.test_client().get("/jwks.json").get_json()
    claims = jwt.decode(tokens["id_token"], KeySet.import_key_set(jwks)).claims
    assert claims["sub"] == sub and claims["aud"] == document["created_client"]
    # The operator's approval of the sensitive scope came along.
    with target.app_context():
        row = db.session.execute(select(Client).where(Client.client_id == document["created_client"])).scalar_one()
        assert row.approved_scopes == "nik"


@pytest.mark.parametrize(("settings", "named"), [
    ({"DATA_KEYS": [OTHER_DATA_KEY]}, "IDP_DATA_KEYS"),
    ({"HASH_KEY": base64.b64encode(b"x" * 32).decode()}, "IDP_HASH_KEY"),
])
def test_a_document_from_other_keys_is_refused(source: Flask, make_app: Callable[..., Flask], tmp_path: Path,
                                                settings: dict[str, Any], named: str) -> None:
    path, _ = _export(source, tmp_path)
    target = _target(make_app, **settings)
    result = cli(target, "import", str(path))
    assert result.exit_code != 0
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error:") and named in lines[0], result.output
    assert _count(target, Client) == 0 and _count(target, SigningKey) == 0


@pytest.mark.parametrize("content", ["not json", '{"format": "something-else"}', '[1, 2]',
                                     '{"format": "idp-backup", "version": 99}'])
def test_not_a_backup_document_is_refused_in_one_line(make_app: Callable[..., Flask], tmp_path: Path,
                                                      content: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    result = cli(_target(make_app), "import", str(path))
    assert result.exit_code != 0
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error:"), result.output
