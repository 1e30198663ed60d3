"""Typed errors with public text kept apart from logged detail; handlers that never leak internals.

Pages get an HTML error page in the person's language; API endpoints get a JSON body with an OAuth
``error`` code.  A 5xx shows only a reference number that operators find in the log.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from flask import Flask, Response, g, jsonify, render_template, request
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import DBAPIError, OperationalError
from werkzeug.exceptions import HTTPException

from . import metrics
from .store import StoreUnavailable

log = logging.getLogger(__name__)

# Paths answered in JSON (machines), everything else gets HTML pages (people).
API_PREFIXES = ("/token", "/userinfo", "/revoke", "/introspect", "/register", "/jwks", "/.well-known",
                "/healthz", "/readyz", "/metrics", "/api/")


class IdpError(Exception):
    """An error with a public message (shown) and a private detail (logged only)."""

    status = 400
    code = "invalid_request"
    title: Any = _l("Request could not be processed")

    def __init__(self, message: Any = None, *, detail: str | None = None, status: int | None = None,
                 code: str | None = None) -> None:
        super().__init__(detail or str(message or self.title))
        self.message = message or self.title
        self.detail = detail
        if status is not None:
            self.status = status
        if code is not None:
            self.code = code


class ServiceUnavailable(IdpError):
    status = 503
    code = "temporarily_unavailable"
    title = _l("The service is temporarily unavailable. Please try again in a moment.")


def wants_json() -> bool:
    if request.path.startswith(API_PREFIXES):
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json" and request.accept_mimetypes[best] > request.accept_mimetypes["text/html"]


def error_response(status: int, code: str, message: Any, *, ref: str | None = None,
                   headers: dict[str, str] | None = None) -> Response:
    """Render an error for the caller: JSON for APIs, the error page for people."""
    if wants_json():
        body: dict[str, Any] = {"error": code, "error_description": str(message)}
        if ref:
            body["reference"] = ref
        resp = jsonify(body)
    else:
        resp = Response(render_template("error.html", status=status, message=message, code=code, ref=ref),
                        mimetype="text/html")
    resp.status_code = status
    resp.headers["Cache-Control"] = "no-store"
    for key, value in (headers or {}).items():
        resp.headers[key] = value
    return resp


HTTP_MESSAGES: dict[int, tuple[str, Any]] = {
    400: ("invalid_request", _l("The request is malformed.")),
    401: ("invalid_client", _l("Authentication is required.")),
    403: ("access_denied", _l("You are not allowed to do this.")),
    404: ("not_found", _l("This page does not exist.")),
    405: ("invalid_request", _l("This method is not allowed here.")),
    413: ("invalid_request", _l("The request is too large.")),
    414: ("invalid_request", _l("The request address is too long.")),
    429: ("slow_down", _l("Too many attempts. Please wait a moment and try again.")),
}


def register(app: Flask) -> None:
    """Install the error handlers on ``app``."""

    @app.errorhandler(IdpError)
    def _idp_error(exc: IdpError) -> Response:
        if exc.detail:
            log.info("request refused: %s (%s)", exc.code, exc.detail)
        return error_response(exc.status, exc.code, exc.message)

    @app.errorhandler(CSRFError)
    def _csrf(exc: CSRFError) -> Response:
        log.info("CSRF check failed: %s", exc.description)
        return error_response(400, "invalid_request",
                              _l("The form has expired or was not sent from this site. Please go back, "
                                 "reload the page and try again."))

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> Response:
        status = exc.code or 500
        if status >= 500:
            return _internal(exc)
        code, message = HTTP_MESSAGES.get(status, ("invalid_request", _l("The request is malformed.")))
        headers = dict(exc.get_headers()) if status == 405 else {}
        headers.pop("Content-Type", None)
        return error_response(status, code, message, headers=headers)

    @app.errorhandler(StoreUnavailable)
    def _store_down(exc: StoreUnavailable) -> Response:
        metrics.dependency_error("redis")
        log.error("store unavailable: %s", exc)
        return error_response(503, "temporarily_unavailable", ServiceUnavailable.title,
                              headers={"Retry-After": "5"})

    @app.errorhandler(OperationalError)
    def _db_down(exc: OperationalError) -> Response:
        _rollback()
        metrics.dependency_error("database")
        log.error("database unavailable: %s", exc.__class__.__name__)
        return error_response(503, "temporarily_unavailable", ServiceUnavailable.title,
                              headers={"Retry-After": "5"})

    @app.errorhandler(DBAPIError)
    def _db_error(exc: DBAPIError) -> Response:
        _rollback()
        metrics.dependency_error("database")
        return _internal(exc)

    @app.errorhandler(Exception)
    def _internal(exc: BaseException) -> Response:
        _rollback()
        ref = getattr(g, "request_id", None) or uuid.uuid4().hex[:12]
        log.error("internal error ref=%s", ref, exc_info=exc)
        return error_response(500, "server_error",
                              _l("Something went wrong on our side. Please try again later."), ref=ref)


def _rollback() -> None:
    from .extensions import db

    try:
        db.session.rollback()
    except Exception:  # noqa: BLE001,S110 - the original error is what matters
        pass
