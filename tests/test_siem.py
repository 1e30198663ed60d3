"""The SIEM sink (idp.siem): audit events read back from a real syslog listener (UDP and TCP sockets
started here) and a real HTTP collector, through sign-ins driven over HTTP."""

from __future__ import annotations

import http.server
import json
import re
import socketserver
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask

from idp import audit, siem
from idp.config import ConfigError, load
from idp.extensions import db
from tests.citizen.helpers import register_and_verify, sign_in
from tests.helpers import choose_english, english

SYSLOG = re.compile(rb"<(\d+)>1 (\S+) (\S+) idp (\d+) (\S+) - (\{.*\})\Z", re.S)
FIELDS = {"schema", "event", "time", "outcome", "actor", "subject", "client", "ip", "user_agent", "request_id",
          "security", "pattern", "detail"}


class Collected:
    """What a test listener received: raw messages, and their JSON events."""

    def __init__(self) -> None:
        self.raw: list[bytes] = []
        self.lock = threading.Lock()

    def add(self, data: bytes) -> None:
        with self.lock:
            self.raw.append(data)

    def events(self) -> list[dict[str, Any]]:
        out = []
        with self.lock:
            for message in self.raw:
                found = SYSLOG.match(message)
                assert found, message[:300]
                pri, _, _, _, msgid, body = found.groups()
                item = json.loads(body)
                assert msgid.decode() == item["event"][:32]
                # authpriv (10); warning (4) for security-relevant events, informational (6) otherwise.
                assert int(pri) == 10 * 8 + (4 if item["security"] else 6)
                out.append(item)
        return out


