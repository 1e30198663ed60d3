"""Issue 13, also found: an RFC 7592 read rotated the registration access token.

A client that read its configuration and lost the response (a timeout, a crash before saving) held only
the old token, which the read had voided: it could never manage its registration again.  A read now
answers with the presented token and leaves it valid; an update still issues a new one.
"""

from __future__ import annotations

from flask import Flask

from tests.oauth import conftest as oauth_fixtures
from tests.oauth.test_registration import GOOD, iat, register

oauth_app, app = oauth_fixtures.oauth_app, oauth_fixtures.app


def test_a_lost_read_response_does_not_lock_the_client_out(app: Flask) -> None:
    http = app.test_client()
    body = register(http, iat(app), GOOD).get_json()
    token = body["registration_access_token"]
    rat = {"Authorization": f"Bearer {token}"}
    uri = f"/register/{body['client_id']}"
    for _ in range(3):  # reads whose responses never arrive
        lost = http.get(uri, headers=rat)
        assert lost.status_code == 200
        assert lost.get_json()["registration_access_token"] == token  # RFC 7592 3: present in the response
    update = http.put(uri, headers=rat, json=dict(GOOD, client_id=body["client_id"], client_name="Renamed"))
    assert update.status_code == 200, update.get_json()
    new = update.get_json()["registration_access_token"]
    assert new != token  # an update rotates (the client MUST discard the old one, RFC 7592 2.2)
    assert http.get(uri, headers=rat).status_code == 401
    assert http.get(uri, headers={"Authorization": f"Bearer {new}"}).get_json()["client_name"] == "Renamed"
