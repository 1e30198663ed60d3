"""Start the second example RP (clients/example-rp2) as a real process for the SSO and receiver tests."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests import services

ROOT = Path(__file__).resolve().parents[2]


@contextmanager
def run_rp2(issuer: str, client_id: str, secret: str, scope: str = "openid profile",
            port: int | None = None) -> Iterator[str]:
    """Run app 2 on ``port`` (default: a free one) against ``issuer``; yield its base URL, stop it afterwards."""
    port = port or services.free_port()
    env = {**os.environ, "RP2_ISSUER": issuer, "RP2_CLIENT_ID": client_id, "RP2_CLIENT_SECRET": secret,
           "RP2_PORT": str(port), "RP2_SCOPE": scope, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, str(ROOT / "clients/example-rp2/app.py")], env=env, cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        services.wait_port(port, timeout=20, proc=proc)
        yield f"http://127.0.0.1:{port}"
    finally:
        services.stop_process(proc, 5)
