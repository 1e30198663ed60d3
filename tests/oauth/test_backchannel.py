"""OpenID Connect Back-Channel Logout 1.0: metadata, discovery, logout tokens and their delivery.

A real HTTP receiver (a threaded ``http.server`` on a free port) plays the application's
``backchannel_logout_uri``; the tokens it receives are checked with joserfc against the provider's
published JWKS, not with the provider's own code.  Time is driven through ``deliver(now=...)``.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import pytest
from flask import Flask
from joserfc import jwt
from joserfc.jwk import KeySet
from sqlalchemy import select

from idp.extensions import db
from idp.models import LogoutNotice, utcnow
from idp.oauth import backchannel, registration
from idp.people import session as login_session
from tests import services

from . import helpers

EVENT = "http://schemas.openid.net/event/backchannel-logout"


class Receiver:
    """An application's back-channel endpoint: records every POST, answers with ``status``."""

    def __init__(self, port: int | None = None, status: int = 200, delay: float = 0.0) -> None:
        self.port = port or services.free_port()
        self.url = f"http://127.0.0.1:{self.port}/backchannel-logout"
        self.status = status
        self.delay = delay
        self.received: list[dict[str, Any]] = []
        self._server: ThreadingHTTPServer | None = None

    def start(self) -> Receiver:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                outer.received.append({"path": self.path, "form": parse_qs(body),
                                       "content_type": self.headers.get("Content-Type")})
                if outer.delay:
                    time.sleep(outer.delay)
                self.send_response(outer.status)
                if outer.status in (301, 302, 307):
                    self.send_header("Location", f"http://127.0.0.1:{outer.port}/elsewhere")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def tokens(self) -> list[str]:
        return [item["form"]["logout_token"][0] for item in self.received]


@pytest.fixture
def receivers() -> Iterator[Callable[..., Receiver]]:
    made: list[Receiver] = []

    def factory(start: bool = True, **kwargs: Any) -> Receiver:
        receiver = Receiver(**kwargs)
        made.append(receiver)
        return receiver.start() if start else receiver

    yield factory
    for receiver in made:
        receiver.stop()


@pytest.fixture
def app(oauth_app: Callable[..., Flask]) -> Flask:
    # Loopback receivers need the test switch; delivery is driven by the tests (no thread).
    return oauth_app(JWKS_URI_ALLOW_LOOPBACK=True, BACKCHANNEL_WORKER=False)


def deliver(app: Flask, now: dt.datetime | None = None) -> dict[str, int]:
    with app.app_context():
        return dict(backchannel.deliver(now=now))


def notices(app: Flask) -> list[LogoutNotice]:
    with app.app_context():
        rows = list(db.session.execute(select(LogoutNotice).order_by(LogoutNotice.id)).scalars())
        for row in rows:
            db.session.expunge(row)
        return rows


def jwks(app: Flask) -> KeySet:
    resp = app.test_client().get("/jwks.json")
    assert resp.status_code == 200
    return KeySet.import_key_set(json.loads(resp.get_data()))


