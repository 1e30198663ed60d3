"""The benchmark harness still works: ``bench/run.py --quick`` (one second per workload) against the
real services, gunicorn and wrk, writing its Markdown and JSON results into a temporary folder.

This is a smoke test of the harness, not a measurement: it checks that every workload completes
requests without errors and that the report has its columns, never how fast anything is.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import redis as redis_lib
import requests

from . import services

ROOT = Path(__file__).resolve().parents[1]
RUN = ROOT / "bench" / "run.py"
MEASURED = ("discovery", "jwks", "client_credentials", "client_credentials_jwt_rs256",
            "client_credentials_jwt_es256", "refresh", "userinfo", "introspection", "citizen_signin",
            "staff_signin")

# The floor (bench/ceiling_app.py: Flask + Authlib alone) runs beside every workload it bounds.
FLOORS = {"client_credentials": "floor_client_credentials",
          "client_credentials_jwt_rs256": "floor_client_credentials_jwt_rs256",
          "client_credentials_jwt_es256": "floor_client_credentials_jwt_es256",
          "userinfo": "floor_userinfo", "introspection": "floor_introspection"}
ROWS = ("discovery", "jwks", "client_credentials", "client_credentials_jwt_rs256", "client_credentials_jwt_es256",
        "floor_client_credentials", "floor_client_credentials_jwt_rs256", "floor_client_credentials_jwt_es256",
        "refresh", "userinfo", "floor_userinfo", "introspection", "floor_introspection", "citizen_signin",
        "staff_signin")

PEER_SERVES = ("discovery", "jwks", "client_credentials", "client_credentials_jwt_rs256",
               "client_credentials_jwt_es256", "introspection")

needs_wrk = pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed (make bench installs "
                                                                     "it; apt-get install wrk)")


def run_bench(*args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(RUN), *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=timeout, env=services.clean_environ())


@needs_wrk
def test_quick_run_measures_every_workload(tmp_path):
    result = run_bench("--quick", "--only", ",".join(MEASURED), "--out", str(tmp_path))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    data = json.loads((tmp_path / "latest.json").read_text())
    rows = {row["name"]: row for row in data["rows"]}
    assert list(rows) == ["ceiling", *ROWS]
    for name, row in rows.items():
        assert row["errors"] == 0, (name, row["extra"])
        assert row["count"] > 0 and row["per_cpu"] > 0 and row["provider_cpu_s"] > 0, (name, row)
        assert 0 < row["p50_ms"] <= row["p99_ms"], (name, row)
        assert row["worker_rss_mib"] > 10, (name, row)
    assert data["ceiling_per_cpu"] > 0
    assert rows["citizen_signin"]["unit"] == "flow"
    assert data["redis_session"]["bytes_per_session"] > 0
    table = (tmp_path / "latest.md").read_text()
    assert ("| Workload | Unit | Rate /s | p50 ms | p99 ms | Errors | Provider CPU-s | Per CPU-s | x ceiling "
            "| x peer | Target (same run) | Ratio | Met | Per CPU-s incl. services") in table
    for name in rows:
        assert f"| {name} |" in table
    # The peer (node-oidc-provider) ran before and after, without errors, on every workload it serves.
    peer = data["peer"]
    assert peer["software"] == "node-oidc-provider" and peer["version"].startswith("9.")
    assert set(peer["runs"]) == set(PEER_SERVES)
    for name, summary in peer["runs"].items():
        assert [r["extra"]["pass"] for r in summary["runs"]][:2] == ["before", "after"], name
        for run in summary["runs"]:
            assert run["errors"] == 0 and run["count"] > 0 and run["per_cpu"] > 0, (name, run)
        assert summary["per_cpu"] > 0 and data["x_peer"][name]["per_cpu"] > 0
    assert "## The peer, same run" in table
    # Every target of issue 20 is judged against a reference measured in this run.
    targets = {t["workload"]: t for t in data["targets"]}
    assert set(targets) == set(MEASURED)
    assert all(t["reference_per_cpu"] and t["met"] in (True, False) for t in targets.values()), targets
    # Each target with a floor says what the floor reaches against the same reference.
    for name, floor in FLOORS.items():
        assert targets[name]["floor_per_cpu"] == rows[floor]["per_cpu"] > 0, (name, targets[name])
        assert targets[name]["floor_ratio"] > 0 and targets[name]["floor_reaches"] in (True, False)
    assert all(data["x_peer"][FLOORS[name]]["per_cpu"] > 0 for name in PEER_SERVES if name in FLOORS)
    assert "## The floor: Flask and Authlib's grant machinery alone, same server, same run" in table
    # The two targets without a floor row are bounded by the floor's rows of the same run.
    bounds = data["floor_bounds"]
    assert 0 < bounds["refresh"]["bound"] < 1 and bounds["refresh"]["reachable"] in (True, False)
    assert bounds["staff_signin"]["budget_ms"] > 0 and bounds["staff_signin"]["floor_token_ms"] > 0
    assert bounds["staff_signin"]["slapd_ms"] > 0 and bounds["staff_signin"]["ldap_client_ms"] > 0
    assert bounds["staff_signin"]["least_ms"] > bounds["staff_signin"]["floor_token_ms"]
    assert "Targets bounded by the floor's rows:" in table
    assert data["argon2_reference"]["per_cpu"] > 0
    assert set(rows["staff_signin"]["services"]) == {"postgresql", "redis", "slapd"}
    # The harness never writes the committed results during the smoke run.
    assert "quick smoke run" in table


@pytest.mark.parametrize("only", [
    "nonsense",
    "discovery,nonsense",
    "discovery;rm -rf /",
    "../../etc/passwd",
    "jwks,\x00",
    "x" * 5000,
])
def test_unknown_workloads_are_refused_before_anything_starts(only, tmp_path):
    """A usage error (exit 2) naming the known workloads; no service is started, nothing is written."""
    result = run_bench("--quick", "--only", only.replace("\x00", "\\0"), "--out", str(tmp_path), timeout=60)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "unknown workload" in result.stderr and "citizen_signin" in result.stderr
    assert "Traceback" not in result.stderr
    assert "starting PostgreSQL" not in result.stdout
    assert not list(tmp_path.iterdir())


@needs_wrk
def test_without_node_the_harness_stops_with_one_clear_line(tmp_path):
    """The peer is part of every run: with no ``node`` on the PATH the harness says so in one line (and how
    to fix it) before starting anything."""
    only_wrk = tmp_path / "bin"
    only_wrk.mkdir()
    (only_wrk / "wrk").symlink_to(shutil.which("wrk") or "wrk")
    result = subprocess.run([sys.executable, str(RUN), "--quick", "--out", str(tmp_path / "out")],
                            capture_output=True, text=True, cwd=ROOT, timeout=60, env={"PATH": str(only_wrk)})
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stderr.strip().count("\n") == 0, result.stderr
    assert "node and npm not found" in result.stderr and "--no-peer" in result.stderr
    assert "starting PostgreSQL" not in result.stdout
    assert not (tmp_path / "out").exists()


def test_peer_alone_issues_tokens(tmp_path):
    """The peer starts from the lock file and answers as configured: an opaque client-credentials token
    kept in Redis (introspection finds it active), and RFC 9068 JWT access tokens signed RS256 and ES256."""
    sys.path.insert(0, str(ROOT))
    from bench import peer_oidc

    assert peer_oidc.check_node() is None
    peer_oidc.install()
    redis_svc = services.start_redis()
    clients = [{"client_id": f"bench-{fmt}-{alg}", "client_secret": "s3cret-" + alg, "format": fmt, "alg": alg}
               for fmt, alg in (("opaque", ""), ("jwt", "RS256"), ("jwt", "ES256"))]
    try:
        peer = peer_oidc.start(services.free_port(), redis_svc.url.rsplit("/", 1)[0] + "/1", clients,
                               tmp_path / "peer.log")
        try:
            tokens = {c["alg"]: peer_oidc.client_credentials(peer, c["client_id"], c["client_secret"])
                      for c in clients}
            opaque = tokens[""]["access_token"]
            assert opaque.count(".") == 0 and tokens[""]["token_type"] == "Bearer"
            for alg in ("RS256", "ES256"):
                header = json.loads(base64.urlsafe_b64decode(tokens[alg]["access_token"].split(".")[0] + "=="))
                assert header["alg"] == alg and header["typ"] == "at+jwt"
            answer = requests.post(peer.url + "/token/introspection", data={"token": opaque},
                                   auth=(clients[0]["client_id"], clients[0]["client_secret"]), timeout=10).json()
            assert answer["active"] is True and answer["client_id"] == clients[0]["client_id"]
            wrong = requests.post(peer.url + "/token", data={"grant_type": "client_credentials"},
                                  auth=(clients[0]["client_id"], "wrong"), timeout=10)
            assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"
            conn = redis_lib.Redis.from_url(redis_svc.url.rsplit("/", 1)[0] + "/1")
            assert conn.exists(f"peer:ClientCredentials:{opaque}")
            conn.close()
        finally:
            peer.stop()
    finally:
        redis_svc.stop()


def test_scale_harness_runs_small(tmp_path):
    """``bench/scale.py`` with two tiny sizes: the loader, the sign-ins and the report work."""
    result = subprocess.run([sys.executable, str(ROOT / "bench" / "scale.py"), "--sizes", "2000,6000",
                             "--signins", "3", "--workers", "1", "--out", str(tmp_path)],
                            capture_output=True, text=True, cwd=ROOT, timeout=240, env=services.clean_environ())
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    data = json.loads((tmp_path / "scale.json").read_text())
    assert [row["accounts"] for row in data["rows"]] == [2000, 6000]
    assert all(row["count"] == 3 and row["p50_ms"] > 0 for row in data["rows"])
    assert "| 6,000 |" in (tmp_path / "scale.md").read_text()
