"""PostgreSQL restarted under a running app: requests fail cleanly (503) and recover without a restart.

A private cluster is started here (the session one is shared by every other test).  During the
outage every request that needs the database answers 503 with ``temporarily_unavailable`` (RFC 6749
5.2 / 4.1.2.1) and no traceback; after the restart the pooled connections that died are replaced (a
failed statement on a dead connection invalidates the whole pool) and the same app serves again.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask

from tests import services
from tests.oauth.conftest import RP


class RestartablePostgres:
    """A private PostgreSQL cluster stopped and started on the same port.

    ``fast`` mode ends every client connection at once (the provider's pooled ones die) but writes
    the WAL first: the test cluster runs with ``synchronous_commit=off``, so an ``immediate`` stop
    could lose the rows the test just committed, which a production server would keep.
    """

    def __init__(self) -> None:
        self.svc = services.start_postgres()
        self.url = self.svc.url
        self.data = self.svc.extra["data"]
        self.prefix: list[str] = self.svc.extra["prefix"]

    def stop(self) -> None:
        subprocess.run(self.prefix + [services._pg_bin("pg_ctl"), "-D", self.data, "-m", "fast", "stop"],
                       check=True, capture_output=True)

    def start(self) -> None:
        workdir = self.svc.workdir
        assert workdir is not None
        subprocess.run(self.prefix + [services._pg_bin("pg_ctl"), "-D", self.data, "-l",
                                      os.path.join(workdir, "log"), "-w", "-o",
                                      f"-p {self.svc.port} -c listen_addresses=127.0.0.1 -k {workdir} "
                                      "-c fsync=off -c max_connections=200", "start"],
                       check=True, capture_output=True)

    def close(self) -> None:
        self.svc.stop()


@pytest.fixture
def private_pg() -> Iterator[RestartablePostgres]:
    server = RestartablePostgres()
    yield server
    server.close()


@pytest.fixture
def app(private_pg: RestartablePostgres, oauth_app: Callable[..., Flask]) -> Flask:  # noqa: F811
    url = services.create_database(private_pg.url, "idp_outage")
    return oauth_app(DATABASE_URL=url)


def _calls(rp: RP, tokens: dict[str, Any]) -> list[tuple[str, Callable[[], Any], bool]]:
    """(name, request, is_api): each needs the database."""
    return [
        ("/token refresh", lambda: rp.client_post("/token", {"grant_type": "refresh_token",
                                                             "refresh_token": tokens["refresh_token"]}), True),
        ("/userinfo", lambda: rp.browser.get(
            "/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}), True),
        ("/introspect", lambda: rp.client_post("/introspect", {"token": tokens["access_token"]}), True),
        ("/authorize", lambda: rp.authorize(), False),
    ]


def test_database_restart(make_rp: Callable[..., RP], private_pg: RestartablePostgres) -> None:
    rp = make_rp(grant_types=["authorization_code", "refresh_token"])
    tokens = rp.tokens(scope="openid profile email offline_access")

    private_pg.stop()
    for name, call, is_api in _calls(rp, tokens):
        resp = call()
        body = resp.get_data(as_text=True)
        if name == "/introspect" and resp.status_code == 200:
            # Needs no database: the access token is in Redis and the client in the process's cache.
            assert resp.get_json()["active"] is True
            continue
        assert resp.status_code == 503, (name, resp.status_code, body[:400])
        assert "Traceback" not in body and "psycopg" not in body and "OperationalError" not in body
        if is_api:
            assert resp.get_json()["error"] == "temporarily_unavailable", name
        else:
            assert resp.mimetype == "text/html"

    private_pg.start()
    # The failures above invalidated the pool, so the first request after the restart already succeeds.
    resp = rp.client_post("/token", {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    fresh = resp.get_json()
    assert rp.userinfo_status(fresh["access_token"]) == 200
    resp = rp.client_post("/introspect", {"token": fresh["access_token"]})
    assert resp.status_code == 200 and resp.get_json()["active"] is True
    assert rp.tokens()["access_token"]


def test_quiet_restart_costs_at_most_one_failed_request(make_rp: Callable[..., RP],
                                                        private_pg: RestartablePostgres) -> None:
    """A restart between two requests (no pre-ping on checkout): the first request on a dead pooled
    connection may fail, cleanly and changing nothing; the next one reconnects."""
    rp = make_rp(grant_types=["authorization_code", "refresh_token"])
    tokens = rp.tokens(scope="openid profile email offline_access")
    private_pg.stop()
    private_pg.start()

    def refresh() -> Any:
        return rp.client_post("/token", {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})

    first = refresh()
    if first.status_code == 503:  # the dead pooled connection: clean, and the pool is renewed
        assert first.get_json()["error"] == "temporarily_unavailable"
        first = refresh()  # the same refresh token: the failed attempt changed nothing
    assert first.status_code == 200, first.get_data(as_text=True)
