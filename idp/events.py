"""A tiny per-application event hub, so that a lower layer can announce what happened without importing
the layers that react to it (``people`` never imports ``oauth``).

Handlers are subscribed once, at application creation (``subscribe(app, name, fn)``, from a module's
``init_app``), and kept in the app's state (``state(app).extra["events"]``).  :func:`emit` calls them
synchronously, in the order they were subscribed, in the caller's thread and database transaction: what
a handler writes is committed or rolled back together with the caller's own changes (for instance, the
revoked tokens and the queued logout notices of an ended session are stored together or not at all).
A handler's exception propagates to the emitter, like any other failure inside its transaction.

The events (name: keyword arguments):

- ``sessions_ended``: ``sessions`` (list of ended :class:`idp.people.session.LoginSession`), ``reason``
  (str), ``keep_offline`` (bool: refresh tokens issued for ``offline_access`` outlive the session);
- ``person_tokens_revoked``: ``person_id`` (int), ``reason`` (str): every token of the person must go.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask

from idp.extensions import state

SESSIONS_ENDED = "sessions_ended"
PERSON_TOKENS_REVOKED = "person_tokens_revoked"

Handler = Callable[..., Any]


def _handlers(app: Flask | None = None) -> dict[str, list[Handler]]:
    found: dict[str, list[Handler]] = state(app).extra.setdefault("events", {})
    return found


def subscribe(app: Flask, name: str, fn: Handler) -> None:
    """Call ``fn(**data)`` whenever ``name`` is emitted in ``app`` (subscribe at application creation)."""
    handlers = _handlers(app).setdefault(name, [])
    if fn not in handlers:
        handlers.append(fn)


def emit(name: str, **data: Any) -> list[Any]:
    """Call the current app's handlers of ``name`` now, in subscription order; their return values.

    Synchronous and inside the caller's transaction (the caller commits or rolls back).
    """
    return [fn(**data) for fn in _handlers().get(name, [])]
