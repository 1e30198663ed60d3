"""Redis stopped under a running app: pages and APIs answer 503, and recover when Redis is back.

A private Redis is started here (the session one is shared with every other test): the app is
pointed at it, the server is stopped, every endpoint that touches the store must refuse cleanly
(503, RFC 6749 5.2 / 4.1.2.1 ``temporarily_unavailable`` for APIs, a translated page for people),
then the server is started again on the same port and the same app works without a restart.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask

from tests import services
from tests.oauth import helpers
from tests.oauth.conftest import RP

UNAVAILABLE = {
    "en": "temporarily unavailable",
    "id": "tidak tersedia untuk sementara",
}


class RestartableRedis:
    """A private redis-server that can be stopped and started again on the same port."""

    def __init__(self) -> None:
        self.svc = services.start_redis()
        self.port = self.svc.port
        self.url = self.svc.url

    def stop(self) -> None:
        assert self.svc.proc is not None
        services.stop_process(self.svc.proc)

    def start(self) -> None:
        exe = shutil.which("redis-server") or "/usr/bin/redis-server"
        assert self.svc.workdir is not None
        self.svc.proc = subprocess.Popen(
            [exe, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", self.svc.workdir, "--logfile", os.path.join(self.svc.workdir, "redis.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        services.wait_port(self.port, proc=self.svc.proc)

    def close(self) -> None:
        self.svc.stop()


@pytest.fixture
def private_redis() -> Iterator[RestartableRedis]:
    server = RestartableRedis()
    yield server
    server.close()


@pytest.fixture
def app(oauth_app: Callable[..., Flask], private_redis: RestartableRedis) -> Flask:  # noqa: F811
    return oauth_app(REDIS_URL=private_redis.url)


def _no_traceback(body: str) -> None:
    assert "Traceback" not in body and "redis" not in body.lower() and "ConnectionError" not in body


def _api_calls(rp: RP, tokens: dict[str, Any]) -> list[tuple[str, Callable[[], Any]]]:
    verifier, challenge = helpers.pkce_pair()
    return [
        ("/token code", lambda: rp.token("some-code", verifier=verifier)),
        ("/token refresh", lambda: rp.client_post("/token", {"grant_type": "refresh_token",
                                                             "refresh_token": tokens["refresh_token"]})),
        ("/userinfo", lambda: rp.browser.get(
            "/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"})),
        ("/introspect", lambda: rp.client_post("/introspect", {"token": tokens["access_token"]})),
    ]


def test_redis_down_then_back(make_rp: Callable[..., RP], private_redis: RestartableRedis) -> None:  # noqa: F811
    rp = make_rp(grant_types=["authorization_code", "refresh_token"])
    tokens = rp.tokens(scope="openid profile email offline_access")
    assert "refresh_token" in tokens

    private_redis.stop()

    # Pages: the person reads the reason in their language; never a 500 nor a traceback.
    for lang, text in UNAVAILABLE.items():
        for path, params in [("/login", {"lang": lang}),
                             ("/authorize", rp.auth_params(lang=lang))]:
            resp = rp.browser.get(path, query_string=params)
            body = resp.get_data(as_text=True)
            assert resp.status_code == 503, (path, resp.status_code, body[:300])
            assert resp.mimetype == "text/html"
            assert text in body.lower(), (lang, path, body[:500])
            assert resp.headers.get("Retry-After")
            _no_traceback(body)

    # APIs: JSON, temporarily_unavailable (RFC 6749 4.1.2.1 / 5.2 family of codes).
    for name, call in _api_calls(rp, tokens):
        resp = call()
        assert resp.status_code == 503, (name, resp.status_code, resp.get_data(as_text=True)[:300])
        assert resp.get_json()["error"] == "temporarily_unavailable", name
        _no_traceback(resp.get_data(as_text=True))

    # Readiness reports the outage (load balancers take the node out).
    assert rp.browser.get("/readyz").status_code == 503

    private_redis.start()  # empty: sessions are gone, the app itself reconnects by itself

    assert rp.browser.get("/readyz").status_code == 200
    assert rp.browser.get("/login").status_code == 200
    rp.sign_in()
    fresh = rp.tokens(scope="openid profile email offline_access")
    assert rp.userinfo_status(fresh["access_token"]) == 200
    resp = rp.client_post("/introspect", {"token": fresh["access_token"]})
    assert resp.status_code == 200 and resp.get_json()["active"] is True
    resp = rp.client_post("/token", {"grant_type": "refresh_token", "refresh_token": fresh["refresh_token"]})
    assert resp.status_code == 200, resp.get_data(as_text=True)
