"""Signing key rotation (issue 7): publish first, sign later, retire after the longest token lifetime.

``idp keys rotate`` publishes a key that signs only after ``IDP_KEY_ROTATION_OVERLAP``; an unmodified
relying party (Authlib's Flask OpenID client, which caches the JWKS) signs people in before, during and
after the switch without a single failure, and a key set cached during the overlap already verifies the
first token signed by the new key.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from joserfc import jwt
from joserfc.jwk import KeySet
from sqlalchemy import select, update

from idp.extensions import db
from idp.models import SigningKey
from idp.oauth import keys
from tests import services

from . import helpers
from .conftest import TEST_DATA_KEY

OVERLAP = 3  # seconds; production insists on a day-like overlap (see test_production_refuses_a_short_overlap)


def jwks_of(url: str) -> KeySet:
    return KeySet.import_key_set(requests.get(url + "/jwks.json", timeout=5).json())


@pytest.fixture
def provider_and_rp(live_server: Any) -> Iterator[tuple[Any, str, requests.Session]]:
    """The provider (short overlap, fast reload) and Authlib's Flask OpenID client as a real RP."""
    from authlib.integrations.flask_client import OAuth
    from flask import Flask, jsonify, url_for
    from werkzeug.serving import make_server

    server = live_server(DATA_KEYS=[TEST_DATA_KEY], KEY_ROTATION_OVERLAP=OVERLAP, KEYRING_RELOAD_SECONDS=1)
    with server.app.app_context():
        keys.ensure()
    port = services.free_port()
    client_id, secret = helpers.create_client(server.app, redirect_uris=[f"http://127.0.0.1:{port}/callback"],
                                              first_party=True)
    person_id, sub = helpers.create_person(server.app)
    rp_app = Flask("rp")
    rp_app.secret_key = "rp-secret-key-for-tests-only-0123456789"
    oauth = OAuth(rp_app)
    oauth.register("idp", client_id=client_id, client_secret=secret,
                   server_metadata_url=server.url + "/.well-known/openid-configuration",
                   client_kwargs={"scope": "openid", "code_challenge_method": "S256"})

    @rp_app.get("/login")
    def login() -> Any:
        return oauth.idp.authorize_redirect(url_for("callback", _external=True))

    @rp_app.get("/callback")
    def callback() -> Any:
        token = oauth.idp.authorize_access_token()  # validates the ID token with the cached JWKS
        return jsonify(sub=token["userinfo"]["sub"], id_token=token["id_token"])

    rp_server = make_server("127.0.0.1", port, rp_app, threaded=True)
    thread = threading.Thread(target=rp_server.serve_forever, daemon=True)
    thread.start()
    browser = requests.Session()
    helpers.sign_in(server.app, browser, person_id, sub)
    try:
        yield server, f"http://127.0.0.1:{port}", browser
    finally:
        rp_server.shutdown()
        thread.join(5)


def sign_in(rp: str, browser: requests.Session) -> str:
    """One sign-in at the RP; the ID token it accepted."""
    resp = browser.get(rp + "/login", timeout=10)
    assert resp.status_code == 200, resp.text
    return str(resp.json()["id_token"])


def header_kid(token: str) -> str:
    import base64
    import json

    head = token.split(".")[0]
    return str(json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))["kid"])


