"""The refresh token grant: rotation, reuse detection, narrowing, and every reason to refuse."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from joserfc import jwt
from sqlalchemy import select, update

from idp.extensions import db
from idp.models import Client, Person, RefreshToken
from idp.oauth import keys, tokens

from . import helpers
from .conftest import RP

REFRESH_GRANTS = ["authorization_code", "refresh_token"]
SCOPE = "openid profile email offline_access"


@pytest.fixture
def rrp(make_rp: Callable[..., RP]) -> RP:
    return make_rp(grant_types=REFRESH_GRANTS)


def refresh(rp: RP, token: str, *, secret: str | None = None, client_id: str | None = None,
            **extra: Any) -> Any:
    data = {"grant_type": "refresh_token", "refresh_token": token, **extra}
    return rp.client_post("/token", data, client_id=client_id, secret=secret)


def userinfo_status(rp: RP, access_token: str) -> int:
    return rp.userinfo_status(access_token)


def rows(app: Flask) -> list[RefreshToken]:
    with app.app_context():
        found = list(db.session.execute(select(RefreshToken).order_by(RefreshToken.id)).scalars())
        for r in found:
            db.session.expunge(r)
        return found


def test_rotation(rrp: RP) -> None:
    first = rrp.tokens(scope=SCOPE)
    assert first["refresh_token"]
    resp = refresh(rrp, first["refresh_token"])
    assert resp.status_code == 200, resp.get_json()
    assert resp.headers["Cache-Control"] == "no-store"
    second = resp.get_json()
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    assert second["scope"] == SCOPE
    assert userinfo_status(rrp, second["access_token"]) == 200
    saved = rows(rrp.app)
    assert len(saved) == 2
    assert saved[0].rotated_at is not None and saved[1].rotated_at is None
    assert saved[0].family_id == saved[1].family_id
    assert saved[0].expires_at == saved[1].expires_at  # the family's absolute expiry is kept
    # The new ID token keeps the original authentication's facts (OIDC Core 12.2).
    with rrp.app.app_context():
        ring = keys.keyring()
        old = jwt.decode(first["id_token"], ring.verify, algorithms=list(keys.ALGORITHMS)).claims
        new = jwt.decode(second["id_token"], ring.verify, algorithms=list(keys.ALGORITHMS)).claims
    for claim in ("sub", "aud", "iss", "auth_time", "acr", "amr", "sid"):
        assert new[claim] == old[claim], claim
    assert "nonce" not in new
    # And the third generation works too.
    third = refresh(rrp, second["refresh_token"])
    assert third.status_code == 200


def test_reuse_revokes_the_family(rrp: RP) -> None:
    first = rrp.tokens(scope=SCOPE)
    second = refresh(rrp, first["refresh_token"]).get_json()
    replay = refresh(rrp, first["refresh_token"])
    assert replay.status_code == 400 and replay.get_json()["error"] == "invalid_grant"
    # Everything of the family is dead now: the current refresh token and the access tokens.
    assert refresh(rrp, second["refresh_token"]).get_json()["error"] == "invalid_grant"
    assert userinfo_status(rrp, second["access_token"]) == 401
    assert userinfo_status(rrp, first["access_token"]) == 401
    assert all(r.revoked_at is not None for r in rows(rrp.app))
    assert rows(rrp.app)[0].revoked_reason == "refresh_reuse"


def test_concurrent_use_lets_one_through(rrp: RP) -> None:
    first = rrp.tokens(scope=SCOPE)
    statuses: list[int] = []

    def worker() -> None:
        statuses.append(refresh(rrp, first["refresh_token"]).status_code)

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert statuses.count(200) <= 1
    assert statuses.count(400) >= 5


def test_scope_may_only_narrow(rrp: RP) -> None:
    first = rrp.tokens(scope=SCOPE)
    narrowed = refresh(rrp, first["refresh_token"], scope="openid offline_access")
    assert narrowed.status_code == 200
    body = narrowed.get_json()
    assert body["scope"] == "openid offline_access"
    # The new refresh token keeps the original grant (RFC 6749 6).
    assert rows(rrp.app)[-1].scope == SCOPE
    wider = refresh(rrp, body["refresh_token"], scope="openid profile nik")
    assert wider.get_json()["error"] == "invalid_scope"


def test_without_openid_no_id_token(rrp: RP) -> None:
    first = rrp.tokens(scope=SCOPE)
    body = refresh(rrp, first["refresh_token"], scope="profile").get_json()
    assert "id_token" not in body and body["scope"] == "profile"


def test_other_clients_token_is_refused_without_harm(rrp: RP, make_rp: Callable[..., RP]) -> None:
    first = rrp.tokens(scope=SCOPE)
    other = make_rp(grant_types=REFRESH_GRANTS)
    resp = refresh(other, first["refresh_token"])
    assert resp.get_json()["error"] == "invalid_grant"
    assert refresh(rrp, first["refresh_token"]).status_code == 200  # the owner is unaffected


def test_client_must_be_allowed_the_grant(make_rp: Callable[..., RP]) -> None:
    rp = make_rp(grant_types=["authorization_code"])
    first = rp.tokens(scope=SCOPE)
    resp = refresh(rp, first["refresh_token"])
    assert resp.get_json()["error"] == "unauthorized_client"


def test_disabled_client(rrp: RP) -> None:
    first = rrp.tokens(scope=SCOPE)
    with rrp.app.app_context():
        # As the operator paths do (ORM): this process forgets its cached copy of the client at once.
        db.session.execute(select(Client).where(Client.client_id == rrp.client_id)).scalar_one().disabled = True
        db.session.commit()
    resp = refresh(rrp, first["refresh_token"])
    assert resp.status_code == 401 and resp.get_json()["error"] == "invalid_client"
    assert "WWW-Authenticate" in resp.headers


def test_disabled_person(rrp: RP) -> None:
    first = rrp.tokens(scope=SCOPE)
    with rrp.app.app_context():
        db.session.execute(update(Person).where(Person.id == rrp.person_id).values(status="disabled"))
        db.session.commit()
    assert refresh(rrp, first["refresh_token"]).get_json()["error"] == "invalid_grant"


def test_family_marker_refuses(rrp: RP) -> None:
    first = rrp.tokens(scope=SCOPE)
    family = rows(rrp.app)[0].family_id
    rrp.app.extensions["idp"].store.put("family-revoked", family, 1, 60)
    assert refresh(rrp, first["refresh_token"]).get_json()["error"] == "invalid_grant"


def test_expired_refresh_token(rrp: RP) -> None:
    first = rrp.tokens(scope=SCOPE)
    with rrp.app.app_context():
        db.session.execute(update(RefreshToken).values(expires_at=dt.datetime(2020, 1, 1)))
        db.session.commit()
    assert refresh(rrp, first["refresh_token"]).get_json()["error"] == "invalid_grant"


def test_revoked_row_triggers_family_revocation(rrp: RP) -> None:
    first = rrp.tokens(scope=SCOPE)
    with rrp.app.app_context():
        tokens.revoke_family(rows(rrp.app)[0].family_id, "test")
        db.session.commit()
    assert refresh(rrp, first["refresh_token"]).get_json()["error"] == "invalid_grant"
    assert userinfo_status(rrp, first["access_token"]) == 401


def test_public_client_refreshes_with_rotation(make_rp: Callable[..., RP]) -> None:
    rp = make_rp(secret=None, grant_types=REFRESH_GRANTS)
    first = rp.tokens(scope=SCOPE)
    resp = refresh(rp, first["refresh_token"])
    assert resp.status_code == 200, resp.get_json()
    assert refresh(rp, first["refresh_token"]).get_json()["error"] == "invalid_grant"


def test_wrong_secret(rrp: RP) -> None:
    first = rrp.tokens(scope=SCOPE)
    resp = refresh(rrp, first["refresh_token"], secret="wrong")
    assert resp.status_code == 401 and resp.get_json()["error"] == "invalid_client"
    assert resp.headers["WWW-Authenticate"].startswith("Basic")
    assert refresh(rrp, first["refresh_token"]).status_code == 200  # nothing was consumed


@pytest.mark.parametrize("value", ["", " ", "x" * 5000, "nope", "' OR 1=1 --", "ä" * 10, "\x00", "a.b.c",
                                   "%00"])
def test_hostile_refresh_tokens(rrp: RP, value: str) -> None:
    resp = refresh(rrp, value)
    assert resp.status_code == 400
    assert resp.get_json()["error"] in {"invalid_grant", "invalid_request"}


def test_missing_or_repeated_refresh_token(rrp: RP) -> None:
    first = rrp.tokens(scope=SCOPE)
    assert rrp.browser.post("/token", data={"grant_type": "refresh_token"},
                            headers=helpers.basic(rrp.client_id, rrp.secret or "")).status_code == 400
    resp = rrp.browser.post("/token", data={"grant_type": "refresh_token",
                                            "refresh_token": [first["refresh_token"], "other"]},
                            headers=helpers.basic(rrp.client_id, rrp.secret or ""))
    assert resp.status_code == 400


def test_authlib_client_refresh_revoke_introspect(live_server: Callable[..., Any]) -> None:
    """An unmodified Authlib OAuth2Session refreshes, introspects and revokes against a real server."""
    import requests
    from authlib.common.security import generate_token
    from authlib.integrations.requests_client import OAuth2Session

    from .conftest import TEST_DATA_KEY

    server = live_server(DATA_KEYS=[TEST_DATA_KEY])
    app = server.app
    with app.app_context():
        keys.ensure()
    callback = "http://127.0.0.1:9/callback"
    client_id, secret = helpers.create_client(app, redirect_uris=[callback], first_party=True,
                                              grant_types=REFRESH_GRANTS)
    person_id, sub = helpers.create_person(app)
    browser = requests.Session()
    helpers.sign_in(app, browser, person_id, sub)
    meta = requests.get(server.url + "/.well-known/openid-configuration", timeout=5).json()
    rp = OAuth2Session(client_id, secret, scope=SCOPE, redirect_uri=callback, code_challenge_method="S256")
    verifier = generate_token(48)
    uri, _ = rp.create_authorization_url(meta["authorization_endpoint"], code_verifier=verifier,
                                         nonce=generate_token(20))
    location = browser.get(uri, allow_redirects=False, timeout=5).headers["Location"]
    first = rp.fetch_token(meta["token_endpoint"], authorization_response=location, code_verifier=verifier)
    assert first["refresh_token"]

    second = rp.refresh_token(meta["token_endpoint"])
    assert second["refresh_token"] != first["refresh_token"]
    assert rp.get(meta["userinfo_endpoint"], timeout=5).json()["sub"] == sub

    info = rp.introspect_token(meta["introspection_endpoint"], token=second["access_token"]).json()
    assert info["active"] is True and info["sub"] == sub
    resp = rp.revoke_token(meta["revocation_endpoint"], token=second["refresh_token"],
                           token_type_hint="refresh_token")
    assert resp.status_code == 200
    info = rp.introspect_token(meta["introspection_endpoint"], token=second["access_token"]).json()
    assert info == {"active": False}
