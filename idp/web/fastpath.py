"""Discovery and JWKS served before Flask: precomputed bytes with ETag (issue 8, hot-path rules).

Both documents are the same bytes for every caller, so the request hooks (request id, i18n, session,
metrics, the limits) would only add cost: the benchmark measured them at about 40 percent of the time
of these requests.  This WSGI middleware answers ``GET``/``HEAD`` of the three paths from the bytes
Flask already computed (``discovery.document()``, the keyring's JWKS), with the same caching and
security headers the Flask views send, and a 304 for a matching ``If-None-Match``.  Anything else, and
the JWKS whenever the process's keyring is due for its reload (``IDP_KEYRING_RELOAD_SECONDS``, key
rotation), goes to Flask as before, so these documents never go stale.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask
from werkzeug.http import parse_etags

from idp.config import JWKS_MAX_AGE
from idp.extensions import state
from idp.web.middleware import HSTS, SECURITY_HEADERS

DISCOVERY_MAX_AGE = 3600
DISCOVERY_PATHS = frozenset({"/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"})
JWKS_PATH = "/jwks.json"


class StaticDocuments:
    """WSGI middleware in front of the app for the discovery documents and the JWKS."""

    def __init__(self, app: Flask, wsgi_app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app
        self.wsgi_app = wsgi_app
        https = state(app).config["ISSUER"].startswith("https://")
        # The headers web.py gives every response; a JSON document needs no more than this CSP.
        self.common = [*SECURITY_HEADERS, ("Access-Control-Allow-Origin", "*"),
                       ("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")]
        if https:
            self.common.append(HSTS)

    def _document(self, path: str) -> tuple[bytes, str, int] | None:
        extra = state(self.app).extra
        if path == JWKS_PATH:
            ring = extra.get("keyring")
            if ring is None or not ring.signing or time.time() >= ring.reload_at:
                return None  # Flask loads or reloads the keyring
            return ring.jwks_bytes, ring.jwks_etag, JWKS_MAX_AGE
        cached = extra.get("discovery")
        if cached is None:
            return None  # the first request computes it in Flask
        return cached[0], cached[1], DISCOVERY_MAX_AGE

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "")
        if (path != JWKS_PATH and path not in DISCOVERY_PATHS) or method not in ("GET", "HEAD") \
                or environ.get("QUERY_STRING"):
            return self.wsgi_app(environ, start_response)
        found = self._document(path)
        if found is None:
            return self.wsgi_app(environ, start_response)
        body, etag, max_age = found
        headers = [("ETag", f'"{etag}"'), ("Cache-Control", f"public, max-age={max_age}"), *self.common]
        match = environ.get("HTTP_IF_NONE_MATCH")
        if match and parse_etags(match).contains(etag):
            start_response("304 NOT MODIFIED", headers)
            return [b""]
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body))),
                                  *headers])
        return [b""] if method == "HEAD" else [body]


def init_app(app: Flask) -> None:
    """Put the middleware in front of everything else (ProxyFix included: these answers need no client facts)."""
    app.wsgi_app = StaticDocuments(app, app.wsgi_app)  # type: ignore[method-assign]
