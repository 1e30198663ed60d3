"""Typed errors with public text kept apart from logged detail; handlers that never leak internals.

Pages get an HTML error page in the person's language; API endpoints get a JSON body with an OAuth
``error`` code.  A 5xx shows only a reference number that operators find in the log.

Last resort (issue 21): an exception no handler expects is logged once with the request id, counted in
``idp_unhandled_exceptions_total`` and answered with the error page.  That page cannot fail a second
time: without a URL adapter (a malformed ``Host``) it builds its links against the issuer, and if the
template still raises, a fixed bilingual page that reads nothing from the request is sent instead.
"""

from __future__ import annotations

import logging
import uuid
from html import escape
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, Response, current_app, g, jsonify, render_template, request
from flask.globals import request_ctx
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import DBAPIError, OperationalError
from werkzeug.exceptions import HTTPException

from idp import metrics
from idp.extensions import db, state
from idp.store import StoreUnavailable

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


# The page of last resort: fixed text in both languages, nothing read from the request or the session.
BARE_PAGE = """<!doctype html>
<html lang="id"><head><meta charset="utf-8"><meta name="referrer" content="no-referrer">
<title>Kesalahan / Error · SSO Banten</title></head>
<body><main><h1>Maaf / Sorry</h1>
<p lang="id">Permintaan tidak dapat diproses. Silakan kembali ke halaman awal dan coba lagi.</p>
<p lang="en">The request could not be processed. Please go back to the start page and try again.</p>
{ref}<p><a href="/">Halaman awal / Start page</a></p></main></body></html>
"""


def _bind_issuer_urls() -> None:
    """Give the request a URL adapter built from the issuer when its own could not be made.

    Flask builds the adapter from the ``Host`` header; for a host it refuses (a label over 63
    characters, RFC 1035 2.3.4) there is none, and every ``url_for`` of the page would raise.
    """
    ctx = request_ctx._get_current_object()  # type: ignore[attr-defined]
    if ctx.url_adapter is None:
        issuer = urlsplit(state().config["ISSUER"])
        ctx.url_adapter = current_app.url_map.bind(issuer.netloc, script_name=request.script_root or "/",
                                                   url_scheme=issuer.scheme or "http")


def _page(status: int, code: str, message: Any, ref: str | None) -> str:
    try:
        _bind_issuer_urls()
        return render_template("error.html", status=status, message=message, code=code, ref=ref)
    except Exception as exc:  # noqa: BLE001 - the page itself must not turn one failure into two
        unhandled(exc, ref=ref, what="error page failed")
        ref_line = f"<p>Nomor referensi / Reference: <code>{escape(ref)}</code></p>\n" if ref else ""
        return BARE_PAGE.format(ref=ref_line)


def error_response(status: int, code: str, message: Any, *, ref: str | None = None,
                   headers: dict[str, str] | None = None) -> Response:
    """Render an error for the caller: JSON for APIs, the error page for people (never raises)."""
    try:
        as_json = wants_json()
    except Exception:  # noqa: BLE001 - an Accept header werkzeug cannot read: a person's page
        as_json = False
    if as_json:
        body: dict[str, Any] = {"error": code, "error_description": str(message)}
        if ref:
            body["reference"] = ref
        resp = jsonify(body)
    else:
        resp = Response(_page(status, code, message, ref), mimetype="text/html")
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
        # Flask hands an exception that escaped a handler or a hook over as InternalServerError.
        original = getattr(exc, "original_exception", None) or exc
        ref = unhandled(original)
        return error_response(500, "server_error",
                              _l("Something went wrong on our side. Please try again later."), ref=ref)

    # Flask logs an exception escaping a handler before it calls the handler above, which logs it
    # again with the reference number: keep one record per exception (the handler's).
    app.log_exception = lambda exc_info: None  # type: ignore[method-assign]


def unhandled(exc: BaseException, *, ref: str | None = None, what: str = "internal error") -> str:
    """Log ``exc`` once with the request id as its reference, count it; returns the reference."""
    if ref is None:
        try:
            ref = g.get("request_id")
        except Exception:  # noqa: BLE001,S110 - outside a request: a fresh reference
            pass
    ref = ref or uuid.uuid4().hex[:12]
    metrics.unhandled_exception()
    log.error("%s ref=%s", what, ref, exc_info=exc)
    return ref


def _rollback() -> None:

    try:
        db.session.rollback()
    except Exception:  # noqa: BLE001,S110 - the original error is what matters
        pass
