"""gunicorn with the in-process store: refused with several workers, serves with one."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from idp.store.memory import MULTI_PROCESS_MESSAGE
from tests import services

GUNICORN = str(Path(sys.executable).parent / "gunicorn")


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IDP_")}
    env["IDP_INSTANCE_DIR"] = str(tmp_path / "instance")
    return env


def _start(tmp_path: Path, workers: int, port: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [GUNICORN, "-w", str(workers), "-b", f"127.0.0.1:{port}", "--timeout", "10",
         "idp:create_app()"],
        env=_env(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )


def test_two_workers_refused(tmp_path: Path) -> None:
    proc = _start(tmp_path, 2, services.free_port())
    try:
        out, _ = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode != 0
    assert MULTI_PROCESS_MESSAGE[:60] in out


def test_one_worker_serves(tmp_path: Path) -> None:
    port = services.free_port()
    proc = _start(tmp_path, 1, port)
    try:
        services.wait_healthy(port, proc, timeout=20)
    finally:
        proc.terminate()
        proc.communicate(timeout=10)


IDP = str(Path(sys.executable).parent / "idp")


@pytest.mark.parametrize(("args", "expected"), [
    (["--workers", "2"], "need a shared store: set IDP_REDIS_URL"),
    (["--bind", "nonsense"], "expected HOST:PORT"),
    (["--bind", "127.0.0.1:99999"], "expected HOST:PORT"),
    (["--workers", "0"], "--workers"),
    (["--threads", "x"], "--threads"),
])
def test_idp_serve_refuses_bad_settings_in_one_line(tmp_path: Path, args: list[str], expected: str) -> None:
    """`idp serve` with settings it cannot serve with: exit 2 and one clear message, no traceback."""
    result = subprocess.run([IDP, "serve", *args], env=_env(tmp_path), capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert expected in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_idp_serve_one_worker_with_the_embedded_store(tmp_path: Path) -> None:
    """`idp serve --workers 1` serves beside nothing else (the embedded store, as `make run`)."""
    port = services.free_port()
    proc = subprocess.Popen([IDP, "serve", "--workers", "1", "--bind", f"127.0.0.1:{port}"], env=_env(tmp_path),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        services.wait_healthy(port, proc, timeout=30)
    finally:
        proc.terminate()
        proc.communicate(timeout=30)  # also closes the pipe


def test_idp_serve_refuses_settings_the_workers_would_refuse(tmp_path: Path) -> None:
    """Production without its secrets: `idp serve` says so in one line before any worker starts."""
    env = {**_env(tmp_path), "IDP_ENV": "production", "IDP_ISSUER": "https://sso.example.org"}
    result = subprocess.run([IDP, "serve", "--workers", "1"], env=env, capture_output=True, text=True, timeout=30)
    assert result.returncode == 1
    assert result.stderr.startswith("Error: IDP_") and "required when IDP_ENV=production" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
