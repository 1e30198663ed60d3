"""Cross-cutting HTTP behaviour: request ids, metrics and access log, security headers, request-size limits."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import quote_from_bytes, urlencode

from flask import Flask, Request, Response, abort, g, request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from werkzeug.utils import cached_property

from idp import logs, metrics
from idp.extensions import state
from idp.headers import CSP, HSTS, SECURITY_HEADERS
from idp.store import StoreUnavailable

log = logging.getLogger(__name__)

MAX_QUERY_BYTES = 8192
# Pages whose form needs the store when it is sent back (sign-in, account creation).
STORE_PAGES = frozenset({"auth.login", "auth.register"})

# Every printable ASCII character, "%" included: existing escapes stay as they are.
_QUERY_SAFE = "".join(map(chr, range(0x20, 0x7F)))


class IdpRequest(Request):
    """Flask's request, reading a query string of raw non-UTF-8 bytes instead of failing on it.

    A client may put unescaped bytes on the request line (``GET /?a=\xb2``); the server hands them on as
    latin-1 (PEP 3333) and werkzeug decodes ``QUERY_STRING`` as strict UTF-8, so ``request.args`` raised
    UnicodeDecodeError on any page (issue 21).  Such bytes are percent-encoded first, as a browser would
    have sent them; werkzeug then keeps the invalid ones percent-encoded in the values.
    """

    @cached_property
    def args(self) -> Any:
        raw = self.query_string
        if raw.isascii():
            return super().args
        query = quote_from_bytes(raw, safe=_QUERY_SAFE)
        self.environ["QUERY_STRING"] = query
        self.query_string = query.encode("ascii")
        return super().args


class CookieSessions(SecureCookieSessionInterface):
    """Flask's signed-cookie session, without building the signing serializer when there is no cookie.

    API calls (token, introspection, userinfo) never carry the page cookie; Flask would still derive the
    serializer for each of them before finding nothing to read (bench/FINDINGS.md, issue 20).
    """

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if app.secret_key and ("HTTP_COOKIE" not in request.environ
                               or not request.cookies.get(self.get_cookie_name(app))):
            return self.session_class()
        return super().open_session(app, request)


def merge_query(args: dict[str, str], **changes: str) -> str:
    """The query string of ``args`` with ``changes`` applied (used by the language switch)."""
    merged = {**args, **changes}
    return urlencode(merged)


class HeadAsGet:
    """WSGI middleware: a HEAD request is answered as the GET would be, without the body.

    RFC 9110 9.3.2: HEAD is GET without content, with the same status and header fields.  Flask routes
    HEAD to the GET view but leaves ``request.method == "HEAD"``, so a view that tells its form's GET
    from its POST by the method would treat a HEAD as a form sent without fields (a 400).  Here the
    view sees GET, and the body is dropped, once, for every page (a future view cannot forget it).
    """

    def __init__(self, wsgi_app: Callable[..., Iterable[bytes]]) -> None:
        self.wsgi_app = wsgi_app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") != "HEAD":
            return self.wsgi_app(environ, start_response)
        body = self.wsgi_app({**environ, "REQUEST_METHOD": "GET"}, start_response)
        close = getattr(body, "close", None)
        if close is not None:
            close()  # WSGI (PEP 3333): the server must call close(); we consumed the response instead
        return []


def init_app(app: Flask) -> None:
    app.request_class = IdpRequest
    app.session_interface = CookieSessions()
    app.add_template_filter(merge_query, "merge_query")
    app.wsgi_app = HeadAsGet(app.wsgi_app)  # type: ignore[method-assign]
    cfg = state(app).config
    https = cfg["ISSUER"].startswith("https://")
    access_log = cfg["LOG_FORMAT"] == "json"

    @app.before_request
    def _limits() -> None:
        g.request_started = time.perf_counter()
        g.request_id = logs.request_id_from(request.headers.get("X-Request-ID"))
        if len(request.query_string) > MAX_QUERY_BYTES:
            abort(414)
        if request.method == "GET" and request.endpoint in STORE_PAGES:
            # A sign-in form that cannot be submitted wastes the person's typing: say at once that
            # the service is unavailable (503) while the store is down; one PING per page view.
            if not state(app).store.ping():
                raise StoreUnavailable("store ping failed before a sign-in page")

    defaults = tuple((name.lower(), name, value) for name, value in
                     (("Content-Security-Policy", CSP), *SECURITY_HEADERS, *((HSTS,) if https else ())))

    @app.after_request
    def _headers(resp: Response) -> Response:
        h = resp.headers
        # One pass over the few headers a view set, instead of a case-insensitive search per default
        # (Headers.setdefault): this hook runs on every response (bench/FINDINGS.md, issue 20).
        present = {name.lower() for name in h.keys()}
        for lower, name, value in defaults:
            if lower not in present:
                h.add(name, value)
        h["X-Request-ID"] = g.get("request_id", "")
        # Pages carry personal data and CSRF tokens: never cache them (RFC 9111 no-store).
        if resp.mimetype == "text/html":
            h["Cache-Control"] = "no-store"
            h.setdefault("Pragma", "no-cache")
        started = g.get("request_started")
        if started is not None:
            seconds = time.perf_counter() - started
            metrics.observe(request.endpoint, resp.status_code, seconds)
            if access_log:
                logs.access(request.endpoint, resp.status_code, seconds)
        return resp
