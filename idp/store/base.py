"""The store contract: every entry has a TTL, single-use items are taken atomically, keys are hashes."""

from __future__ import annotations

import base64
import hashlib
import json
from abc import ABC, abstractmethod
from typing import Any


class StoreUnavailable(RuntimeError):
    """The backing service (Redis) cannot be reached; callers answer 503, never 500."""


def hash_key(namespace: str, kind: str, raw: str) -> str:
    """The stored key for ``raw`` of one ``kind``: a SHA-256 hash, so a dump holds no usable secret.

    Callers pass secrets (codes, session ids, tokens) as ``raw``; because only their hash is stored,
    reading the store gives nothing that can be presented to the provider.
    """
    # "surrogatepass": any Python str gets a key, also one holding a lone surrogate (from a JSON "\\ud800"
    # escape), which strict UTF-8 cannot encode; valid text encodes exactly as before.
    digest = hashlib.sha256(f"{kind}\x00{raw}".encode("utf-8", "surrogatepass")).digest()
    return f"{namespace}:{kind}:{base64.urlsafe_b64encode(digest).rstrip(b'=').decode()}"


def dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), sort_keys=True).encode()


def loads(raw: bytes | str | None) -> Any:
    return None if raw is None else json.loads(raw)


class Store(ABC):
    """Key-value state with mandatory TTLs.

    Values are JSON-serialisable.  ``kind`` names the family of entries (``code``, ``sid`` ...) and
    ``key`` the secret or identifier; implementations store ``hash_key(kind, key)``.
    """

    namespace: str

    def k(self, kind: str, key: str) -> str:
        return hash_key(self.namespace, kind, key)

    @abstractmethod
    def put(self, kind: str, key: str, value: Any, ttl: int) -> None:
        """Store ``value`` under ``key`` for ``ttl`` seconds, replacing any previous value."""

    @abstractmethod
    def add(self, kind: str, key: str, value: Any, ttl: int) -> bool:
        """Store only if absent; True when this call created the entry (replay caches, locks)."""

    @abstractmethod
    def get(self, kind: str, key: str) -> Any:
        """The value, or None when absent or expired."""

    @abstractmethod
    def get_many(self, items: list[tuple[str, str]]) -> list[Any]:
        """Values of several entries in one round trip, None for each missing one."""

    @abstractmethod
    def take(self, kind: str, key: str) -> Any:
        """Atomically read and delete: of concurrent callers, exactly one gets the value."""

    @abstractmethod
    def delete(self, kind: str, key: str) -> bool:
        """Remove the entry; True when it existed."""

    @abstractmethod
    def touch(self, kind: str, key: str, ttl: int) -> bool:
        """Reset the TTL of an existing entry; False when it does not exist."""

    @abstractmethod
    def ttl(self, kind: str, key: str) -> int | None:
        """Seconds the entry still lives, or None when absent."""

    @abstractmethod
    def incr(self, kind: str, key: str, ttl: int) -> int:
        """Increment a counter; the TTL starts at the first increment and is not extended."""

    @abstractmethod
    def set_add(self, kind: str, key: str, member: str, ttl: int) -> None:
        """Add ``member`` to a set and (re)set the set's TTL."""

    @abstractmethod
    def set_remove(self, kind: str, key: str, member: str) -> None:
        """Remove ``member`` from a set."""

    @abstractmethod
    def set_members(self, kind: str, key: str) -> set[str]:
        """Members of a set (empty when absent)."""

    @abstractmethod
    def ping(self) -> bool:
        """True when the backend answers."""

    def open(self) -> None:  # noqa: B027 - optional hook
        """Claim the backend now rather than at first use (the embedded store's single-process lock)."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""
