"""Start private instances of the real services the tests talk to, on free ports.

Each starter returns a handle with ``url`` and ``stop()``.  ``IDP_TEST_REDIS_URL`` and
``IDP_TEST_DATABASE_URL`` reuse servers that are already running instead.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


def ambient_settings(environ: dict[str, str] | os._Environ[str] | None = None) -> list[str]:
    """The provider settings (``IDP_*``, not the suite's own ``IDP_TEST_*``) present in ``environ``."""
    env = os.environ if environ is None else environ
    return sorted(k for k in env if k.startswith("IDP_") and not k.startswith("IDP_TEST_"))


def clean_environ() -> dict[str, str]:
    """``os.environ`` without provider settings: the base environment for every subprocess a test
    starts (a provider, the CLI, the benchmark), which then sets exactly the settings it needs."""
    dropped = set(ambient_settings())
    return {k: v for k, v in os.environ.items() if k not in dropped}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout: float = 20.0, proc: subprocess.Popen[Any] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


def wait_healthy(port: int, proc: subprocess.Popen[str], timeout: float = 30.0) -> None:
    """Wait until a provider on ``port`` answers ``/healthz`` with 200; fail with its output if it exits."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as resp:
                assert resp.status == 200
                return
        except OSError:
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            assert time.monotonic() < deadline
            time.sleep(0.2)


def stop_process(proc: subprocess.Popen[Any], timeout: float = 10) -> None:
    """Terminate a child process, killing it when it does not exit within ``timeout`` seconds."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


@dataclass
class Service:
    url: str
    port: int = 0
    proc: subprocess.Popen[Any] | None = None
    workdir: str | None = None
    stopper: Any = None
    extra: dict[str, Any] = field(default_factory=dict)

    def stop(self) -> None:
        if self.stopper:
            self.stopper()
        elif self.proc is not None:
            stop_process(self.proc)
        if self.workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)


def start_redis() -> Service:
    exe = shutil.which("redis-server") or "/usr/bin/redis-server"
    workdir = tempfile.mkdtemp(prefix="idp-redis-")
    port = free_port()
    proc = subprocess.Popen(
        [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--daemonize", "no", "--dir", workdir, "--logfile", os.path.join(workdir, "redis.log")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    wait_port(port, proc=proc)
    return Service(url=f"redis://127.0.0.1:{port}/0", port=port, proc=proc, workdir=workdir)


def _pg_bin(name: str) -> str:
    for root in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (root / name).exists():
            return str(root / name)
    found = shutil.which(name)
    if not found:
        raise RuntimeError(f"PostgreSQL's {name} not found: install the postgresql package")
    return found


def start_postgres() -> Service:
    workdir = tempfile.mkdtemp(prefix="idp-pg-")
    port = free_port()
    prefix: list[str] = []
    if os.geteuid() == 0:
        # initdb refuses to run as root: run the cluster as the postgres user.
        shutil.chown(workdir, "postgres", "postgres")
        prefix = ["/usr/sbin/runuser", "-u", "postgres", "--"]
    data = os.path.join(workdir, "data")
    subprocess.run(prefix + [_pg_bin("initdb"), "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8",
                             "--locale=C.UTF-8", "--no-sync"], check=True, capture_output=True)
    subprocess.run(prefix + [_pg_bin("pg_ctl"), "-D", data, "-l", os.path.join(workdir, "log"), "-w", "-o",
                             f"-p {port} -c listen_addresses=127.0.0.1 -k {workdir} -c fsync=off "
                             "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200",
                             "start"], check=True, capture_output=True)

    def stop() -> None:
        subprocess.run(prefix + [_pg_bin("pg_ctl"), "-D", data, "-m", "immediate", "stop"],
                       capture_output=True)

    return Service(url=f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres", port=port,
                   workdir=workdir, stopper=stop, extra={"data": data, "prefix": prefix})


def create_database(admin_url: str, name: str) -> str:
    """Create a fresh database next to ``admin_url`` and return its URL."""
    import psycopg

    plain = admin_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    base, _, _ = admin_url.rpartition("/")
    return f"{base}/{name}"
