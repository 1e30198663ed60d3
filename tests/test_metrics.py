"""/metrics: counters move with sign-ins and tokens, only allowed networks read them, and several gunicorn
workers (multi-process mode, gunicorn.conf.py) add up to one set of values."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil
import requests
from flask import Flask
from prometheus_client.parser import text_string_to_metric_families

from tests import services
from tests.citizen.helpers import make_nik, sign_in
from tests.oauth import helpers
from tests.oauth.conftest import TEST_DATA_KEY, oauth_app  # noqa: F401 - fixture

ROOT = Path(__file__).resolve().parent.parent
GUNICORN = str(Path(sys.executable).parent / "gunicorn")
MACHINE = {"grant_types": ["client_credentials"], "response_types": [], "scope": "openid profile"}


def sample(text: str, name: str, **labels: str) -> float:
    """The value of the sample ``name`` with exactly ``labels`` (0 when absent)."""
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and s.labels == labels:
                return float(s.value)
    return 0.0


def scrape(app: Flask) -> str:
    resp = app.test_client().get("/metrics")
    assert resp.status_code == 200
    assert resp.content_type.startswith("text/plain; version=0.0.4")
    return resp.get_data(as_text=True)


def test_counters_move_with_a_failed_sign_in_and_a_token(oauth_app: Callable[..., Flask]) -> None:  # noqa: F811
    app = oauth_app()
    before = scrape(app)

    browser = app.test_client()
    assert sign_in(browser, make_nik(), "not the password").status_code == 401
    cid, secret = helpers.create_client(app, **MACHINE)
    assert secret
    resp = browser.post("/token", data={"grant_type": "client_credentials"}, headers=helpers.basic(cid, secret))
    assert resp.status_code == 200, resp.get_json()
    # A refused token request is no token issued.
    assert browser.post("/token", data={"grant_type": "client_credentials"},
                        headers=helpers.basic(cid, "wrong")).status_code == 401

    after = scrape(app)

    def moved(name: str, **labels: str) -> float:
        return sample(after, name, **labels) - sample(before, name, **labels)

    assert moved("idp_sign_ins_total", source="citizen", result="failure") == 1
    assert moved("idp_sign_ins_total", source="citizen", result="success") == 0
    assert moved("idp_tokens_issued_total", grant_type="client_credentials") == 1
    # Latency and responses are labelled by Flask endpoint (never the raw path).
    assert moved("idp_http_request_duration_seconds_count", endpoint="oauth.token") == 2
    assert moved("idp_http_responses_total", endpoint="oauth.token", status_class="2xx") == 1
    assert moved("idp_http_responses_total", endpoint="oauth.token", status_class="4xx") == 1
    assert moved("idp_http_responses_total", endpoint="auth.login", status_class="4xx") == 1
    # Every fixed series exists from the start, at zero if nothing happened.
    assert "idp_backchannel_deliveries_total" in after and "idp_dependency_errors_total" in after


def test_unrouted_paths_share_one_label(oauth_app: Callable[..., Flask]) -> None:  # noqa: F811
    app = oauth_app()
    client = app.test_client()
    for i in range(3):
        assert client.get(f"/no-such-page-{i}").status_code == 404
    text = scrape(app)
    assert "no-such-page" not in text
    assert sample(text, "idp_http_responses_total", endpoint="none", status_class="4xx") >= 3


def test_only_allowed_networks_read_metrics(oauth_app: Callable[..., Flask]) -> None:  # noqa: F811
    app = oauth_app(METRICS_ALLOW=["10.1.0.0/16", "2001:db8::/32"], TRUSTED_PROXIES=1)
    client = app.test_client()
    proxy = {"REMOTE_ADDR": "127.0.0.1"}
    # The client address is the one the trusted proxy reports (X-Forwarded-For, via ProxyFix).
    outside = client.get("/metrics", environ_base=proxy, headers={"X-Forwarded-For": "203.0.113.9"})
    assert outside.status_code == 404
    assert b"idp_" not in outside.data
    inside = client.get("/metrics", environ_base=proxy, headers={"X-Forwarded-For": "10.1.2.3"})
    assert inside.status_code == 200 and b"idp_sign_ins_total" in inside.data
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "2001:db8::5"}).status_code == 200
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "192.168.1.1"}).status_code == 404
    # The format follows Accept (OpenMetrics for scrapers that ask); a garbled one gets the plain format.
    allowed = {"REMOTE_ADDR": "10.1.0.1"}
    om = client.get("/metrics", environ_base=allowed, headers={"Accept": "application/openmetrics-text"})
    assert om.content_type.startswith("application/openmetrics-text") and om.data.endswith(b"# EOF\n")
    for accept in ("text/plain;version=x.y", "application/openmetrics-text; version=zz", "\u00e9;;;"):
        odd = client.get("/metrics", environ_base=allowed, headers={"Accept": accept})
        assert odd.status_code == 200 and odd.content_type.startswith("text/plain"), accept

    direct = oauth_app(METRICS_ALLOW=["10.1.0.0/16"]).test_client()  # no proxy trusted: the peer counts
    assert direct.get("/metrics", environ_base={"REMOTE_ADDR": "127.0.0.1"},
                      headers={"X-Forwarded-For": "10.1.2.3"}).status_code == 404
    assert direct.get("/metrics", environ_base={"REMOTE_ADDR": "10.1.0.7"}).status_code == 200


def _workers(master: subprocess.Popen[bytes]) -> set[int]:
    return {p.pid for p in psutil.Process(master.pid).children()}


def _server_env(app: Flask, postgres_url: str, redis_url: str, metrics_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of a production server for ``app``'s instance (none of this shell's IDP_ settings),
    with the metrics folder prepared holding a stale file of an earlier run (to be emptied at start)."""
    metrics_dir.mkdir()
    (metrics_dir / "counter_1.db").write_bytes(b"stale file of an earlier run")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IDP_", "PROMETHEUS_", "WEB_CONCURRENCY"))}
    env.update(IDP_INSTANCE_DIR=str(app.extensions["idp"].config["INSTANCE_DIR"]), IDP_DATABASE_URL=postgres_url,
               IDP_REDIS_URL=redis_url, IDP_ISSUER="http://localhost", IDP_DATA_KEYS=TEST_DATA_KEY,
               IDP_BACKCHANNEL_WORKER="false", IDP_LOG_FORMAT="json", IDP_LOG_LEVEL="INFO",
               PROMETHEUS_MULTIPROC_DIR=str(metrics_dir), **extra)
    return env


