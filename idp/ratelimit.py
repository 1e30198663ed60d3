"""Brute-force limits kept in the store (kind ``"rl"``): failure counters and temporary locks.

Sign-in failures are counted per typed identifier (``LOGIN_MAX_FAILURES``) and per client IP (five
times as many); reaching the limit locks that identifier or IP for ``LOGIN_LOCK_SECONDS``.  Counting
the *typed* identifier (as a keyed hash) treats existing and unknown accounts exactly alike, so a
lock reveals nothing about which accounts exist.  Counters start at the first failure and are not
extended by later ones (a fixed window as long as the lock).
"""

from __future__ import annotations

import math
import time
from typing import Any

from flask import current_app

KIND = "rl"
IP_FACTOR = 5


def _state() -> Any:
    return current_app.extensions["idp"]


def identifier_key(identifier: str) -> str:
    """A keyed hash of a normalised identifier (the store never holds a NIK, even hashed without a key)."""
    return str(_state().crypto.keyed_hash("login_id", identifier))


def locked_for(ident_key: str, ip: str | None) -> int:
    """Seconds the identifier or the IP stays locked (0: not locked); one store round trip."""
    items = [(KIND, f"lock:id:{ident_key}")]
    if ip:
        items.append((KIND, f"lock:ip:{ip}"))
    now = time.time()
    remaining = 0
    for value in _state().store.get_many(items):
        if value:
            remaining = max(remaining, math.ceil(float(value.get("until", 0)) - now))
    return max(0, remaining)


def _count(key: str, limit: int) -> int:
    cfg = _state().config
    store = _state().store
    window = lock = int(cfg["LOGIN_LOCK_SECONDS"])
    if store.incr(KIND, f"fail:{key}", window) >= limit:
        store.put(KIND, f"lock:{key}", {"until": time.time() + lock}, lock)
        store.delete(KIND, f"fail:{key}")
        return lock
    return 0


def record_failure(ident_key: str, ip: str | None) -> int:
    """Count one failed sign-in; returns the lock length when this failure started a lock, else 0."""
    limit = int(_state().config["LOGIN_MAX_FAILURES"])
    started = _count(f"id:{ident_key}", limit)
    if ip:
        started = max(started, _count(f"ip:{ip}", limit * IP_FACTOR))
    return started


def record_success(ident_key: str) -> None:
    """A correct password clears the identifier's failure counter (not the IP's)."""
    _state().store.delete(KIND, f"fail:id:{ident_key}")


def allow(bucket: str, key: str, limit: int, window: int) -> bool:
    """A plain counter: True while at most ``limit`` events happened in ``window`` seconds."""
    count = _state().store.incr(KIND, f"{bucket}:{key}", window)
    return bool(count <= limit)


def minutes(seconds: int) -> int:
    """Whole minutes to show for a lock (at least one)."""
    return max(1, math.ceil(seconds / 60))
