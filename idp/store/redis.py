"""Redis store (one server, or Sentinel): shared by every worker and node; GETDEL makes single-use items atomic."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import redis
from redis.exceptions import RedisError
from redis.sentinel import Sentinel

from idp.store.base import Store, StoreUnavailable, dumps, loads

# Two counters in one atomic step: the TTL is set by the first increment only (the window is not extended
# by later failures).  A script, not MULTI/EXEC, so that it travels in one pipeline with the WAIT below.
INCR = "local n = redis.call('INCR', KEYS[1]) if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end return n"
SADD = "redis.call('SADD', KEYS[1], ARGV[1]) redis.call('EXPIRE', KEYS[1], ARGV[2]) return 1"

OPTIONS: dict[str, Any] = {"socket_timeout": 2.0, "socket_connect_timeout": 2.0}


class RedisStore(Store):
    """Store backed by Redis >= 6.2 (``GETDEL``, ``SET NX EX``): one server, or a master found by sentinels.

    Every operation touches one key, so each is atomic on its own and the same code runs on a cluster
    (:mod:`idp.store.cluster`).  With ``min_replicas`` (sentinels, cluster) each write travels in one
    pipeline with ``WAIT min_replicas timeout`` on the same connection: a write is acknowledged only once
    that many replicas hold it, so the replica a failover promotes never brings back a redeemed code or
    forgets a stored one.  Fewer acknowledgements answer 503 (:class:`StoreUnavailable`).
    """

    def __init__(self, client: Any, namespace: str = "idp", min_replicas: int = 0, wait_ms: int = 500) -> None:
        self.namespace = namespace
        self.r = client
        self.min_replicas = min_replicas
        self.wait_ms = wait_ms

    @classmethod
    def from_url(cls, url: str, namespace: str = "idp") -> RedisStore:
        client = redis.Redis.from_url(url, health_check_interval=30, retry_on_timeout=False, **OPTIONS)
        return cls(client, namespace)

    @classmethod
    def sentinel(cls, sentinels: list[str], service: str, namespace: str = "idp", *, password: str = "",
                 tls: bool = False, min_replicas: int = 1, wait_ms: int = 500) -> RedisStore:
        """The master of ``service`` as the sentinels name it; after a failover the next call finds the new one."""
        manager = Sentinel([_address(item) for item in sentinels], sentinel_kwargs=dict(OPTIONS), **OPTIONS)
        client = manager.master_for(service, password=password or None, ssl=tls, health_check_interval=30,
                                    retry_on_timeout=False)
        return cls(client, namespace, min_replicas, wait_ms)

    def _call(self, func: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except RedisError as exc:
            self._lost(exc)
            raise StoreUnavailable(f"redis: {exc.__class__.__name__}") from exc

    def _lost(self, exc: RedisError) -> None:
        """Hook: a command failed (the cluster store refreshes its slot map)."""

    def _master(self, key: str) -> Any:
        """The client whose connection reaches the master holding ``key``."""
        return self.r

    def _write(self, key: str, build: Callable[[Any], Any]) -> Any:
        """Run the write ``build`` queues on ``key``'s master; with ``min_replicas``, wait for the replicas."""
        if not self.min_replicas:
            # No wait: the command goes straight to the client (``build`` returns its result), which on a
            # cluster also follows MOVED redirections by itself.
            return self._call(build, self.r)
        pipe = self._call(self._master, key).pipeline(transaction=False)
        build(pipe)
        # WAIT counts the replicas that acknowledged every earlier write of this connection: the pipeline
        # keeps both commands on one connection (https://redis.io/docs/latest/commands/wait/).
        pipe.execute_command("WAIT", self.min_replicas, self.wait_ms)
        result, replicas = self._call(pipe.execute)
        if int(replicas) < self.min_replicas:
            raise StoreUnavailable(f"redis: a write reached {replicas} of {self.min_replicas} replicas")
        return result

    def put(self, kind: str, key: str, value: Any, ttl: int) -> None:
        assert ttl > 0, "every entry needs a TTL"
        full = self.k(kind, key)
        self._write(full, lambda p: p.set(full, dumps(value), ex=ttl))

    def add(self, kind: str, key: str, value: Any, ttl: int) -> bool:
        assert ttl > 0, "every entry needs a TTL"
        full = self.k(kind, key)
        return bool(self._write(full, lambda p: p.set(full, dumps(value), ex=ttl, nx=True)))

    def get(self, kind: str, key: str) -> Any:
        return loads(self._call(self.r.get, self.k(kind, key)))

    def get_many(self, items: list[tuple[str, str]]) -> list[Any]:
        if not items:
            return []
        raw = self._call(self._mget, [self.k(kind, key) for kind, key in items])
        return [loads(item) for item in raw]

    def _mget(self, keys: list[str]) -> list[Any]:
        return list(self.r.mget(keys))

    def take(self, kind: str, key: str) -> Any:
        # GETDEL is one atomic command: two concurrent redemptions cannot both see the value.
        full = self.k(kind, key)
        return loads(self._write(full, lambda p: p.getdel(full)))

    def delete(self, kind: str, key: str) -> bool:
        full = self.k(kind, key)
        return bool(self._write(full, lambda p: p.delete(full)))

    def touch(self, kind: str, key: str, ttl: int) -> bool:
        full = self.k(kind, key)
        return bool(self._write(full, lambda p: p.expire(full, ttl)))

    def ttl(self, kind: str, key: str) -> int | None:
        value = self._call(self.r.ttl, self.k(kind, key))
        return None if value is None or value < 0 else int(value)

    def incr(self, kind: str, key: str, ttl: int) -> int:
        full = self.k(kind, key)
        return int(self._write(full, lambda p: p.eval(INCR, 1, full, ttl)))

    def set_add(self, kind: str, key: str, member: str, ttl: int) -> None:
        full = self.k(kind, key)
        self._write(full, lambda p: p.eval(SADD, 1, full, member, ttl))

    def set_remove(self, kind: str, key: str, member: str) -> None:
        full = self.k(kind, key)
        self._write(full, lambda p: p.srem(full, member))

    def set_members(self, kind: str, key: str) -> set[str]:
        raw = self._call(self.r.smembers, self.k(kind, key))
        return {m.decode() if isinstance(m, bytes) else m for m in raw}

    def ping(self) -> bool:
        try:
            return bool(self.r.ping())
        except RedisError:
            return False

    def close(self) -> None:
        self.r.close()


def _address(item: str) -> tuple[str, int]:
    host, _, port = item.rpartition(":")
    return host.strip("[]"), int(port)
