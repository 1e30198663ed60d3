"""Process logging: human-readable text or one JSON object per line, every line tagged with the request id.

What is logged about a request is its method, its path WITHOUT the query string, its Flask endpoint,
status and duration: never query strings, form bodies, cookies or headers, which carry NIKs, passwords,
codes and tokens.

The request id comes from a well-formed incoming ``X-Request-ID`` (set by a proxy or load balancer, so
that its logs and ours join up) or is made here; it is kept in ``g.request_id``, sent back in the
``X-Request-ID`` response header and shown as the reference on error pages.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
import sys
from typing import Any

from flask import g, has_request_context, request

__all__ = ["configure", "request_id_from", "JsonFormatter", "RequestContextFilter", "access"]

# Letters, digits and . _ : - (UUIDs, hex, W3C trace ids, most proxies' formats), at most 128 characters:
# nothing that could split a log line, a header or a JSON string.
REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s"
ACCESS = logging.getLogger("idp.access")
# Libraries whose DEBUG lines carry secrets: Authlib logs every issued token ("Issue token {...}").
# They stay at INFO or above whatever IDP_LOG_LEVEL says.
NEVER_DEBUG = ("authlib",)


def request_id_from(header: str | None) -> str:
    """The incoming id when it is well-formed, else a new random one (32 hex digits)."""
    if header and REQUEST_ID.fullmatch(header):
        return header
    return os.urandom(16).hex()  # 128 random bits; a quarter of uuid4's cost on every request


class RequestContextFilter(logging.Filter):
    """Add ``request_id``, ``method`` and ``path`` (no query string) of the current request to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if has_request_context():
            record.request_id = g.get("request_id") or "-"
            record.method = request.method
            record.path = request.path
        else:  # background threads, CLI commands, start-up
            record.request_id = "-"
            record.method = record.path = None
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, RFC 3339), level, logger, message and the request fields."""

    FIELDS = ("request_id", "method", "path", "endpoint", "status", "duration_ms")

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in self.FIELDS:
            value = getattr(record, name, None)
            if value is not None and value != "-":
                entry[name] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        return json.dumps(entry, ensure_ascii=False, default=str)


class _IdpHandler(logging.StreamHandler):
    """The handler this module installs on the root logger (replaced, not duplicated, on reconfiguration)."""


def configure(level: str, fmt: str) -> None:
    """Send every logger's records to stderr as ``fmt`` (``text`` or ``json``) at ``level`` and above."""
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _IdpHandler)]:
        root.removeHandler(old)
    handler = _IdpHandler(sys.stderr)
    handler.addFilter(RequestContextFilter())
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    root.addHandler(handler)
    root.setLevel(level)
    for name in NEVER_DEBUG:
        logging.getLogger(name).setLevel(max(logging.INFO, root.level))
    # Alembic announces its built-in plug-ins at INFO whenever it is loaded: noise in every command's output.
    logging.getLogger("alembic.runtime.plugins").setLevel(max(logging.WARNING, root.level))


def access(endpoint: str | None, status: int, seconds: float) -> None:
    """Log one answered request (INFO, logger ``idp.access``); method and path come from the filter."""
    if ACCESS.isEnabledFor(logging.INFO):
        ACCESS.info("%s %s %d", request.method, endpoint or "-", status,
                    extra={"endpoint": endpoint, "status": status, "duration_ms": round(seconds * 1000, 2)})
