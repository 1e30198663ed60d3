"""In-process store for the embedded default: one process only, refused under several workers."""

from __future__ import annotations

import copy
import fcntl
import os
import threading
import time
import weakref
from pathlib import Path
from typing import Any

from idp.store.base import Store

MULTI_PROCESS_MESSAGE = (
    "The in-process store (no IDP_REDIS_URL) keeps state inside one process and cannot be shared by "
    "several worker processes or nodes: sign-ins would randomly fail. Run a single worker, or set "
    "IDP_REDIS_URL. / Penyimpanan dalam-proses tidak dapat dipakai bersama oleh beberapa proses "
    "worker; jalankan satu worker atau setel IDP_REDIS_URL."
)


CLI_MESSAGE = (
    "this command needs the provider's short-lived state (sessions, codes), which the embedded store "
    "(no IDP_REDIS_URL) keeps inside the process serving {instance}: run it while no provider serves "
    "that instance, use the administration console (/admin) of the running provider, or set "
    "IDP_REDIS_URL so that every process shares one store"
)


class MultiProcessError(RuntimeError):
    """The in-process store was used from a second process."""


class MemoryStore(Store):
    """A dict with expiry times behind one lock.

    It refuses a second process in two ways: an exclusive ``flock`` on a file in the instance folder
    (a second worker started separately), and the owning PID checked on each use (a worker forked
    after the store was made, as with gunicorn ``--preload``).

    With ``lazy=True`` (operator commands) the ``flock`` is taken at the first use instead of at
    construction: ``idp clients create`` never touches short-lived state, so it must not fight the
    provider that ``make run`` is serving for the lock; a command that does need the state fails then,
    with one line saying why (:data:`CLI_MESSAGE`).
    """

    def __init__(self, namespace: str = "idp", lock_dir: str | None = None, lazy: bool = False) -> None:
        self.namespace = namespace
        self._data: dict[str, tuple[float, Any]] = {}
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._lock_dir = lock_dir
        self._lock_file: Any = None
        self._opened = False
        if not lazy:
            self.open()

    def open(self) -> None:
        """Take the single-process lock now (at start-up of a serving process); idempotent."""
        if self._opened:
            return
        if self._lock_dir:
            Path(self._lock_dir).mkdir(parents=True, exist_ok=True)
            handle = open(Path(self._lock_dir) / "memory-store.lock", "w")  # noqa: SIM115 - held for life
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                handle.close()
                raise MultiProcessError(MULTI_PROCESS_MESSAGE) from None
            self._lock_file = handle
            # Released when the store goes away, so a later app in the same process can take it.
            weakref.finalize(self, handle.close)
        self._opened = True

    def _check(self) -> None:
        if os.getpid() != self._pid:
            raise MultiProcessError(MULTI_PROCESS_MESSAGE)
        if not self._opened:
            with self._lock:
                self.open()

    def _live(self, key: str, now: float) -> Any:
        item = self._data.get(key)
        if item is None:
            return None
        if item[0] <= now:
            del self._data[key]
            return None
        return item[1]

    def _sweep(self, now: float) -> None:
        # Amortised cleanup so expired entries do not accumulate in a long-running process.
        if len(self._data) > 1024 and int(now) % 7 == 0:
            for key in [k for k, (exp, _) in self._data.items() if exp <= now]:
                del self._data[key]

    def put(self, kind: str, key: str, value: Any, ttl: int) -> None:
        self._check()
        assert ttl > 0, "every entry needs a TTL"
        now = time.monotonic()
        with self._lock:
            self._sweep(now)
            self._data[self.k(kind, key)] = (now + ttl, copy.deepcopy(value))

    def add(self, kind: str, key: str, value: Any, ttl: int) -> bool:
        self._check()
        assert ttl > 0, "every entry needs a TTL"
        now = time.monotonic()
        with self._lock:
            full = self.k(kind, key)
            if self._live(full, now) is not None:
                return False
            self._data[full] = (now + ttl, copy.deepcopy(value))
            return True

    def get(self, kind: str, key: str) -> Any:
        self._check()
        with self._lock:
            return copy.deepcopy(self._live(self.k(kind, key), time.monotonic()))

    def get_many(self, items: list[tuple[str, str]]) -> list[Any]:
        self._check()
        now = time.monotonic()
        with self._lock:
            return [copy.deepcopy(self._live(self.k(kind, key), now)) for kind, key in items]

    def take(self, kind: str, key: str) -> Any:
        self._check()
        with self._lock:
            full = self.k(kind, key)
            value = self._live(full, time.monotonic())
            if value is not None:
                del self._data[full]
            return value

    def delete(self, kind: str, key: str) -> bool:
        self._check()
        with self._lock:
            full = self.k(kind, key)
            existed = self._live(full, time.monotonic()) is not None
            self._data.pop(full, None)
            return existed

    def touch(self, kind: str, key: str, ttl: int) -> bool:
        self._check()
        now = time.monotonic()
        with self._lock:
            full = self.k(kind, key)
            value = self._live(full, now)
            if value is None:
                return False
            self._data[full] = (now + ttl, value)
            return True

    def ttl(self, kind: str, key: str) -> int | None:
        self._check()
        now = time.monotonic()
        with self._lock:
            full = self.k(kind, key)
            if self._live(full, now) is None:
                return None
            return max(0, int(round(self._data[full][0] - now)))

    def incr(self, kind: str, key: str, ttl: int) -> int:
        self._check()
        now = time.monotonic()
        with self._lock:
            full = self.k(kind, key)
            value = self._live(full, now)
            if value is None:
                self._data[full] = (now + ttl, 1)
                return 1
            self._data[full] = (self._data[full][0], value + 1)
            return int(value + 1)

    def set_add(self, kind: str, key: str, member: str, ttl: int) -> None:
        self._check()
        now = time.monotonic()
        with self._lock:
            full = self.k(kind, key)
            members = set(self._live(full, now) or ())
            members.add(member)
            self._data[full] = (now + ttl, members)

    def set_remove(self, kind: str, key: str, member: str) -> None:
        self._check()
        now = time.monotonic()
        with self._lock:
            full = self.k(kind, key)
            members = self._live(full, now)
            if members is not None:
                members.discard(member)
                if not members:
                    del self._data[full]

    def set_members(self, kind: str, key: str) -> set[str]:
        self._check()
        with self._lock:
            return set(self._live(self.k(kind, key), time.monotonic()) or ())

    def ping(self) -> bool:
        return True

    def close(self) -> None:
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None
