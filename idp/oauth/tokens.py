"""Access tokens in the store, refresh tokens in the database (filled in by the protocol work)."""

from __future__ import annotations

from typing import Any


def save_token(token: dict[str, Any], request: Any) -> None:
    """Persist what Authlib generated."""
    raise NotImplementedError
