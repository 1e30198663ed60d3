"""Database round trips of the token endpoint (issue 20's hot-path rule): each grant runs its statements in
one transaction that ends with its one COMMIT, reads nothing after it (no SELECT, no ROLLBACK left for
the request's end), and a client-credentials token touches the database not at all."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from joserfc import jwt
from joserfc.jwk import KeySet
from sqlalchemy import event

from idp.extensions import db
from tests.helpers import database_log

from . import helpers
from .conftest import RP
from .test_client_credentials import MACHINE, cc

SCOPE = "openid profile email offline_access"


@pytest.fixture
def rrp(make_rp: Callable[..., RP]) -> RP:
    return make_rp(grant_types=["authorization_code", "refresh_token"])


def test_client_credentials_touch_no_table(app: Flask) -> None:
    cid, secret = helpers.create_client(app, **MACHINE)
    http = app.test_client()
    assert cc(http, cid, secret).status_code == 200  # the client is now cached
    with database_log(app) as seen:
        assert cc(http, cid, secret).status_code == 200
    assert seen == []


def test_code_and_refresh_end_with_their_commit(rrp: RP) -> None:
    rrp.tokens(scope=SCOPE)  # the first token of the process loads the signing keys (then cached)
    verifier, challenge = helpers.pkce_pair()
    code, _ = rrp.get_code(scope=SCOPE, code_challenge=challenge, code_challenge_method="S256")
    with database_log(rrp.app) as seen:
        resp = rrp.token(code, verifier=verifier)
    assert resp.status_code == 200, resp.get_json()
    # The person, the refresh token row; then the one COMMIT.
    assert seen == ["SELECT", "INSERT", "COMMIT"], seen
    first = resp.get_json()

    with database_log(rrp.app) as seen:
        resp = rrp.client_post("/token", {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]})
    assert resp.status_code == 200, resp.get_json()
    # The token row with its person, the rotation gate, the new row; then the one COMMIT.
    assert seen == ["SELECT", "UPDATE", "INSERT", "COMMIT"], seen
    # The ID token still carries the profile claims, read before the commit (OIDC Core 12.2, 5.4).
    jwks = KeySet.import_key_set(rrp.browser.get("/jwks.json").get_json())
    claims = jwt.decode(resp.get_json()["id_token"], jwks, algorithms=["RS256", "ES256", "EdDSA"]).claims
    assert claims["name"] == "Siti Aminah" and claims["email"].endswith("@example.org"), claims


def test_userinfo_reads_in_autocommit(rrp: RP) -> None:
    """UserInfo only reads: its SELECT runs outside a transaction, so no ROLLBACK is sent at the end."""
    access = rrp.tokens(scope=SCOPE)["access_token"]
    statuses: list[str] = []
    with rrp.app.app_context():
        engine = db.engine

    def after(conn: Any, *_args: Any) -> None:
        statuses.append(str(conn.connection.dbapi_connection.info.transaction_status.name))

    event.listen(engine, "after_cursor_execute", after)
    try:
        with database_log(rrp.app) as seen:
            resp = rrp.browser.get("/userinfo", headers={"Authorization": f"Bearer {access}"})
    finally:
        event.remove(engine, "after_cursor_execute", after)
    assert resp.status_code == 200 and resp.get_json()["name"] == "Siti Aminah"
    assert [s for s in seen if s != "ROLLBACK"] == ["SELECT"], seen
    assert statuses == ["IDLE"], statuses  # psycopg: no transaction open after the read
