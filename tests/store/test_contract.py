"""One conformance suite for every store backend: in-process, Redis, Redis Sentinel and Redis Cluster.

The Sentinel and Cluster stores run with ``min_replicas=1``: every write there also proves that it
reached a replica (``WAIT``), and on the cluster any operation spanning two slots would fail (CROSSSLOT).
"""

from __future__ import annotations

import base64
import secrets
import threading
import time
from collections.abc import Iterator

import pytest

from idp import config
from idp.config import ConfigError
from idp.store.base import Store, StoreUnavailable
from idp.store.cluster import ClusterStore
from idp.store.memory import MemoryStore, MultiProcessError
from idp.store.redis import RedisStore
from tests import services
from tests.redis_ha import SERVICE, Cluster, SentinelGroup


@pytest.fixture(scope="session")
def sentinel_group() -> Iterator[SentinelGroup]:
    group = SentinelGroup()
    yield group
    group.close()


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    made = Cluster()
    yield made
    made.close()


@pytest.fixture(params=["memory", "redis", "sentinel", "cluster"])
def store(request: pytest.FixtureRequest, redis_url: str) -> Iterator[Store]:
    """Each test gets a fresh store with its own namespace."""
    ns = "t" + secrets.token_hex(6)
    if request.param == "memory":
        s: Store = MemoryStore(ns)
    elif request.param == "redis":
        s = RedisStore.from_url(redis_url, ns)
    elif request.param == "sentinel":
        group = request.getfixturevalue("sentinel_group")
        s = RedisStore.sentinel(group.addresses, SERVICE, ns, min_replicas=1)
    else:
        s = ClusterStore.connect(request.getfixturevalue("cluster").addresses, ns, min_replicas=1)
    yield s
    s.close()


def test_put_get_overwrite(store: Store) -> None:
    store.put("k", "a", {"x": 1}, 30)
    assert store.get("k", "a") == {"x": 1}
    store.put("k", "a", [1, "two"], 30)
    assert store.get("k", "a") == [1, "two"]
    assert store.get("k", "missing") is None
    assert store.get("other", "a") is None


def test_ttl_honoured(store: Store) -> None:
    store.put("k", "short", 1, 1)
    store.put("k", "long", 1, 100)
    assert store.ttl("k", "long") in range(98, 101)
    time.sleep(1.2)
    assert store.get("k", "short") is None
    assert store.get("k", "long") == 1


def test_add_is_set_if_absent(store: Store) -> None:
    assert store.add("k", "a", 1, 30) is True
    assert store.add("k", "a", 2, 30) is False
    assert store.get("k", "a") == 1


def test_take_is_single_use(store: Store) -> None:
    store.put("code", "c", {"v": 1}, 30)
    assert store.take("code", "c") == {"v": 1}
    assert store.take("code", "c") is None
    assert store.get("code", "c") is None


def test_concurrent_take_has_one_winner(store: Store) -> None:
    for round_ in range(5):
        store.put("code", f"c{round_}", "prize", 30)
        results: list[object] = []
        barrier = threading.Barrier(16)

        def grab(key: str = f"c{round_}") -> None:
            barrier.wait()
            results.append(store.take("code", key))

        threads = [threading.Thread(target=grab) for _ in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert results.count("prize") == 1
        assert results.count(None) == 15


def test_incr_window_starts_at_first_increment(store: Store) -> None:
    assert store.incr("rl", "ip", 1) == 1
    assert store.incr("rl", "ip", 1) == 2
    time.sleep(1.2)
    assert store.incr("rl", "ip", 1) == 1


def test_sets_and_get_many(store: Store) -> None:
    store.set_add("s", "p", "a", 30)
    store.set_add("s", "p", "b", 30)
    store.set_remove("s", "p", "a")
    assert store.set_members("s", "p") == {"b"}
    store.put("a", "1", "one", 30)
    assert store.get_many([("a", "1"), ("a", "2")]) == ["one", None]


def test_redis_keys_are_hashes(redis_url: str) -> None:
    ns = "t" + secrets.token_hex(6)
    s = RedisStore.from_url(redis_url, ns)
    secret = secrets.token_urlsafe(24)
    s.put("code", secret, 1, 30)
    keys = [k.decode() for k in s.r.scan_iter(f"{ns}:*")]
    assert len(keys) == 1
    assert secret not in keys[0]
    s.close()


def test_store_unavailable_when_redis_stops() -> None:
    svc = services.start_redis()
    s = RedisStore.from_url(svc.url, "t")
    s.put("k", "a", 1, 30)
    svc.stop()
    with pytest.raises(StoreUnavailable):
        s.get("k", "a")
    s.close()


def test_memory_store_second_instance_on_lock_dir_refused(tmp_path) -> None:  # type: ignore[no-untyped-def]
    first = MemoryStore("x", str(tmp_path))
    with pytest.raises(MultiProcessError):
        MemoryStore("x", str(tmp_path))
    first.close()


def test_memory_store_refuses_forked_process() -> None:
    """A worker forked after the store was made (gunicorn --preload) gets a clear refusal."""
    import os

    s = MemoryStore("fork")
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: report what happened through the pipe, then leave without cleanup
        try:
            s.get("k", "a")
            msg = b"no error"
        except MultiProcessError as exc:
            msg = str(exc).encode()[:200]
        os.write(write, msg)
        os._exit(0)
    os.close(write)
    _, status = os.waitpid(pid, 0)
    got = os.read(read, 400).decode()
    os.close(read)
    assert status == 0
    assert "single worker" in got


def _take_in_process(url: str, ns: str, key: str, queue) -> None:  # type: ignore[no-untyped-def]
    queue.put(RedisStore.from_url(url, ns).take("code", key))


def test_redis_concurrent_take_across_processes(redis_url: str) -> None:
    import multiprocessing

    ns = "t" + secrets.token_hex(6)
    RedisStore.from_url(redis_url, ns).put("code", "c", "prize", 30)
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_take_in_process, args=(redis_url, ns, "c", queue)) for _ in range(4)]
    for p in procs:
        p.start()
    results = [queue.get(timeout=30) for _ in procs]
    for p in procs:
        p.join(timeout=10)
    assert results.count("prize") == 1


