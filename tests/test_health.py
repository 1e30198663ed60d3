"""/healthz and /readyz: JSON, never cached; readiness follows the database and the store (503), and
reports the directory when one is configured (a directory outage degrades, it does not unready)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest
from flask import Flask

from idp.extensions import db
from tests import services
from tests.ldap.conftest import ldap_app, ldap_certs, slapd_main  # noqa: F401 - fixtures
from tests.ldap.slapd import Slapd
from tests.resilience.test_database_outage import RestartablePostgres
from tests.test_metrics import sample, scrape


@pytest.fixture
def private_redis() -> Iterator[services.Service]:
    svc = services.start_redis()
    yield svc
    svc.stop()


def test_healthz_answers_without_dependencies(make_app: Callable[..., Flask]) -> None:
    resp = make_app().test_client().get("/healthz")
    assert resp.status_code == 200 and resp.get_json() == {"status": "ok"}
    assert resp.headers["Cache-Control"] == "no-store"


def test_readyz_503_when_the_store_is_down(make_app: Callable[..., Flask], private_redis: services.Service) -> None:
    app = make_app(REDIS_URL=private_redis.url)
    client = app.test_client()
    resp = client.get("/readyz")
    assert resp.status_code == 200
    assert resp.get_json() == {"status": "ready", "checks": {"database": "ok", "store": "ok"}}
    before = sample(scrape(app), "idp_dependency_errors_total", dependency="redis")

    assert private_redis.proc is not None
    services.stop_process(private_redis.proc)
    resp = client.get("/readyz")
    assert resp.status_code == 503
    assert resp.get_json() == {"status": "unavailable", "checks": {"database": "ok", "store": "unavailable"}}
    assert resp.headers["Cache-Control"] == "no-store"
    assert client.get("/healthz").status_code == 200  # alive all the same: no restart needed
    # The sign-in page refuses at once (503) and both refusals are counted as store errors.
    assert client.get("/login").status_code == 503
    assert sample(scrape(app), "idp_dependency_errors_total", dependency="redis") == before + 2


def test_readyz_503_when_the_database_is_down(make_app: Callable[..., Flask]) -> None:
    server = RestartablePostgres()
    try:
        app = make_app(DATABASE_URL=services.create_database(server.url, "idp_health"))
        client = app.test_client()
        assert client.get("/readyz").status_code == 200
        before = sample(scrape(app), "idp_dependency_errors_total", dependency="database")
        server.stop()
        resp = client.get("/readyz")
        assert resp.status_code == 503
        assert resp.get_json() == {"status": "unavailable", "checks": {"database": "unavailable", "store": "ok"}}
        assert sample(scrape(app), "idp_dependency_errors_total", dependency="database") == before + 1
        server.start()
        assert client.get("/readyz").status_code == 200  # the pool recovers by itself
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
    finally:
        server.close()


def test_readyz_reports_the_directory(ldap_app: Callable[..., Flask], slapd_main: Slapd) -> None:  # noqa: F811
    up = ldap_app()
    resp = up.test_client().get("/readyz")
    assert resp.status_code == 200
    assert resp.get_json() == {"status": "ready",
                               "checks": {"database": "ok", "store": "ok", "directory": "ok"}}

    down = ldap_app(urls=[f"ldap://127.0.0.1:{services.free_port()}"], LDAP_CONNECT_TIMEOUT=1)
    before = sample(scrape(down), "idp_dependency_errors_total", dependency="ldap")
    resp = down.test_client().get("/readyz")
    # Citizens can still sign in: the node stays in the load balancer, the outage is visible.
    assert resp.status_code == 200
    assert resp.get_json() == {"status": "degraded",
                               "checks": {"database": "ok", "store": "ok", "directory": "unavailable"}}
    assert sample(scrape(down), "idp_dependency_errors_total", dependency="ldap") == before + 1


def test_a_hung_directory_does_not_hold_readyz(ldap_app: Callable[..., Flask]) -> None:  # noqa: F811
    """A server that accepts connections and never answers: /readyz still answers within about a second."""
    with socket.socket() as hung:
        hung.bind(("127.0.0.1", 0))
        hung.listen(8)  # the kernel completes the handshakes; nobody reads
        app = ldap_app(urls=[f"ldap://127.0.0.1:{hung.getsockname()[1]}"], LDAP_RECEIVE_TIMEOUT=5)
        client = app.test_client()
        for _ in range(2):  # the second probe finds the first still waiting and does not start another
            started = time.monotonic()
            resp = client.get("/readyz")
            assert time.monotonic() - started < 2.5
            assert resp.status_code == 200
            assert resp.get_json()["checks"]["directory"] == "unavailable"
        assert sum(t.name == "idp-readyz-ldap" for t in threading.enumerate()) == 1
