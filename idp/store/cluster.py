"""Redis Cluster store: the same single-key operations as :mod:`idp.store.redis`, routed by slot.

Every atomic operation (``GETDEL``, ``SET NX``, the counter and set scripts) names one key, so it runs on
the one master of that key's slot and never meets ``CROSSSLOT``; the keys need no hash tags for that, and
without them the entries spread over every master.  ``get_many`` is the one read of several keys: it asks
each slot's master (``mget_nonatomic``); its callers need each value, not a snapshot of all of them.

Writes go to the key's master over that node's own connection, in one pipeline with ``WAIT`` (see
:class:`idp.store.redis.RedisStore`); when a write fails (a master lost, a slot moved) the slot map is
read again, so the requests after a failover reach the promoted replica.
"""

from __future__ import annotations

import threading
from typing import Any

from redis.backoff import NoBackoff
from redis.cluster import ClusterNode, RedisCluster
from redis.exceptions import RedisError
from redis.retry import Retry

from idp.store.redis import OPTIONS, RedisStore, _address


class ClusterStore(RedisStore):
    """Store backed by a Redis Cluster (``cluster-enabled yes``) with replicas."""

    @classmethod
    def connect(cls, nodes: list[str], namespace: str = "idp", *, password: str = "", tls: bool = False,
                min_replicas: int = 1, wait_ms: int = 500) -> ClusterStore:
        startup = [ClusterNode(*_address(item)) for item in nodes]
        client = RedisCluster(startup_nodes=startup, password=password or None, ssl=tls,
                              # One retry after reading the slot map again, at once: a request waits
                              # seconds at most (the socket timeouts), then answers 503.
                              retry=Retry(NoBackoff(), 1), **OPTIONS)
        return cls(client, namespace, min_replicas, wait_ms)

    def __init__(self, client: Any, namespace: str = "idp", min_replicas: int = 0, wait_ms: int = 500) -> None:
        super().__init__(client, namespace, min_replicas, wait_ms)
        self._refresh = threading.Lock()

    def _master(self, key: str) -> Any:
        return self.r.get_redis_connection(self.r.get_node_from_key(key))

    def _mget(self, keys: list[str]) -> list[Any]:
        return list(self.r.mget_nonatomic(keys))

    def ping(self) -> bool:
        """True when every master answers (a lost master makes a third of the entries unreachable)."""
        try:
            return bool(self.r.ping(target_nodes=RedisCluster.PRIMARIES))
        except RedisError as exc:
            self._lost(exc)
            return False

    def _lost(self, exc: RedisError) -> None:
        # One thread reads the slot map again; the others answer 503 meanwhile instead of queueing.
        if self._refresh.acquire(blocking=False):
            try:
                self.r.nodes_manager.initialize()
            except RedisError:
                pass  # no node answers yet: the next failure tries again
            finally:
                self._refresh.release()
