"""Real Redis high-availability layouts on free ports: a Sentinel group and a Cluster (issue 19).

``SentinelGroup``: one master, two replicas and three sentinels (quorum 2), as the README's three-node
layout runs them (one Redis and one sentinel per node).  ``Cluster``: three masters with two replicas
each, formed by ``redis-cli --cluster create``.  Timeouts are short (a master is declared down after one
second) so that a failover happens within a test; production keeps the defaults the README names.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import redis

from tests.services import free_port, stop_process, wait_port

SERVICE = "idp"
DOWN_AFTER_MS = 1000


def _redis_server() -> str:
    return shutil.which("redis-server") or "/usr/bin/redis-server"


def _sentinel_command(conf: Path) -> list[str]:
    # Debian's redis-sentinel package installs `redis-sentinel` (a link to redis-server); redis-server
    # --sentinel is the same program, so the tests also run where only redis-server is installed.
    exe = shutil.which("redis-sentinel")
    return [exe, str(conf)] if exe else [_redis_server(), str(conf), "--sentinel"]


def _cluster_port() -> int:
    """A free port whose cluster bus port (port + 10000) is free and valid too."""
    while True:
        port = free_port()
        if port + 10000 < 65536:
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", port + 10000))
                except OSError:
                    continue
            return port


class Node:
    """One redis-server process with its own folder."""

    def __init__(self, root: Path, *extra: str) -> None:
        self.port = _cluster_port() if "--cluster-enabled" in extra else free_port()
        self.dir = root / f"redis-{self.port}"
        self.dir.mkdir()
        self.proc: subprocess.Popen[Any] | None = subprocess.Popen(
            [_redis_server(), "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly",
             "no", "--daemonize", "no", "--dir", str(self.dir), "--logfile", str(self.dir / "redis.log"),
             "--repl-diskless-sync", "yes", "--repl-diskless-sync-delay", "0", *extra],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(self.port, proc=self.proc)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, socket_timeout=2)

    def kill(self) -> None:
        """``kill -9``: the node vanishes without a goodbye, as a crashed machine does."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)


def _wait(check: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except redis.RedisError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"timed out waiting for {what}")


class SentinelGroup:
    """A master, two replicas and three sentinels watching them as ``idp``."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="idp-sentinel-"))
        self.master = Node(self.root)
        self.replicas = [Node(self.root, "--replicaof", "127.0.0.1", str(self.master.port)) for _ in range(2)]
        for replica in self.replicas:
            _wait(lambda r=replica: r.client().info("replication")["master_link_status"] == "up", 20,
                  "a replica to sync")
        self.sentinel_ports: list[int] = []
        self.procs: list[subprocess.Popen[Any]] = []
        for _ in range(3):
            port = free_port()
            conf = self.root / f"sentinel-{port}.conf"
            conf.write_text(
                f"port {port}\nbind 127.0.0.1\ndir {self.root}\nlogfile {self.root}/sentinel-{port}.log\n"
                f"sentinel monitor {SERVICE} 127.0.0.1 {self.master.port} 2\n"
                f"sentinel down-after-milliseconds {SERVICE} {DOWN_AFTER_MS}\n"
                f"sentinel failover-timeout {SERVICE} 5000\nsentinel parallel-syncs {SERVICE} 2\n")
            proc = subprocess.Popen(_sentinel_command(conf), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            wait_port(port, proc=proc)
            self.procs.append(proc)
            self.sentinel_ports.append(port)
        # Every sentinel knows both replicas and the other sentinels before a test kills anything.
        for port in self.sentinel_ports:
            conn = redis.Redis(port=port, socket_timeout=2)
            _wait(lambda c=conn: int(c.sentinel_master(SERVICE)["num-slaves"]) == 2
                  and int(c.sentinel_master(SERVICE)["num-other-sentinels"]) == 2, 30, "the sentinels to agree")

    @property
    def addresses(self) -> list[str]:
        return [f"127.0.0.1:{port}" for port in self.sentinel_ports]

    def current_master_port(self) -> int:
        conn = redis.Redis(port=self.sentinel_ports[0], socket_timeout=2)
        return int(conn.sentinel_get_master_addr_by_name(SERVICE)[1])

    def close(self) -> None:
        for proc in self.procs:
            stop_process(proc)
        for node in [self.master, *self.replicas]:
            node.stop()
        shutil.rmtree(self.root, ignore_errors=True)


class Cluster:
    """Three masters with two replicas each (nine redis-server processes with ``cluster-enabled``)."""

    def __init__(self, masters: int = 3, replicas: int = 2) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="idp-cluster-"))
        self.nodes = [Node(self.root, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                           "--cluster-node-timeout", str(DOWN_AFTER_MS), "--cluster-replica-validity-factor", "0")
                      for _ in range(masters * (1 + replicas))]
        cli = shutil.which("redis-cli") or "/usr/bin/redis-cli"
        subprocess.run([cli, "--cluster", "create", *[n.address for n in self.nodes],
                        "--cluster-replicas", str(replicas), "--cluster-yes"],
                       check=True, capture_output=True, timeout=60)
        _wait(self._formed, 30, "the cluster to form")

    def _formed(self) -> bool:
        for node in self.nodes:
            info = node.client().cluster("info")
            if info["cluster_state"] != "ok" or int(info["cluster_known_nodes"]) != len(self.nodes):
                return False
        # Every master has its replicas attached, so a WAIT for one replica can succeed.
        return all(len(n.client().info("replication").get("slave0", "")) > 0 or
                   n.client().info("replication")["role"] == "slave" for n in self.nodes)

    @property
    def addresses(self) -> list[str]:
        return [n.address for n in self.nodes]

    def live(self) -> list[Node]:
        return [n for n in self.nodes if n.proc is not None and n.proc.poll() is None]

    def master_of(self, key: str) -> Node:
        """The node that currently serves ``key``'s slot as master."""
        conn = self.live()[0].client()
        slot = int(conn.execute_command("CLUSTER", "KEYSLOT", key))
        for start, end, master, *_ in conn.execute_command("CLUSTER", "SLOTS"):
            if int(start) <= slot <= int(end):
                return next(n for n in self.nodes if n.port == int(master[1]))
        raise RuntimeError(f"no master serves slot {slot}")

    def close(self) -> None:
        for node in self.nodes:
            node.stop()
        shutil.rmtree(self.root, ignore_errors=True)

