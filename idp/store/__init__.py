"""Short-lived state (codes, sessions, nonces, replay caches, counters) behind one small interface.

Backends implement :class:`Store`: :mod:`idp.store.redis` (one Redis, or Sentinel) and
:mod:`idp.store.cluster` for production, :mod:`idp.store.memory` for the embedded default.  All pass
``tests/store/test_contract.py``.
"""

from __future__ import annotations

from typing import Any

from idp.store.base import Store, StoreUnavailable, hash_key

__all__ = ["Store", "StoreUnavailable", "hash_key", "create_store", "store_from_settings", "shared"]


def create_store(redis_url: str, namespace: str = "idp", instance_dir: str | None = None,
                 lazy: bool = False) -> Store:
    """Build a single-Redis store for ``redis_url``, or the embedded one when it is empty.

    ``lazy``: the embedded store takes its single-process lock at first use instead of now.
    """
    if redis_url:
        # Imported for the backend in use only: the embedded default never loads the Redis client.
        from idp.store.redis import RedisStore

        return RedisStore.from_url(redis_url, namespace=namespace)
    from idp.store.memory import MemoryStore  # likewise: production never loads the embedded store

    return MemoryStore(namespace=namespace, lock_dir=instance_dir, lazy=lazy)


def shared(cfg: Any) -> bool:
    """Whether the settings choose a store several processes can share (a cluster, sentinels, one Redis)
    rather than the embedded one, which one process holds."""
    return bool(cfg["REDIS_CLUSTER_NODES"] or cfg["REDIS_SENTINELS"] or cfg["REDIS_URL"])


def store_from_settings(cfg: Any, lazy: bool = False) -> Store:
    """The store the settings choose: a cluster, sentinels, one Redis, or the embedded default."""
    high = {"password": cfg["REDIS_PASSWORD"], "tls": cfg["REDIS_TLS"],
            "min_replicas": cfg["REDIS_MIN_REPLICAS"], "wait_ms": cfg["REDIS_WAIT_TIMEOUT"]}
    if cfg["REDIS_CLUSTER_NODES"]:
        from idp.store.cluster import ClusterStore  # the backend in use only (see above)

        return ClusterStore.connect(cfg["REDIS_CLUSTER_NODES"], **high)
    if cfg["REDIS_SENTINELS"]:
        from idp.store.redis import RedisStore

        return RedisStore.sentinel(cfg["REDIS_SENTINELS"], cfg["REDIS_SENTINEL_SERVICE"], **high)
    return create_store(cfg["REDIS_URL"], instance_dir=None if cfg["REDIS_URL"] else cfg["INSTANCE_DIR"],
                        lazy=lazy)
