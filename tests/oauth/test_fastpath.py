"""Discovery and JWKS from the WSGI fast path (idp.web.fastpath): the same bytes and caching headers as the
Flask views, a 304 on a matching ETag, and never a stale key set across a key rotation."""

from __future__ import annotations

import time

import pytest
from flask import Flask

from idp.oauth import keys

from .conftest import TEST_DATA_KEY

PATHS = ["/.well-known/openid-configuration", "/.well-known/oauth-authorization-server", "/jwks.json"]


@pytest.mark.parametrize("path", PATHS)
def test_same_answer_as_flask(app: Flask, path: str) -> None:
    http = app.test_client()
    first = http.get(path)  # computed by Flask (first use)
    second = http.get(path)  # served by the fast path
    assert first.status_code == second.status_code == 200
    assert first.data == second.data and first.headers["ETag"] == second.headers["ETag"]
    for name in ("Cache-Control", "Access-Control-Allow-Origin", "X-Content-Type-Options", "X-Frame-Options"):
        assert first.headers[name] == second.headers[name], name
    assert second.mimetype == "application/json" and int(second.headers["Content-Length"]) == len(second.data)
    again = http.get(path, headers={"If-None-Match": second.headers["ETag"]})
    assert again.status_code == 304 and not again.data
    other = http.get(path, headers={"If-None-Match": '"nope", W/"other"'})
    assert other.status_code == 200
    assert http.head(path).status_code == 200


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE"])
def test_other_methods_go_to_flask(app: Flask, method: str) -> None:
    http = app.test_client()
    http.get("/jwks.json")
    assert http.open("/jwks.json", method=method).status_code == 405


def test_query_strings_go_to_flask(app: Flask) -> None:
    http = app.test_client()
    http.get("/jwks.json")
    assert http.get("/jwks.json?x=1").status_code == 200


def test_rotation_reaches_the_fast_path(oauth_app) -> None:
    app = oauth_app(DATA_KEYS=[TEST_DATA_KEY], KEY_ROTATION_OVERLAP=2, KEYRING_RELOAD_SECONDS=1)
    http = app.test_client()
    before = http.get("/jwks.json").get_json()
    with app.app_context():
        new_kid = keys.rotate(("ES256",))[0]
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        kids = {k["kid"] for k in http.get("/jwks.json").get_json()["keys"]}
        if new_kid in kids:
            break
        time.sleep(0.2)
    assert new_kid in kids and new_kid not in {k["kid"] for k in before["keys"]}
