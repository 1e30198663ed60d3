"""Redis store: shared by every worker and node; GETDEL makes single-use items atomic."""

from __future__ import annotations

from typing import Any

import redis
from redis.exceptions import RedisError

from idp.store.base import Store, StoreUnavailable, dumps, loads


class RedisStore(Store):
    """Store backed by Redis >= 6.2 (``GETDEL``, ``SET NX EX``)."""

    def __init__(self, client: redis.Redis, namespace: str = "idp") -> None:
        self.namespace = namespace
        self.r = client

    @classmethod
    def from_url(cls, url: str, namespace: str = "idp") -> RedisStore:
        client = redis.Redis.from_url(
            url,
            socket_timeout=2.0,
            socket_connect_timeout=2.0,
            health_check_interval=30,
            retry_on_timeout=False,
        )
        return cls(client, namespace)

    def _call(self, func: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except RedisError as exc:
            raise StoreUnavailable(f"redis: {exc.__class__.__name__}") from exc

    def put(self, kind: str, key: str, value: Any, ttl: int) -> None:
        assert ttl > 0, "every entry needs a TTL"
        self._call(self.r.set, self.k(kind, key), dumps(value), ex=ttl)

    def add(self, kind: str, key: str, value: Any, ttl: int) -> bool:
        assert ttl > 0, "every entry needs a TTL"
        return bool(self._call(self.r.set, self.k(kind, key), dumps(value), ex=ttl, nx=True))

    def get(self, kind: str, key: str) -> Any:
        return loads(self._call(self.r.get, self.k(kind, key)))

    def get_many(self, items: list[tuple[str, str]]) -> list[Any]:
        if not items:
            return []
        raw = self._call(self.r.mget, [self.k(kind, key) for kind, key in items])
        return [loads(item) for item in raw]

    def take(self, kind: str, key: str) -> Any:
        # GETDEL is one atomic command: two concurrent redemptions cannot both see the value.
        return loads(self._call(self.r.getdel, self.k(kind, key)))

    def delete(self, kind: str, key: str) -> bool:
        return bool(self._call(self.r.delete, self.k(kind, key)))

    def touch(self, kind: str, key: str, ttl: int) -> bool:
        return bool(self._call(self.r.expire, self.k(kind, key), ttl))

    def ttl(self, kind: str, key: str) -> int | None:
        value = self._call(self.r.ttl, self.k(kind, key))
        return None if value is None or value < 0 else int(value)

    def incr(self, kind: str, key: str, ttl: int) -> int:
        full = self.k(kind, key)
        pipe = self.r.pipeline(transaction=True)
        pipe.incr(full)
        # NX: the window starts at the first failure and is not extended by later ones.
        pipe.expire(full, ttl, nx=True)
        result = self._call(pipe.execute)
        return int(result[0])

    def set_add(self, kind: str, key: str, member: str, ttl: int) -> None:
        full = self.k(kind, key)
        pipe = self.r.pipeline(transaction=True)
        pipe.sadd(full, member)
        pipe.expire(full, ttl)
        self._call(pipe.execute)

    def set_remove(self, kind: str, key: str, member: str) -> None:
        self._call(self.r.srem, self.k(kind, key), member)

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
