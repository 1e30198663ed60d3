"""The benchmark's peer (issue 20): node-oidc-provider, pinned in ``bench/peer/package-lock.json``.

``bench/run.py`` measures it before and after the provider's workloads with the same load generator, so
that every run says how far the provider is from a certified provider *on the same machine at the same
moment* (absolute figures on shared machines move by 2-5x between runs).  This module installs it
(``npm ci`` from the lock file into ``bench/peer/node_modules``, which git ignores), starts it as one
Node process on a free loopback port against the bench's private Redis, and stops it.  The peer's own
configuration (clients, token formats, the Redis adapter) is ``bench/peer/server.mjs``.
"""

# The harness runs its own fixed commands (node, npm) with arguments it builds itself.
# ruff: noqa: S603

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import requests

from bench.procs import Server

PEER_DIR = Path(__file__).resolve().parent / "peer"
LOCK = PEER_DIR / "package-lock.json"
STAMP = PEER_DIR / "node_modules" / ".bench-lock-sha256"
# oidc-provider 9 calls URL.parse (Node 20.18+, 22.1+); it warns below Node 22 but works.
MIN_NODE = (20, 18)


def check_node() -> str | None:
    """``None`` when node and npm are usable, else the one line to show (what is missing, how to fix)."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        missing = " and ".join(name for name, path in (("node", node), ("npm", npm)) if path is None)
        return (f"{missing} not found: the benchmark's peer (node-oidc-provider) needs Node.js >= "
                f"{MIN_NODE[0]}.{MIN_NODE[1]} with npm (https://nodejs.org/en/download), or run bench/run.py "
                "--no-peer")
    try:
        out = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError) as exc:
        return f"node --version failed ({exc}): the benchmark's peer needs a working Node.js, or --no-peer"
    match = re.match(r"v(\d+)\.(\d+)", out)
    if not match or (int(match[1]), int(match[2])) < MIN_NODE:
        return (f"node {out or '(no version)'} is too old: the benchmark's peer (node-oidc-provider 9) needs "
                f"Node.js >= {MIN_NODE[0]}.{MIN_NODE[1]}, or run bench/run.py --no-peer")
    return None


def install(timeout: float = 300) -> float:
    """``npm ci`` from the lock file unless this exact lock is already installed; the seconds it took.

    A file lock keeps two harnesses (parallel tests) from installing into the same folder at once; the
    stamp (the lock file's SHA-256, written after a successful install) makes the next run a no-op.
    """
    digest = hashlib.sha256(LOCK.read_bytes()).hexdigest()
    started = time.monotonic()
    with open(PEER_DIR / ".install.lock", "w") as guard:
        fcntl.flock(guard, fcntl.LOCK_EX)
        try:
            if STAMP.exists() and STAMP.read_text().strip() == digest:
                return 0.0
            result = subprocess.run(
                [shutil.which("npm") or "npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
                cwd=PEER_DIR, capture_output=True, text=True, timeout=timeout)
            if result.returncode != 0:
                raise RuntimeError(f"npm ci in {PEER_DIR} failed: {(result.stderr or result.stdout)[-2000:]}")
            STAMP.write_text(digest + "\n")
        finally:
            fcntl.flock(guard, fcntl.LOCK_UN)
    return time.monotonic() - started


def node_version() -> str:
    """``node --version`` (for the report)."""
    return subprocess.run([shutil.which("node") or "node", "--version"], capture_output=True, text=True,
                          timeout=30, check=False).stdout.strip()


def version() -> str:
    """The installed node-oidc-provider version (from its package.json)."""
    data = json.loads((PEER_DIR / "node_modules" / "oidc-provider" / "package.json").read_text())
    return str(data["version"])


@dataclass
class PeerServer(Server):
    """The one Node process; the interface of :class:`bench.procs.Server` for the measuring code."""

    def workers(self) -> list[psutil.Process]:
        return [psutil.Process(self.proc.pid)]

    def stop(self, timeout: float = 10) -> None:
        if self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)


def start(port: int, redis_url: str, clients: list[dict[str, Any]], log: Path, *,
          access_token_ttl: int = 900, timeout: float = 30) -> PeerServer:
    """Start ``bench/peer/server.mjs`` on ``127.0.0.1:port`` with ``clients``; wait until it answers.

    Each client is ``{"client_id", "client_secret", "format": "opaque"|"jwt", "alg"}``.  Secrets go
    through the environment, not the command line (visible to every user in ps).
    """
    config = {"issuer": f"http://127.0.0.1:{port}", "port": port, "redis_url": redis_url,
              "access_token_ttl": access_token_ttl, "clients": clients}
    env = {**os.environ, "BENCH_PEER_CONFIG": json.dumps(config), "NODE_ENV": "production"}
    with open(log, "ab") as handle:
        proc = subprocess.Popen([shutil.which("node") or "node", str(PEER_DIR / "server.mjs")], cwd=PEER_DIR,
                                env=env, stdout=handle, stderr=handle)
    peer = PeerServer(name="peer", proc=proc, port=port, log=log)
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"the peer exited with status {proc.returncode}: {log.read_text()[-2000:]}")
        try:
            if requests.get(peer.url + "/.well-known/openid-configuration", timeout=5).status_code == 200:
                return peer
        except requests.RequestException:
            pass
        if time.monotonic() > deadline:
            peer.stop()
            raise RuntimeError(f"the peer did not answer within {timeout:g} s: {log.read_text()[-2000:]}")
        time.sleep(0.1)


def client_credentials(peer: PeerServer, client_id: str, secret: str) -> dict[str, Any]:
    """One ``client_credentials`` token response from the peer (HTTP Basic, RFC 6749 2.3.1)."""
    resp = requests.post(peer.url + "/token", data={"grant_type": "client_credentials"},
                         auth=(client_id, secret), timeout=10)
    resp.raise_for_status()
    return dict(resp.json())