@pytest.mark.parametrize(("environ", "message"), [
    ({"IDP_REDIS_URL": "redis://127.0.0.1:6379/0", "IDP_REDIS_SENTINELS": "127.0.0.1:26379"},
     "set only one of"),
    ({"IDP_REDIS_SENTINELS": "127.0.0.1:26379", "IDP_REDIS_CLUSTER_NODES": "127.0.0.1:7000"}, "set only one of"),
    ({"IDP_REDIS_SENTINELS": "127.0.0.1"}, "is not host:port"),
    ({"IDP_REDIS_CLUSTER_NODES": "127.0.0.1:7000,node-b:99999"}, "is not host:port"),
    ({"IDP_REDIS_MIN_REPLICAS": "-1"}, "at least 0"),
])
def test_high_availability_settings_refused_when_wrong(tmp_path, environ: dict[str, str],  # type: ignore[no-untyped-def]
                                                        message: str) -> None:
    with pytest.raises(ConfigError) as info:
        config.load(environ={"IDP_INSTANCE_DIR": str(tmp_path), **environ})
    assert message in str(info.value)


def test_production_accepts_sentinels_instead_of_a_redis_url(tmp_path) -> None:  # type: ignore[no-untyped-def]
    base = {"IDP_ENV": "production", "IDP_ISSUER": "https://sso.example.go.id", "IDP_INSTANCE_DIR": str(tmp_path),
            "IDP_DATABASE_URL": "postgresql+psycopg://idp@db/idp", "IDP_SECRET_KEY": "s" * 40,
            "IDP_HASH_KEY": base64.b64encode(b"h" * 32).decode(),
            "IDP_DATA_KEYS": "k1:" + base64.urlsafe_b64encode(b"d" * 32).decode()}
    with pytest.raises(ConfigError, match="IDP_REDIS_URL: required"):
        config.load(environ=base)
    loaded = config.load(environ={**base, "IDP_REDIS_SENTINELS": "10.0.0.1:26379,10.0.0.2:26379,10.0.0.3:26379"})
    assert loaded["REDIS_SENTINELS"] == ["10.0.0.1:26379", "10.0.0.2:26379", "10.0.0.3:26379"]
    assert loaded["REDIS_MIN_REPLICAS"] == 1


@pytest.mark.parametrize("layout", ["sentinel", "cluster"])
def test_a_write_fewer_replicas_acknowledged_is_refused(request: pytest.FixtureRequest, layout: str) -> None:
    """More replicas asked for than exist: the write is not acknowledged (503), never silently accepted."""
    ns = "t" + secrets.token_hex(6)
    if layout == "sentinel":
        s: Store = RedisStore.sentinel(request.getfixturevalue("sentinel_group").addresses, SERVICE, ns,
                                       min_replicas=3, wait_ms=50)
    else:
        s = ClusterStore.connect(request.getfixturevalue("cluster").addresses, ns, min_replicas=3, wait_ms=50)
    for write in (lambda: s.put("code", "c", 1, 30), lambda: s.take("code", "c"), lambda: s.incr("rl", "x", 30)):
        with pytest.raises(StoreUnavailable, match="replicas"):
            write()
    s.close()
