"""Liveness and readiness for load balancers and orchestrators.

``/healthz`` says the process answers (restart it when it does not); ``/readyz`` says whether this
node can serve sign-ins now (send it traffic or not).  Both answer JSON, 200 or 503, never cached.
"""

from __future__ import annotations

import logging

from flask import Blueprint, Response, current_app, jsonify
from sqlalchemy import text

from ..extensions import csrf, db

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


def _directory_ok() -> bool | None:
    """Whether the directory answers a root DSE read on a service connection; None when none is configured.

    The connector's pool, connect and receive timeouts and failover apply (RFC 4512 5.1: the root DSE
    is readable by anybody bound; ``1.1`` asks for no attributes, RFC 4511 4.5.1.8).
    """
    from ..connectors.ldap import get_connector

    connector = get_connector()
    if connector is None:
        return None
    from ldap3 import BASE

    try:
        return bool(connector.with_service(
            lambda conn: conn.search("", "(objectClass=*)", search_scope=BASE, attributes=["1.1"])))
    except Exception as exc:  # noqa: BLE001 - SourceUnavailable or anything the library raised: not reachable
        log.warning("readiness: directory unreachable (%s)", type(exc).__name__)
        return False


@bp.get("/readyz")
def readyz() -> tuple[Response, int]:
    """Database and store answer (503 otherwise); the directory, when configured, is reported too.

    A directory outage does not make the node unready: it would be the same on every node, and taking
    them all out of the load balancer would stop citizens' sign-ins, which do not need the directory.
    It shows as ``"status": "degraded"`` with ``"directory": "unavailable"`` (and in the metrics).
    """
    from .. import metrics

    checks: dict[str, str] = {}
    try:
        db.session.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception:  # noqa: BLE001 - any failure means "not ready"
        db.session.rollback()
        checks["database"] = "unavailable"
        metrics.dependency_error("database")
    store_ok = current_app.extensions["idp"].store.ping()
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
