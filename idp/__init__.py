"""Banten province single sign-on: an OpenID Connect Provider for staff (LDAP) and citizens (NIK)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from flask import Flask

from idp import config as config_module
from idp.crypto import Crypto
from idp.extensions import State
from idp.store import store_from_settings

__all__ = ["create_app", "State", "resource_dir"]

log = logging.getLogger(__name__)


def resource_dir(name: str) -> Path:
    """Folder of ``templates``/``migrations``: inside the installed package, or beside it in a checkout."""
    here = Path(__file__).resolve().parent
    for candidate in (here / name, here.parent / name):
        if candidate.is_dir():
            return candidate
    raise RuntimeError(f"cannot find the {name!r} folder beside {here}")


def create_app(config: dict[str, Any] | None = None, *, open_store: bool = True) -> Flask:
    """Build the provider; ``config`` overrides ``IDP_*`` settings by name (without the prefix).

    ``open_store=False`` (operator commands) leaves the embedded store closed until a command uses it,
    so a command that needs no short-lived state runs while another process serves the instance.
    """
    # The layers are imported here, not at the top: every ``import idp.<module>`` runs this file first,
    # and gunicorn's master imports ``idp.logs`` (its log formatter) before it forks the workers.  Kept
    # light, that import creates no Prometheus values in the master, so each worker writes its own
    # multi-process metric files (tests/test_metrics.py), and the CLI and the layers below do not load
    # the whole application to read one module.
    from werkzeug.middleware.proxy_fix import ProxyFix

    from idp import (
        errors,
        helpdesk,
        i18n,
        logs,
        metrics,
        models,  # noqa: F401 - register the tables on the metadata
        siem,
        sources,
        tracing,
    )
    from idp.cli import register_commands
    from idp.extensions import csrf, db, migrate
    from idp.oauth import backchannel
    from idp.oauth import server as oauth_server
    from idp.people import notices, session
    from idp.web import fastpath, middleware, register_blueprints

    cfg = sources.resolve_settings(config_module.load(config))  # the sources' settings, validated too

    logs.configure(cfg["LOG_LEVEL"], cfg["LOG_FORMAT"])

    app = Flask(
        __name__,
        template_folder=str(resource_dir("templates")),
        static_folder="static",
        instance_path=cfg["INSTANCE_DIR"],
    )
    app.config.update(
        SECRET_KEY=cfg["SECRET_KEY"],
        SQLALCHEMY_DATABASE_URI=cfg["DATABASE_URL"],
        SQLALCHEMY_ENGINE_OPTIONS=_engine_options(cfg["DATABASE_URL"]),
        MAX_CONTENT_LENGTH=cfg["MAX_REQUEST_BYTES"],
        MAX_FORM_MEMORY_SIZE=cfg["MAX_REQUEST_BYTES"],
        SESSION_COOKIE_NAME="idp_ui",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=cfg["ISSUER"].startswith("https://"),
        PREFERRED_URL_SCHEME="https" if cfg["ISSUER"].startswith("https://") else "http",
        WTF_CSRF_TIME_LIMIT=None,  # the token lives as long as the browser session cookie
        BABEL_DEFAULT_LOCALE=cfg["DEFAULT_LOCALE"],
        BABEL_TRANSLATION_DIRECTORIES=str(Path(__file__).parent / "translations"),
        JSON_SORT_KEYS=False,
    )
    if cfg["TRUSTED_PROXIES"]:
        n = cfg["TRUSTED_PROXIES"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n, x_port=n)  # type: ignore[method-assign]

    Path(cfg["INSTANCE_DIR"]).mkdir(parents=True, exist_ok=True)
    store = store_from_settings(cfg, lazy=not open_store)
    crypto = Crypto(cfg["DATA_KEY_MAP"], cfg["DATA_KEY_ACTIVE"], cfg["HASH_KEY_BYTES"])
    app.extensions["idp"] = State(config=cfg, store=store, crypto=crypto, extra={})

    db.init_app(app)
    migrate.init_app(app, db, directory=str(resource_dir("migrations")), render_as_batch=True, compare_type=True)
    csrf.init_app(app)

    i18n.init_app(app)
    helpdesk.init_app(app)
    errors.register(app)
    middleware.init_app(app)
    metrics.init_app(app)  # /metrics (IDP_METRICS_ALLOW)
    siem.init_app(app)  # the audit events' SIEM sink (IDP_SIEM_SINK)
    session.init_app(app)
    notices.init_app(app)  # the device cookie (new-device sign-in notices)

    register_blueprints(app)

    oauth_server.init_app(app)

    backchannel.init_app(app)  # the logout notice delivery thread (IDP_BACKCHANNEL_WORKER)

    register_commands(app)

    tracing.init_app(app)  # OpenTelemetry (IDP_OTEL_EXPORTER_OTLP_ENDPOINT); before the fast path wraps wsgi_app
    fastpath.init_app(app)  # discovery and JWKS bytes before Flask's hooks (outermost WSGI layer)
    return app


def _engine_options(url: str) -> dict[str, Any]:
    if url.startswith("sqlite"):
        # SQLite: one file, many threads of the development server.
        return {"connect_args": {"check_same_thread": False, "timeout": 15}, "hide_parameters": True}
    # No pool_pre_ping: it costs a round trip on every checkout (every request that touches the
    # database; bench/FINDINGS.md).  After a database restart the first statement on a stale
    # connection fails (503, the request changed nothing), SQLAlchemy sees the disconnect and
    # invalidates the whole pool, and the next requests reconnect by themselves (issue 7; see
    # tests/resilience/test_database_outage.py).  pool_recycle bounds the age of idle connections.
    # hide_parameters keeps bound values (personal data, hashes) out of error messages and so out of logs.
    return {"pool_recycle": 1800, "pool_size": 5, "max_overflow": 10, "hide_parameters": True}