def _tokens(url: str, cid: str, secret: str, count: int) -> set[int]:
    """The statuses of ``count`` client-credentials token requests sent 8 at a time."""
    def token(_: int) -> int:
        return requests.post(f"{url}/token", data={"grant_type": "client_credentials"}, auth=(cid, secret),
                             timeout=20).status_code

    with ThreadPoolExecutor(8) as pool:
        return set(pool.map(token, range(count)))


def test_gunicorn_workers_add_up(oauth_app: Callable[..., Flask], redis_url: str, postgres_url: str,  # noqa: F811
                                 tmp_path: Path) -> None:
    """Two gthread workers from gunicorn.conf.py; tokens served by both, then by their replacements
    after a graceful restart (HUP): /metrics, from any worker, counts every token once."""
    app = oauth_app()
    cid, secret = helpers.create_client(app, **MACHINE)
    assert secret
    port = services.free_port()
    metrics_dir = tmp_path / "metrics"
    env = _server_env(app, postgres_url, redis_url, metrics_dir, WEB_CONCURRENCY="2", GUNICORN_THREADS="4",
                      GUNICORN_BIND=f"127.0.0.1:{port}")
    log_path = tmp_path / "gunicorn.log"
    url = f"http://127.0.0.1:{port}"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([GUNICORN, "-c", str(ROOT / "gunicorn.conf.py"),
                                 "--control-socket", str(tmp_path / "gunicorn.ctl"), "idp:create_app()"],
                                env=env, stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path)
    try:
        services.wait_port(port, timeout=30, proc=proc)
        deadline = time.monotonic() + 30
        while len(_workers(proc)) < 2:
            assert time.monotonic() < deadline, "two workers did not start"
            time.sleep(0.1)
        first = _workers(proc)
        assert _tokens(url, cid, secret, 16) == {200}

        proc.send_signal(signal.SIGHUP)  # graceful restart: new worker processes, the old ones exit
        deadline = time.monotonic() + 30
        while not (len(_workers(proc)) == 2 and not _workers(proc) & first):
            assert time.monotonic() < deadline, "the workers were not replaced"
            time.sleep(0.1)
        services.wait_port(port, timeout=10, proc=proc)
        assert _tokens(url, cid, secret, 8) == {200}

        for _ in range(4):  # whichever worker answers
            text = requests.get(f"{url}/metrics", timeout=10).text
            assert sample(text, "idp_tokens_issued_total", grant_type="client_credentials") == 24
            assert sample(text, "idp_http_responses_total", endpoint="oauth.token", status_class="2xx") == 24
        assert not (metrics_dir / "counter_1.db").exists()
        # Every worker, including the two that exited, left its own files.
        pids = {int(p.stem.rsplit("_", 1)[1]) for p in metrics_dir.glob("counter_*.db")}
        assert first < pids and len(pids) >= 4
    finally:
        services.stop_process(proc)

    # JSON logs: gunicorn's own lines and the app's access lines, one object per line, with the request id.
    lines = [json.loads(line) for line in log_path.read_text().splitlines() if line.startswith("{")]
    assert any(e["logger"] == "gunicorn.error" and "Booting worker" in e["message"] for e in lines)
    access = [e for e in lines if e["logger"] == "idp.access" and e.get("endpoint") == "oauth.token"]
    assert len(access) == 24
    assert all(len(e["request_id"]) == 32 and e["status"] == 200 and e["path"] == "/token" for e in access)
    assert "gunicorn.access" not in log_path.read_text()