@pytest.fixture
def udp_listener() -> Iterator[tuple[str, Collected]]:
    got = Collected()

    class Handler(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            got.add(self.request[0])

    server = socketserver.ThreadingUDPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"syslog+udp://127.0.0.1:{server.server_address[1]}", got
    server.shutdown()
    server.server_close()


@pytest.fixture
def tcp_listener() -> Iterator[tuple[str, Collected]]:
    got = Collected()

    class Handler(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            while True:  # RFC 6587 3.4.1 octet counting: MSG-LEN SP SYSLOG-MSG
                length = b""
                while not length.endswith(b" "):
                    char = self.rfile.read(1)
                    if not char:
                        return
                    length += char
                got.add(self.rfile.read(int(length)))

    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"syslog+tcp://127.0.0.1:{server.server_address[1]}", got
    server.shutdown()
    server.server_close()


class Collector:
    """A real HTTP collector: fails the first ``fail`` POSTs with 503, then keeps the NDJSON lines."""

    def __init__(self, fail: int = 0, delay: float = 0.0) -> None:
        self.fail = fail
        self.delay = delay
        self.posts = 0
        self.lines: list[dict[str, Any]] = []
        self.auth: list[str | None] = []


@pytest.fixture
def collector() -> Iterator[Callable[..., tuple[str, Collector]]]:
    servers: list[http.server.ThreadingHTTPServer] = []

    def start(**kwargs: Any) -> tuple[str, Collector]:
        state = Collector(**kwargs)

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the http.server hook's name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                time.sleep(state.delay)
                state.posts += 1
                state.auth.append(self.headers.get("Authorization"))
                if state.posts <= state.fail:
                    self.send_response(503)
                    self.end_headers()
                    return
                assert self.headers["Content-Type"] == "application/x-ndjson"
                state.lines.extend(json.loads(line) for line in body.decode().splitlines())
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        servers.append(server)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{server.server_address[1]}/ingest", state

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def drain(app: Flask) -> None:
    assert siem.sink(app).flush(10), "the sink did not drain"


def wait_for(check: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_sign_ins_reach_a_udp_syslog_listener_with_the_schema_and_no_nik(
        make_app: Callable[..., Flask], udp_listener: tuple[str, Collected]) -> None:
    url, got = udp_listener
    app = make_app(SIEM_SINK=url, SIEM_BURST_THRESHOLD=3)
    browser = choose_english(app.test_client())
    browser.environ_base.update(HTTP_USER_AGENT="siem-test/1.0", REMOTE_ADDR="198.51.100.7")
    citizen = register_and_verify(browser)
    for _ in range(3):
        assert sign_in(browser, citizen.nik, "not the password at all").status_code == 401
    assert sign_in(browser, citizen).status_code == 303
    drain(app)
    wait_for(lambda: sum(1 for e in got.events() if e["event"] == "login") == 4)
    events = got.events()

    nik = citizen.nik.encode()
    assert all(nik not in raw and nik[:12] not in raw for raw in got.raw), "a NIK reached the SIEM"
    for item in events:
        assert set(item) == FIELDS
        assert item["schema"] == "idp.audit/1"
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", item["time"])
        assert re.fullmatch(r"[0-9a-f]{32}", item["request_id"] or "")
    logins = [e for e in events if e["event"] == "login"]
    # The sign-ins came from this browser (the e-mail link was opened in another one, whose events carry
    # that browser's address: register_and_verify).
    for item in logins:
        assert item["ip"] == "198.51.100.7"
        assert item["user_agent"] == "siem-test/1.0"
    failures = [e for e in logins if e["outcome"] == "failure"]
    assert len(failures) == 3
    # The third failure on one account within the window is the burst, marked for the security team.
    assert [e["security"] for e in failures] == [False, False, True]
    assert failures[2]["pattern"] == "failed_sign_in_burst_account"
    success = [e for e in logins if e["outcome"] == "success"][0]
    assert success["actor"] == {"type": "person", "id": success["subject"]}
    # The subject is a keyed hash, the same for every event of the person, and not the person's number.
    assert re.fullmatch(r"[0-9a-f]{32}", success["subject"])
    assert {e["subject"] for e in failures} == {success["subject"]}
    assert success["detail"]["source"] == "citizen"


def test_failed_sign_ins_from_one_ip_on_many_accounts_are_a_burst(
        make_app: Callable[..., Flask], tcp_listener: tuple[str, Collected]) -> None:
    """Password spraying: one address, a different (unknown) account each time, over TCP syslog."""
    url, got = tcp_listener
    app = make_app(SIEM_SINK=url, SIEM_BURST_THRESHOLD=4)
    browser = english(app, "203.0.113.9")
    for n in range(4):
        assert sign_in(browser, f"nobody{n}@example.org", "guess guess guess").status_code == 401
    drain(app)
    wait_for(lambda: len(got.events()) == 4)
    events = got.events()
    assert [e["pattern"] for e in events] == [None, None, None, "failed_sign_in_burst_ip"]
    assert all(e["subject"] is None and e["actor"]["type"] == "anonymous" for e in events)
    assert all(b"nobody" not in raw for raw in got.raw)  # the typed identifier is not shipped


def test_a_rolled_back_event_is_never_shipped(make_app: Callable[..., Flask],
                                              tcp_listener: tuple[str, Collected]) -> None:
    url, got = tcp_listener
    app = make_app(SIEM_SINK=url)
    with app.test_request_context("/"):
        audit.record("test.rolled_back", person_id=None)
        db.session.rollback()
        audit.record("test.kept", detail_nik="3603011205900001 and 3603-0112-0590-0002")
        db.session.commit()
    drain(app)
    wait_for(lambda: len(got.events()) >= 1)
    time.sleep(0.2)
    events = got.events()
    assert [e["event"] for e in events] == ["test.kept"]
    assert events[0]["detail"]["detail_nik"] == "3603********0001 and 3603***********0002"


def test_http_collector_gets_batches_with_retries_and_the_token(
        make_app: Callable[..., Flask], collector: Callable[..., tuple[str, Collector]]) -> None:
    url, state = collector(fail=2)
    app = make_app(SIEM_SINK=url, SIEM_HTTP_TOKEN="collector-secret-token", SIEM_RETRIES=3)
    browser = choose_english(app.test_client())
    citizen = register_and_verify(browser)
    assert sign_in(browser, citizen).status_code == 303
    drain(app)
    assert state.posts >= 3  # two 503s, then accepted
    assert set(state.auth) == {"Bearer collector-secret-token"}
    names = [e["event"] for e in state.lines]
    assert "citizen.register" in names and "login" in names
    assert all(citizen.nik not in json.dumps(e) for e in state.lines)


def test_a_full_queue_drops_the_oldest_and_counts_it(collector: Callable[..., tuple[str, Collector]]) -> None:
    url, state = collector(delay=0.3)
    sink = siem.Sink(url, queue_size=10, retries=0, timeout=5)
    before = siem._DROPPED["queue_full"]._value.get()
    started = time.monotonic()
    for n in range(60):
        sink.put({"event": f"e{n}", "n": n})
    assert time.monotonic() - started < 0.25  # put never waits for the collector
    assert len(sink.queue) <= 10
    assert sink.flush(15)
    dropped = siem._DROPPED["queue_full"]._value.get() - before
    assert dropped >= 40
    numbers = [e["n"] for e in state.lines]
    assert numbers[-1] == 59 and numbers == sorted(numbers)  # the newest kept, order preserved


def test_stdout_sink_writes_one_json_line_per_event(make_app: Callable[..., Flask],
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    app = make_app(SIEM_SINK="stdout")
    with app.test_request_context("/"):
        audit.record("admin.person_locked", person_id=7, admin=3, commit=True)
    drain(app)
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    item = [e for e in lines if e["event"] == "admin.person_locked"][0]
    assert item["security"] is True and item["pattern"] == "lock"
    assert item["actor"]["type"] == "admin" and item["actor"]["id"] != item["subject"]
    assert "admin" not in item["detail"]


@pytest.mark.parametrize("value", ["syslog://host:514", "ftp://host/x", "udp://1.2.3.4:514", "stdout2",
                                   "syslog+udp://", "https://"])
def test_a_bad_sink_stops_the_start(value: str, tmp_path: Any) -> None:
    with pytest.raises(ConfigError, match="IDP_SIEM_SINK"):
        load({"SIEM_SINK": value, "INSTANCE_DIR": str(tmp_path)}, environ={})


def test_no_sink_by_default(tmp_path: Any) -> None:
    assert load({"INSTANCE_DIR": str(tmp_path)}, environ={})["SIEM_SINK"] == ""


def test_a_key_rotation_from_the_cli_is_a_security_event(make_app: Callable[..., Flask],
                                                          udp_listener: tuple[str, Collected]) -> None:
    url, got = udp_listener
    app = make_app(SIEM_SINK=url)
    runner = app.test_cli_runner()
    assert runner.invoke(args=["keys", "ensure"]).exit_code == 0
    result = runner.invoke(args=["keys", "rotate", "--alg", "ES256"])
    assert result.exit_code == 0, result.output
    drain(app)
    wait_for(lambda: any(e["event"] == "keys.rotated" for e in got.events()))
    found = [e for e in got.events() if e["event"] == "keys.rotated"][0]
    assert found["security"] is True and found["pattern"] == "key_rotation"
    assert found["detail"]["operator"] == "cli" and found["request_id"] is None
