"""The benchmark harness still works: ``bench/run.py --quick`` (one second per workload) against the
real services, gunicorn and wrk, writing its Markdown and JSON results into a temporary folder.

This is a smoke test of the harness, not a measurement: it checks that every workload completes
requests without errors and that the report has its columns, never how fast anything is.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from . import services

ROOT = Path(__file__).resolve().parents[1]
RUN = ROOT / "bench" / "run.py"
MEASURED = ("discovery", "jwks", "client_credentials", "client_credentials_jwt_rs256",
            "client_credentials_jwt_es256", "refresh", "userinfo", "introspection", "citizen_signin",
            "staff_signin")

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
    assert list(rows) == ["ceiling", *MEASURED]
    for name, row in rows.items():
        assert row["errors"] == 0, (name, row["extra"])
        assert row["count"] > 0 and row["per_cpu"] > 0 and row["provider_cpu_s"] > 0, (name, row)
        assert 0 < row["p50_ms"] <= row["p99_ms"], (name, row)
        assert row["worker_rss_mib"] > 10, (name, row)
    assert data["ceiling_per_cpu"] > 0
    assert rows["citizen_signin"]["unit"] == "flow"
    assert data["redis_session"]["bytes_per_session"] > 0
    table = (tmp_path / "latest.md").read_text()
    assert "| Workload | Unit | Rate /s | p50 ms | p99 ms | Errors | Provider CPU-s | Per CPU-s | x ceiling" in table
    for name in rows:
        assert f"| {name} |" in table
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
