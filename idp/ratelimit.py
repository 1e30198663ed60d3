"""Brute-force limits kept in the store (kind ``"rl"``): failure counters and temporary locks.

Sign-in failures are counted per typed identifier (``LOGIN_MAX_FAILURES``) and per client IP (five
times as many); reaching the limit locks that identifier or IP.  Counting the *typed* identifier (as a
keyed hash) treats existing and unknown accounts exactly alike, so a lock reveals nothing about which
accounts exist.  Counters start at the first failure and are not extended by later ones (a fixed
window as long as the base lock).

Locks back off exponentially: the first lasts ``LOGIN_LOCK_SECONDS``, and each further lock of the
same identifier or IP within ``LOCK_MEMORY`` seconds lasts twice as long as the one before, up to
``LOGIN_LOCK_MAX_SECONDS``.  So an attacker gets ever fewer guesses per hour, yet no lock is
permanent: a person locked out by someone else can always sign in again after at most the cap (and
is told by mail, see :mod:`idp.people.signin`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence

from idp.extensions import state

KIND = "rl"
IP_FACTOR = 5
LOCK_MEMORY = 24 * 3600  # how long earlier locks count towards the next one's length



def identifier_key(identifier: str) -> str:
    """A keyed hash of a normalised identifier (the store never holds a NIK, even hashed without a key)."""
    return str(state().crypto.keyed_hash("login_id", identifier))


def _keys(ident_key: str | Sequence[str]) -> list[str]:
    return [ident_key] if isinstance(ident_key, str) else list(ident_key)


def locked_for(ident_key: str | Sequence[str], ip: str | None) -> int:
    """Seconds the identifier (any of several) or the IP stays locked (0: not locked); one store round trip."""
    items = [(KIND, f"lock:id:{key}") for key in _keys(ident_key)]
    if ip:
        items.append((KIND, f"lock:ip:{ip}"))
    now = time.time()
    remaining = 0
    for value in state().store.get_many(items):
        if value:
            remaining = max(remaining, math.ceil(float(value.get("until", 0)) - now))
    return max(0, remaining)


def lock_length(previous_locks: int) -> int:
    """Seconds of the next lock after ``previous_locks`` recent ones: doubling, capped."""
    cfg = state().config
    base, cap = int(cfg["LOGIN_LOCK_SECONDS"]), int(cfg["LOGIN_LOCK_MAX_SECONDS"])
    return int(min(cap, base * 2 ** min(previous_locks, 20)))


def _count(key: str, limit: int) -> int:
    cfg = state().config
    store = state().store
    window = int(cfg["LOGIN_LOCK_SECONDS"])
    if store.incr(KIND, f"fail:{key}", window) >= limit:
        locks = store.incr(KIND, f"locks:{key}", LOCK_MEMORY)  # this lock included
        lock = lock_length(locks - 1)
        store.put(KIND, f"lock:{key}", {"until": time.time() + lock}, lock)
        store.delete(KIND, f"fail:{key}")
        return lock
    return 0


def record_failure(ident_key: str | Sequence[str], ip: str | None) -> int:
    """Count one failed sign-in; returns the lock length when this failure started a lock, else 0.

    Several identifier keys (the NIK and the e-mail address of one account, when its password is
    checked without a typed identifier) each count the failure; the IP counts it once.
    """
    limit = int(state().config["LOGIN_MAX_FAILURES"])
    started = 0
    for key in _keys(ident_key):
        started = max(started, _count(f"id:{key}", limit))
    if ip:
        started = max(started, _count(f"ip:{ip}", limit * IP_FACTOR))
    return started


def record_success(ident_key: str | Sequence[str]) -> None:
    """A correct password clears the identifier's failure counter and lock history (not the IP's)."""
    for key in _keys(ident_key):
        state().store.delete(KIND, f"fail:id:{key}")
        state().store.delete(KIND, f"locks:id:{key}")


def allow(bucket: str, key: str, limit: int, window: int) -> bool:
    """A plain counter: True while at most ``limit`` events happened in ``window`` seconds."""
    count = state().store.incr(KIND, f"{bucket}:{key}", window)
    return bool(count <= limit)


def minutes(seconds: int) -> int:
    """Whole minutes to show for a lock (at least one)."""
    return max(1, math.ceil(seconds / 60))


def lift(ident_key: str | Sequence[str]) -> None:
    """End the identifier's lock and forget its failures (the owner proved control another way, e.g. a
    password reset through a mailed code); the IP's counters stay."""
    record_success(ident_key)
    for key in _keys(ident_key):
        state().store.delete(KIND, f"lock:id:{key}")
