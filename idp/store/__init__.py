"""Short-lived state (codes, sessions, nonces, replay caches, counters) behind one small interface.

Two backends implement :class:`Store`: :mod:`idp.store.redis` for production and
:mod:`idp.store.memory` for the embedded default.  Both pass ``tests/store/test_contract.py``.
"""

from __future__ import annotations

from idp.store.base import Store, StoreUnavailable, hash_key

__all__ = ["Store", "StoreUnavailable", "hash_key", "create_store"]


def create_store(redis_url: str, namespace: str = "idp", instance_dir: str | None = None,
                 lazy: bool = False) -> Store:
    """Build the store the settings ask for; ``lazy``: the embedded store takes its lock at first use."""
    if redis_url:
        # Imported for the backend in use only: the embedded default never loads the Redis client.
        from idp.store.redis import RedisStore

        return RedisStore.from_url(redis_url, namespace=namespace)
    from idp.store.memory import MemoryStore  # likewise: production never loads the embedded store

    return MemoryStore(namespace=namespace, lock_dir=instance_dir, lazy=lazy)
