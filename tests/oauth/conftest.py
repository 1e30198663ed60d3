"""Fixtures for the protocol tests: an app with signing keys, a relying party and a signed-in person."""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from . import helpers

TEST_DATA_KEY = "test1:" + base64.urlsafe_b64encode(b"k" * 32).decode()


def _ensure_keys(app: Flask) -> None:
    try:
        from idp.oauth import keys
    except ImportError:  # before the keys module exists
        return
    with app.app_context():
        keys.ensure()


@pytest.fixture
def oauth_app(make_app: Callable[..., Flask]) -> Callable[..., Flask]:
    """``make_app`` that also makes sure the signing keys exist (they survive between tests)."""

    def factory(**settings: Any) -> Flask:
        # A fixed data key lets the signing keys (kept between tests) decrypt in every test's app.
        settings.setdefault("DATA_KEYS", [TEST_DATA_KEY])
        app = make_app(**settings)
        _ensure_keys(app)
        return app

    return factory


@pytest.fixture
def app(oauth_app: Callable[..., Flask]) -> Flask:
    return oauth_app()


@dataclass
class RP:
    """One relying party and one person, driving the provider through the Flask test client."""

    app: Flask
    browser: FlaskClient
    client_id: str
    secret: str | None
    person_id: int
    sub: str
    redirect_uri: str = helpers.REDIRECT
    extra: dict[str, Any] = field(default_factory=dict)

    def sign_in(self, **kwargs: Any) -> str:
        return helpers.sign_in(self.app, self.browser, self.person_id, self.sub, **kwargs)

    def auth_params(self, **params: Any) -> dict[str, Any]:
        base: dict[str, Any] = {"response_type": "code", "client_id": self.client_id,
                                "redirect_uri": self.redirect_uri, "scope": "openid profile email",
                                "state": "st-123", "nonce": "n-456"}
        base.update(params)
        return {k: v for k, v in base.items() if v is not None}

    def authorize(self, method: str = "GET", **params: Any) -> Any:
        data = self.auth_params(**params)
        if method == "POST":
            return self.browser.post("/authorize", data=data)
        return self.browser.get("/authorize", query_string=data)

    def get_code(self, **params: Any) -> tuple[str, dict[str, str]]:
        resp = self.authorize(**params)
        assert resp.status_code == 302, resp.get_data(as_text=True)
        q = helpers.query(resp.headers["Location"])
        assert "code" in q, q
        return q["code"], q

    def token(self, code: str, *, verifier: str | None = None, redirect_uri: str | None = None,
              client_id: str | None = None, secret: str | None = None, **extra: Any) -> Any:
        data: dict[str, Any] = {"grant_type": "authorization_code", "code": code,
                                "redirect_uri": redirect_uri or self.redirect_uri, **extra}
        if verifier:
            data["code_verifier"] = verifier
        return self.client_post("/token", data, client_id=client_id, secret=secret)

    def client_post(self, path: str, data: dict[str, Any], *, client_id: str | None = None,
                    secret: str | None = None) -> Any:
        """POST as this client: HTTP Basic with a secret, else ``client_id`` in the body (public client)."""
        cid = client_id or self.client_id
        sec = secret if secret is not None else self.secret
        if sec:
            return self.browser.post(path, data=data, headers=helpers.basic(cid, sec))
        return self.browser.post(path, data={**data, "client_id": cid})

    def expired_id_token_hint(self, alg: str) -> str:
        """An ID token for this person signed with the provider's own key, expired an hour ago."""
        from joserfc import jwt

        from idp.oauth import keys

        with self.app.app_context():
            kid, key = keys.keyring().signing_key(alg)
        now = int(time.time())
        claims = {"iss": self.app.extensions["idp"].config["ISSUER"], "sub": self.sub, "aud": self.client_id,
                  "iat": now - 7200, "exp": now - 3600}
        return str(jwt.encode({"alg": alg, "kid": kid}, claims, key))

    def userinfo_status(self, access_token: str) -> int:
        return int(self.browser.get("/userinfo", headers={"Authorization": f"Bearer {access_token}"}).status_code)

    def tokens(self, **params: Any) -> dict[str, Any]:
        verifier, challenge = helpers.pkce_pair()
        code, _ = self.get_code(code_challenge=challenge, code_challenge_method="S256", **params)
        resp = self.token(code, verifier=verifier)
        assert resp.status_code == 200, resp.get_data(as_text=True)
        return dict(resp.get_json())


@pytest.fixture
def make_rp(app: Flask) -> Callable[..., RP]:
    """A relying party (first-party by default, so no consent page) and a signed-in person."""
    person_id, sub = helpers.create_person(app)

    def factory(*, signed_in: bool = True, **client_args: Any) -> RP:
        client_args.setdefault("first_party", True)
        client_id, secret = helpers.create_client(app, **client_args)
        rp = RP(app=app, browser=app.test_client(), client_id=client_id, secret=secret,
                person_id=person_id, sub=sub)
        if signed_in:
            rp.sign_in()
        return rp

    return factory


@pytest.fixture
def rp(make_rp: Callable[..., RP]) -> RP:
    return make_rp()