def test_rotation_without_a_failed_sign_in(provider_and_rp) -> None:
    server, rp, browser = provider_and_rp
    before = sign_in(rp, browser)
    old_kid = header_kid(before)
    old_etag = requests.get(server.url + "/jwks.json", timeout=5).headers["ETag"]

    result = server.app.test_cli_runner().invoke(args=["keys", "rotate", "--alg", "RS256"])
    assert result.exit_code == 0 and "published signing key" in result.output, result.output
    new_kid = result.output.split("published signing key ")[1].split(";")[0]
    again = server.app.test_cli_runner().invoke(args=["keys", "rotate", "--alg", "RS256"])
    assert "already scheduled" in again.output  # a second run does not shorten the notice

    # Published at once (the JWKS changed, so its ETag did), signing nothing yet.
    time.sleep(1.1)  # the process re-reads its keys every second here
    resp = requests.get(server.url + "/jwks.json", timeout=5)
    assert resp.headers["ETag"] != old_etag and "max-age=" in resp.headers["Cache-Control"]
    cached = KeySet.import_key_set(resp.json())  # what a careful RP caches during the overlap
    assert {k.kid for k in cached} >= {old_kid, new_kid}
    during = sign_in(rp, browser)
    assert header_kid(during) == old_kid

    # After the overlap the new key signs; sign-ins go on working, and the key set cached during the
    # overlap verifies the new token without fetching again.
    deadline = time.monotonic() + OVERLAP + 5
    after = during
    while header_kid(after) != new_kid and time.monotonic() < deadline:
        time.sleep(0.3)
        after = sign_in(rp, browser)
    assert header_kid(after) == new_kid
    jwt.decode(after, cached)
    # The old key stays published: tokens it signed keep verifying.
    jwt.decode(before, jwks_of(server.url))
    listed = server.app.test_cli_runner().invoke(args=["keys", "list"]).output
    assert f"{new_kid}  RS256  signing" in listed and f"{old_kid}  RS256  retiring" in listed


def test_retired_key_is_unpublished_after_the_longest_token_lifetime(provider_and_rp) -> None:
    server, rp, browser = provider_and_rp
    old_kid = header_kid(sign_in(rp, browser))
    app = server.app
    with app.app_context():
        new_kid = keys.rotate(("RS256",))[0]
        # Pretend the switch happened long ago: longer than any token it signed can live.
        long_ago = dt.datetime.now(dt.UTC).replace(tzinfo=None) - keys.retire_after() - dt.timedelta(seconds=5)
        db.session.execute(update(SigningKey).where(SigningKey.kid == old_kid)
                           .values(activated_at=long_ago - dt.timedelta(days=30)))
        db.session.execute(update(SigningKey).where(SigningKey.kid == new_kid).values(activated_at=long_ago))
        db.session.commit()
        keys.reset()
        assert set(keys.tidy()) == {old_kid, new_kid}  # removed, and active
        rows = {r.kid: r for r in db.session.execute(select(SigningKey)).scalars()}
        assert rows[old_kid].status == "removed" and rows[old_kid].private_enc == ""
        assert rows[new_kid].status == "active"
    time.sleep(1.1)
    published = {k.kid for k in jwks_of(server.url)}
    assert new_kid in published and old_kid not in published
    assert header_kid(sign_in(rp, browser)) == new_kid


def test_production_refuses_a_short_overlap(tmp_path) -> None:
    import base64

    from idp.config import ConfigError, load

    with pytest.raises(ConfigError, match="IDP_KEY_ROTATION_OVERLAP"):
        load({"INSTANCE_DIR": str(tmp_path), "ENV": "production", "ISSUER": "https://sso.example.id",
              "DATABASE_URL": "postgresql+psycopg://x/y", "REDIS_URL": "redis://127.0.0.1:1/0",
              "SECRET_KEY": "s" * 40, "HASH_KEY": base64.urlsafe_b64encode(b"h" * 32).decode(),
              "DATA_KEYS": [TEST_DATA_KEY], "KEY_ROTATION_OVERLAP": 60})


def test_plan_is_a_function_of_the_clock(make_app) -> None:
    """Every process computes the same signer at the same moment, with no write in between."""
    app = make_app(DATA_KEYS=[TEST_DATA_KEY])
    with app.app_context():
        keys.ensure()
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        scheduled = keys.create_key("ES256", "next", now + dt.timedelta(hours=1))
        db.session.commit()
        rows = list(db.session.execute(select(SigningKey).where(SigningKey.alg == "ES256")).scalars())
        assert keys.plan(rows, now).signing["ES256"].kid != scheduled.kid
        assert keys.plan(rows, now + dt.timedelta(hours=1)).signing["ES256"].kid == scheduled.kid
        signer = keys.plan(rows, now).signing["ES256"]
        assert keys.plan([signer, scheduled], now).changes_at == scheduled.activated_at