def verify(app: Flask, token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(header, claims) of a token verified with joserfc against the published JWKS."""
    decoded = jwt.decode(token, jwks(app), algorithms=["RS256", "ES256"])
    return dict(decoded.header), dict(decoded.claims)


def logout(rp: Any, id_token: str) -> None:
    resp = rp.browser.get("/end_session", query_string={"id_token_hint": id_token,
                                                         "post_logout_redirect_uri": helpers.LOGOUT_REDIRECT})
    assert resp.status_code == 302 and resp.headers["Location"] == helpers.LOGOUT_REDIRECT


def check_logout_token(app: Flask, token: str, *, aud: str, sid: str, sub: str, alg: str = "RS256") -> dict:
    header, claims = verify(app, token)
    assert header["typ"] == "logout+jwt" and header["alg"] == alg and header["kid"]
    now = time.time()
    assert claims["iss"] == app.extensions["idp"].config["ISSUER"]
    assert claims["aud"] == aud and claims["sub"] == sub and claims["sid"] == sid
    assert claims["events"] == {EVENT: {}}
    assert now - 60 <= claims["iat"] <= now + 5
    assert claims["iat"] < claims["exp"] <= claims["iat"] + 300
    assert isinstance(claims["jti"], str) and len(claims["jti"]) >= 16
    assert "nonce" not in claims
    return claims


# --------------------------------------------------------------------------- delivery
def test_rp_initiated_logout_notifies_each_application_of_the_session(app, make_rp, receivers) -> None:
    recv_a, recv_b = receivers(), receivers()
    a = make_rp(backchannel_logout_uri=recv_a.url)
    b = make_rp(signed_in=False, backchannel_logout_uri=recv_b.url, backchannel_logout_session_required=True,
                id_token_signed_response_alg="ES256")
    c = make_rp(signed_in=False)  # registered no back-channel URI: gets nothing
    b.browser = c.browser = a.browser  # one browser, one session, three applications
    id_a, id_b, _ = a.tokens()["id_token"], b.tokens()["id_token"], c.tokens()["id_token"]
    sid = verify(app, id_a)[1]["sid"]
    assert verify(app, id_b)[1]["sid"] == sid

    logout(a, id_a)
    assert recv_a.received == [] and recv_b.received == []  # nothing is sent inside the person's request
    rows = notices(app)
    assert sorted(r.client_id for r in rows) == sorted([a.client_id, b.client_id])
    assert all(r.status == "pending" and r.sid == sid for r in rows)

    assert deliver(app) == {"delivered": 2}
    assert len(recv_a.received) == 1 and len(recv_b.received) == 1
    assert recv_a.received[0]["content_type"] == "application/x-www-form-urlencoded"
    check_logout_token(app, recv_a.tokens()[0], aud=a.client_id, sid=sid, sub=a.sub)
    check_logout_token(app, recv_b.tokens()[0], aud=b.client_id, sid=sid, sub=b.sub, alg="ES256")
    assert {r.status for r in notices(app)} == {"delivered"}
    assert deliver(app) == {}  # delivered notices are not sent again
    assert len(recv_a.received) == 1


def test_two_sessions_give_two_notices(app, make_rp, receivers) -> None:
    recv = receivers()
    first = make_rp(backchannel_logout_uri=recv.url)
    second = dataclasses.replace(first, browser=app.test_client())  # same application, second browser
    second.sign_in()
    id1, id2 = first.tokens()["id_token"], second.tokens()["id_token"]
    logout(first, id1)
    logout(second, id2)
    assert deliver(app) == {"delivered": 2}
    sids = {check_logout_token(app, t, aud=first.client_id, sid=verify(app, t)[1]["sid"], sub=first.sub)["sid"]
            for t in recv.tokens()}
    assert sids == {verify(app, id1)[1]["sid"], verify(app, id2)[1]["sid"]} and len(sids) == 2


def test_notify_ended_queues_once_per_application_and_session(app, make_rp, receivers) -> None:
    recv = receivers()
    rp = make_rp(backchannel_logout_uri=recv.url)
    rp.tokens()
    cookie = rp.browser.get_cookie("idp_session").value
    with app.test_request_context(headers={"Cookie": f"idp_session={cookie}"}):
        ended = login_session.current()  # the session as the provider reads it, whatever the cookie format
        assert ended is not None and ended.clients == [rp.client_id]
        assert backchannel.notify_ended([ended, None, ended]) == 1
        assert backchannel.notify_ended([ended]) == 0  # already queued in this transaction
        db.session.commit()
        assert backchannel.notify_ended([ended]) == 0  # already stored
        db.session.commit()
    assert len(notices(app)) == 1


def test_no_uri_no_notice(app, make_rp, receivers) -> None:
    rp = make_rp()
    logout(rp, rp.tokens()["id_token"])
    assert notices(app) == [] and deliver(app) == {}


def test_receiver_down_then_up_gets_the_notice_after_the_retry(app, make_rp, receivers) -> None:
    recv = receivers(start=False)  # nothing listens on the port yet
    rp = make_rp(backchannel_logout_uri=recv.url)
    id_token = rp.tokens()["id_token"]
    logout(rp, id_token)
    start = utcnow()
    assert deliver(app, start) == {"pending": 1}
    row = notices(app)[0]
    assert row.status == "pending" and row.attempts == 1 and "connection" in row.last_error
    assert row.next_attempt_at > start
    recv.start()
    assert deliver(app, start + dt.timedelta(seconds=1)) == {}  # backoff: not due yet
    assert recv.received == []
    assert deliver(app, start + dt.timedelta(seconds=60)) == {"delivered": 1}
    check_logout_token(app, recv.tokens()[0], aud=rp.client_id, sid=verify(app, id_token)[1]["sid"], sub=rp.sub)
    row = notices(app)[0]
    assert row.status == "delivered" and row.attempts == 2 and row.last_error is None


def test_backoff_doubles_then_fails_with_a_warning(oauth_app, receivers, caplog) -> None:
    app = oauth_app(JWKS_URI_ALLOW_LOOPBACK=True, BACKCHANNEL_WORKER=False, BACKCHANNEL_MAX_ATTEMPTS=3,
                    BACKCHANNEL_RETRY_SECONDS=10)
    recv = receivers(status=500)
    person_id, sub = helpers.create_person(app)
    client_id, _ = helpers.create_client(app, first_party=True, backchannel_logout_uri=recv.url)
    with app.app_context():
        db.session.add(LogoutNotice(client_id=client_id, sid="s" * 32, sub=sub, next_attempt_at=utcnow()))
        db.session.commit()
    t0 = utcnow()
    assert deliver(app, t0) == {"pending": 1}
    assert notices(app)[0].next_attempt_at == t0 + dt.timedelta(seconds=10)
    assert deliver(app, t0 + dt.timedelta(seconds=11)) == {"pending": 1}
    assert notices(app)[0].next_attempt_at == t0 + dt.timedelta(seconds=31)
    with caplog.at_level(logging.WARNING, logger="idp.oauth.backchannel"):
        assert deliver(app, t0 + dt.timedelta(seconds=40)) == {"failed": 1}
    row = notices(app)[0]
    assert row.status == "failed" and row.attempts == 3 and row.last_error == "HTTP 500"
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and r.name == "idp.oauth.backchannel"]
    assert len(warnings) == 1 and client_id in warnings[0].getMessage()
    assert "HTTP 500" in warnings[0].getMessage()
    assert all(t not in caplog.text for t in recv.tokens()) and len(recv.received) == 3
    assert deliver(app, t0 + dt.timedelta(hours=5)) == {}  # failed notices are not retried

    result = app.test_cli_runner().invoke(args=["logout", "status", "--json"])
    assert result.exit_code == 0 and json.loads(result.output) == {client_id: {"pending": 0, "failed": 1}}


@pytest.mark.parametrize("status", [201, 202, 302, 307, 400, 401, 404, 503])
def test_only_200_and_204_count_as_delivered_and_redirects_are_not_followed(app, make_rp, receivers,
                                                                            status) -> None:
    recv = receivers(status=status)
    rp = make_rp(backchannel_logout_uri=recv.url)
    logout(rp, rp.tokens()["id_token"])
    assert deliver(app) == {"pending": 1}
    assert [r["path"] for r in recv.received] == ["/backchannel-logout"]  # never the Location
    assert notices(app)[0].last_error == f"HTTP {status}"


def test_204_counts_as_delivered(app, make_rp, receivers) -> None:
    recv = receivers(status=204)
    rp = make_rp(backchannel_logout_uri=recv.url)
    logout(rp, rp.tokens()["id_token"])
    assert deliver(app) == {"delivered": 1}


def test_slow_receiver_times_out(oauth_app, receivers) -> None:
    app = oauth_app(JWKS_URI_ALLOW_LOOPBACK=True, BACKCHANNEL_WORKER=False, BACKCHANNEL_TIMEOUT=1)
    recv = receivers(delay=3)
    _, sub = helpers.create_person(app)
    client_id, _ = helpers.create_client(app, backchannel_logout_uri=recv.url)
    with app.app_context():
        db.session.add(LogoutNotice(client_id=client_id, sid="s" * 32, sub=sub, next_attempt_at=utcnow()))
        db.session.commit()
    began = time.monotonic()
    assert deliver(app) == {"pending": 1}
    assert time.monotonic() - began < 2.5
    assert notices(app)[0].last_error == "timeout"


@pytest.mark.parametrize("uri", ["http://127.0.0.1:{port}/bc", "http://localhost:{port}/bc",
                                 "https://127.0.0.1:{port}/bc", "http://10.0.0.1/bc", "ftp://example.org/bc"])
def test_delivery_refuses_loopback_and_private_addresses_without_the_switch(oauth_app, receivers, uri) -> None:
    """A client row written around the validator (older data, a bug) still cannot make us call inward."""
    app = oauth_app(BACKCHANNEL_WORKER=False)
    recv = receivers()
    _, sub = helpers.create_person(app)
    client_id, _ = helpers.create_client(app, backchannel_logout_uri=uri.format(port=recv.port))
    with app.app_context():
        db.session.add(LogoutNotice(client_id=client_id, sid="s" * 32, sub=sub, next_attempt_at=utcnow()))
        db.session.commit()
    assert deliver(app) == {"pending": 1}
    assert recv.received == [] and notices(app)[0].last_error.startswith("refused")


def test_disabled_or_deleted_client_gets_nothing(app, make_rp, receivers) -> None:
    recv = receivers()
    rp = make_rp(backchannel_logout_uri=recv.url)
    logout(rp, rp.tokens()["id_token"])
    result = app.test_cli_runner().invoke(args=["clients", "disable", rp.client_id])
    assert result.exit_code == 0, result.output
    assert deliver(app) == {"pending": 1}
    assert recv.received == [] and notices(app)[0].last_error == "client unknown or disabled"


def test_background_thread_delivers_without_keeping_the_person_waiting(oauth_app, receivers) -> None:
    app = oauth_app(JWKS_URI_ALLOW_LOOPBACK=True, BACKCHANNEL_WORKER=True)
    recv = receivers(delay=2)  # a slow application
    person_id, sub = helpers.create_person(app)
    client_id, secret = helpers.create_client(app, first_party=True, backchannel_logout_uri=recv.url)
    from .conftest import RP

    rp = RP(app=app, browser=app.test_client(), client_id=client_id, secret=secret, person_id=person_id,
            sub=sub)
    rp.sign_in()
    id_token = rp.tokens()["id_token"]
    began = time.monotonic()
    logout(rp, id_token)
    assert time.monotonic() - began < 1.5  # the person does not wait for the application
    deadline = time.monotonic() + 15
    while (not notices(app) or notices(app)[0].status != "delivered") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert notices(app)[0].status == "delivered" and len(recv.received) == 1
    check_logout_token(app, recv.tokens()[0], aud=client_id, sid=verify(app, id_token)[1]["sid"], sub=sub)


def test_cli_deliver_runs_one_pass(app, make_rp, receivers) -> None:
    recv = receivers()
    rp = make_rp(backchannel_logout_uri=recv.url)
    logout(rp, rp.tokens()["id_token"])
    runner = app.test_cli_runner()
    status = runner.invoke(args=["logout", "status"])
    assert status.exit_code == 0 and rp.client_id in status.output
    result = runner.invoke(args=["logout", "deliver"])
    assert result.exit_code == 0 and "delivered 1" in result.output
    assert len(recv.received) == 1
    assert "no pending or failed" in runner.invoke(args=["logout", "status"]).output


# --------------------------------------------------------------------------- discovery and metadata
def test_discovery_advertises_back_channel_logout(app) -> None:
    meta = app.test_client().get("/.well-known/openid-configuration").get_json()
    assert meta["backchannel_logout_supported"] is True
    assert meta["backchannel_logout_session_supported"] is True


@pytest.fixture
def strict_app(oauth_app: Callable[..., Flask]) -> Flask:
    """Production-like rules: no loopback switch."""
    return oauth_app(BACKCHANNEL_WORKER=False)


GOOD = {"client_name": "Dinas Contoh", "redirect_uris": ["https://rp.example.org/cb"],
        "token_endpoint_auth_method": "client_secret_basic"}

BAD_URIS = [
    "http://rp.example.org/bc", "https://rp.example.org/bc#frag", "https://*.example.org/bc",
    "javascript:alert(1)", "", " ", "/relative/bc", "ftp://rp.example.org/bc", "https://user:pw@rp.example.org/bc",
    "https://rp.example.org/b\x00c", "https://rp.example.org/b c", "https://" + "a" * 3000 + ".org/",
    "https://localhost/bc", "https://127.0.0.1/bc", "https://[::1]/bc", "https://10.1.2.3/bc",
    "https://192.168.0.1/bc", "https://169.254.169.254/latest/meta-data", "https://[fe80::1]/bc",
    "http://127.0.0.1:8080/bc", "https://rp.example.org:99999/bc", "' OR 1=1 --", 42, True,
    ["https://rp.example.org/bc"], {"uri": "https://rp.example.org/bc"},
]


def _register(app: Flask, metadata: dict[str, Any]) -> Any:
    with app.app_context():
        token = registration.initial_access_token(expires_in=3600, max_uses=1)
    return app.test_client().post("/register", json=metadata, headers={"Authorization": f"Bearer {token}"})


@pytest.mark.parametrize("uri", BAD_URIS)
def test_bad_backchannel_uri_is_refused(strict_app, uri) -> None:
    resp = _register(strict_app, {**GOOD, "backchannel_logout_uri": uri})
    assert resp.status_code == 400, resp.get_data(as_text=True)
    body = resp.get_json()
    assert body["error"] == "invalid_client_metadata" and "backchannel_logout_uri" in body["error_description"]


@pytest.mark.parametrize("value", ["true", 1, 0, "yes", [True], {"a": 1}])
def test_bad_session_required_is_refused(strict_app, value) -> None:
    resp = _register(strict_app, {**GOOD, "backchannel_logout_uri": "https://rp.example.org/bc",
                                  "backchannel_logout_session_required": value})
    assert resp.status_code == 400 and resp.get_json()["error"] == "invalid_client_metadata"


def test_session_required_without_uri_is_refused(strict_app) -> None:
    resp = _register(strict_app, {**GOOD, "backchannel_logout_session_required": True})
    assert resp.status_code == 400 and resp.get_json()["error"] == "invalid_client_metadata"


def test_registration_stores_and_returns_the_metadata(strict_app) -> None:
    resp = _register(strict_app, {**GOOD, "backchannel_logout_uri": "https://rp.example.org/bc?tenant=2",
                                  "backchannel_logout_session_required": True})
    assert resp.status_code == 201, resp.get_data(as_text=True)
    body = resp.get_json()
    assert body["backchannel_logout_uri"] == "https://rp.example.org/bc?tenant=2"
    assert body["backchannel_logout_session_required"] is True
    # RFC 7592 update: the new metadata replaces the old one, the URI included.
    update = {**GOOD, "client_id": body["client_id"], "backchannel_logout_uri": "https://rp.example.org/bc2"}
    resp = strict_app.test_client().put(f"/register/{body['client_id']}", json=update,
                                        headers={"Authorization": f"Bearer {body['registration_access_token']}"})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert resp.get_json()["backchannel_logout_uri"] == "https://rp.example.org/bc2"
    assert "backchannel_logout_session_required" not in resp.get_json()
    bad = {**update, "backchannel_logout_uri": "http://rp.example.org/bc"}
    token = resp.get_json()["registration_access_token"]
    resp = strict_app.test_client().put(f"/register/{body['client_id']}", json=bad,
                                        headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 400 and resp.get_json()["error"] == "invalid_client_metadata"


def test_loopback_http_uri_only_with_the_test_switch(oauth_app) -> None:
    allowed = oauth_app(JWKS_URI_ALLOW_LOOPBACK=True, BACKCHANNEL_WORKER=False)
    resp = _register(allowed, {**GOOD, "backchannel_logout_uri": "http://127.0.0.1:8080/bc"})
    assert resp.status_code == 201, resp.get_data(as_text=True)
    production = oauth_app(JWKS_URI_ALLOW_LOOPBACK=True, BACKCHANNEL_WORKER=False, ENV="production",
                           ISSUER="https://sso.example.org", SECRET_KEY="s" * 40,
                           HASH_KEY=base64.urlsafe_b64encode(b"h" * 32).decode())
    resp = _register(production, {**GOOD, "backchannel_logout_uri": "http://127.0.0.1:8080/bc"})
    assert resp.status_code == 400


# --------------------------------------------------------------------------- the queue under concurrency
@pytest.mark.parametrize("backend", ["postgres", "sqlite"])
def test_concurrent_passes_send_each_notice_once(oauth_app, receivers, backend) -> None:
    """Several workers (threads here; processes and nodes alike) claim disjoint rows: SKIP LOCKED on
    PostgreSQL, compare-and-set on SQLite."""
    app = oauth_app(backend=backend, JWKS_URI_ALLOW_LOOPBACK=True, BACKCHANNEL_WORKER=False)
    recv = receivers(delay=0.02)
    _, sub = helpers.create_person(app)
    client_id, _ = helpers.create_client(app, backchannel_logout_uri=recv.url)
    with app.app_context():
        for i in range(40):
            db.session.add(LogoutNotice(client_id=client_id, sid=f"sid-{i:03d}", sub=sub, next_attempt_at=utcnow()))
        db.session.commit()
    results: list[dict[str, int]] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            results.append(deliver(app))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert sum(r.get("delivered", 0) for r in results) == 40
    sids = sorted(verify(app, token)[1]["sid"] for token in recv.tokens())
    assert sids == [f"sid-{i:03d}" for i in range(40)]  # every notice exactly once
    assert {r.status for r in notices(app)} == {"delivered"}


def test_a_crashed_claim_is_retried_after_its_lease(app, make_rp, receivers) -> None:
    """A process that dies after claiming leaves the row pending; a later pass sends it (restart safe)."""
    recv = receivers()
    rp = make_rp(backchannel_logout_uri=recv.url)
    logout(rp, rp.tokens()["id_token"])
    t0 = utcnow()
    with app.app_context():
        assert len(backchannel._claim(t0, 10)) == 1  # claimed, then "crashed" before sending
    assert deliver(app, t0) == {}  # leased: nobody else takes it yet
    assert deliver(app, t0 + dt.timedelta(minutes=2)) == {"delivered": 1}
    assert len(recv.received) == 1
