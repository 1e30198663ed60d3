"""Liveness and readiness for load balancers and orchestrators.

``/healthz`` says the process answers (restart it when it does not); ``/readyz`` says whether this
node can serve sign-ins now (send it traffic or not).  Both answer JSON, 200 or 503, never cached.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from flask import Blueprint, Response, jsonify
from sqlalchemy import text

from idp import metrics
from idp.extensions import csrf, db, state
from idp.sources.ldap import get_connector

bp = Blueprint("health", __name__)
csrf.exempt(bp)
log = logging.getLogger(__name__)


def _answer(body: dict[str, object], status: int) -> tuple[Response, int]:
    resp = jsonify(body)
    resp.headers["Cache-Control"] = "no-store"
    return resp, status


@bp.get("/healthz")
def healthz() -> tuple[Response, int]:
    """The process is alive (no dependency is checked)."""
    return _answer({"status": "ok"}, 200)


# A load balancer's probe usually gives up after a few seconds; the directory check never holds the
# answer longer than this (a hung server would, up to the connector's receive timeout per server).
DIRECTORY_WAIT = 1.0


class _DirectoryProbe:
    """One directory check at a time per app, in a thread; callers wait at most ``DIRECTORY_WAIT``."""

    def __init__(self, connector: Any) -> None:
        self.connector = connector
        self.lock = threading.Lock()
        self.thread: threading.Thread | None = None
        self.result = False

    def check(self) -> bool:
        with self.lock:
            if self.thread is None or not self.thread.is_alive():
                self.thread = threading.Thread(target=self._run, name="idp-readyz-ldap", daemon=True)
                self.thread.start()
            thread = self.thread
        thread.join(DIRECTORY_WAIT)
        return not thread.is_alive() and self.result

    def _run(self) -> None:
        """Read the root DSE on a service connection: the connector's pool, timeouts and failover apply
        (RFC 4512 5.1: the root DSE is readable once bound; ``1.1`` asks for no attributes, RFC 4511 4.5.1.8)."""
        from ldap3 import BASE  # here: ldap3 loads under idp.sources.ldap's warning filter (pyasn1 renames)

        try:
            self.result = bool(self.connector.with_service(
                lambda conn: conn.search("", "(objectClass=*)", search_scope=BASE, attributes=["1.1"])))
        except Exception as exc:  # noqa: BLE001 - SourceUnavailable or anything the library raised
            log.warning("readiness: directory unreachable (%s)", type(exc).__name__)
            self.result = False


def _directory_ok() -> bool | None:
    """Whether the directory answered in time; None when no directory is configured."""
    connector = get_connector()
    if connector is None:
        return None
    extra = state().extra
    probe = extra.get("readyz_directory_probe")
    if probe is None or probe.connector is not connector:
        probe = extra["readyz_directory_probe"] = _DirectoryProbe(connector)
    return bool(probe.check())


@bp.get("/readyz")
def readyz() -> tuple[Response, int]:
    """Database and store answer (503 otherwise); the directory, when configured, is reported too.

    A directory outage does not make the node unready: it would be the same on every node, and taking
    them all out of the load balancer would stop citizens' sign-ins, which do not need the directory.
    It shows as ``"status": "degraded"`` with ``"directory": "unavailable"`` (and in the metrics).
    """
    checks: dict[str, str] = {}
    try:
        db.session.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception:  # noqa: BLE001 - any failure means "not ready"
        db.session.rollback()
        checks["database"] = "unavailable"
        metrics.dependency_error("database")
    store_ok = state().store.ping()
    checks["store"] = "ok" if store_ok else "unavailable"
    if not store_ok:
        metrics.dependency_error("redis")
    directory = _directory_ok()
    if directory is not None:
        checks["directory"] = "ok" if directory else "unavailable"
        if not directory:
            metrics.dependency_error("ldap")
    ready = checks["database"] == "ok" and checks["store"] == "ok"
    status = "unavailable" if not ready else "ready" if all(v == "ok" for v in checks.values()) else "degraded"
    return _answer({"status": status, "checks": checks}, 200 if ready else 503)