def test_idp_serve_workers_add_up(oauth_app: Callable[..., Flask], redis_url: str, postgres_url: str,  # noqa: F811
                                  tmp_path: Path) -> None:
    """`idp serve` (Granian, two workers): tokens served by both, then one worker killed (-9) and replaced:
    /metrics, from any worker, counts every token once, the dead worker's included; JSON log lines."""
    app = oauth_app()
    cid, secret = helpers.create_client(app, **MACHINE)
    assert secret
    port = services.free_port()
    metrics_dir = tmp_path / "metrics"
    env = _server_env(app, postgres_url, redis_url, metrics_dir, IDP_SERVE_BIND=f"127.0.0.1:{port}")
    log_path = tmp_path / "serve.log"
    url = f"http://127.0.0.1:{port}"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([str(Path(sys.executable).parent / "idp"), "serve", "--workers", "2"],
                                env=env, stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path)
    try:
        services.wait_port(port, timeout=30, proc=proc)

        def started(count: int) -> None:
            """Wait until Granian has said "Started worker-N" ``count`` times (a worker listens once its
            app is built)."""
            deadline = time.monotonic() + 30
            while log_path.read_text().count('"Started worker-') < count:
                assert time.monotonic() < deadline, "the workers did not start"
                time.sleep(0.1)

        started(2)
        first = _workers(proc)
        assert len(first) == 2
        assert _tokens(url, cid, secret, 16) == {200}

        os.kill(min(first), signal.SIGKILL)  # a worker dies mid-life: it is replaced, its counts stay
        started(3)
        assert len(_workers(proc)) == 2 and _workers(proc) != first
        assert _tokens(url, cid, secret, 8) == {200}
        served = 24

        for _ in range(4):  # whichever worker answers
            text = requests.get(f"{url}/metrics", timeout=10).text
            assert sample(text, "idp_tokens_issued_total", grant_type="client_credentials") == served
        assert not (metrics_dir / "counter_1.db").exists()
        pids = {int(p.stem.rsplit("_", 1)[1]) for p in metrics_dir.glob("counter_*.db")}
        assert first < pids and len(pids) >= 3  # both first workers' files, and the replacement's
    finally:
        services.stop_process(proc)

    # JSON logs: Granian's own lines and the app's access lines, one object per line, with the request id.
    lines = [json.loads(line) for line in log_path.read_text().splitlines() if line.startswith("{")]
    assert any(e["logger"] == "_granian" for e in lines)
    access = [e for e in lines if e["logger"] == "idp.access" and e.get("endpoint") == "oauth.token"]
    assert len(access) == served
    assert all(len(e["request_id"]) == 32 and e["status"] == 200 and e["path"] == "/token" for e in access)
