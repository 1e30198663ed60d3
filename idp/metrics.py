"""Prometheus metrics of the provider (prometheus-client), in one process or across gunicorn workers.

Under gunicorn with several workers, ``gunicorn.conf.py`` sets ``PROMETHEUS_MULTIPROC_DIR`` before any
worker imports this module: each worker then writes its values to memory-mapped files there and
``/metrics`` (answered by whichever worker) adds up the files of every worker, living or dead.

Label values are always taken from small fixed sets (the Flask endpoint name, never the path; a known
grant type or ``other``), so the number of series stays bounded whatever callers send.

Exposition format: https://prometheus.io/docs/instrumenting/exposition_formats/ (text format 0.0.4).
"""

from __future__ import annotations

import ipaddress
import os
from typing import Any

from flask import Flask, Response, abort, request
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, choose_encoder, generate_latest

from idp.extensions import state

__all__ = ["init_app", "sign_in", "backchannel_delivered", "dependency_error", "unhandled_exception", "render"]

SOURCES = frozenset({"citizen", "ldap"})
RESULTS = frozenset({"success", "failure", "locked", "unavailable"})
# RFC 6749 4.1.3 / 4.4.2 / 6, RFC 8628 3.4, RFC 8693 2.1, RFC 7523 2.1, OIDC CIBA 10.1.
GRANT_TYPES = frozenset({
    "authorization_code", "client_credentials", "refresh_token", "password",
    "urn:ietf:params:oauth:grant-type:device_code", "urn:ietf:params:oauth:grant-type:token-exchange",
    "urn:ietf:params:oauth:grant-type:jwt-bearer", "urn:openid:params:grant-type:ciba",
})
BACKCHANNEL_OUTCOMES = frozenset({"delivered", "pending", "failed"})
DEPENDENCIES = frozenset({"ldap", "redis", "database"})
STATUS_CLASSES = ("1xx", "2xx", "3xx", "4xx", "5xx")
TOKEN_ENDPOINT = "oauth.token"  # noqa: S105 - the Flask endpoint name of /token, not a secret

SIGN_INS = Counter("idp_sign_ins", "Sign-in attempts by credential source and result.", ["source", "result"])
TOKENS = Counter("idp_tokens_issued", "Successful token endpoint responses by grant type.", ["grant_type"])
REQUESTS = Counter("idp_http_responses", "HTTP responses by Flask endpoint and status class.",
                   ["endpoint", "status_class"])
LATENCY = Histogram("idp_http_request_duration_seconds", "Time spent in the application per request, "
                    "by Flask endpoint.", ["endpoint"],
                    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0))
DEPENDENCY_ERRORS = Counter("idp_dependency_errors", "Failures of the directory (ldap), the store (redis) and "
                            "the database, as seen by requests.", ["dependency"])
UNHANDLED = Counter("idp_unhandled_exceptions", "Exceptions no handler expected (answered 500 or with the "
                    "fallback error page); each is logged once with its request id.")
BACKCHANNEL = Counter("idp_backchannel_deliveries", "Back-channel logout notice attempts by resulting status "
                      "(delivered, pending = will retry, failed = gave up).", ["outcome"])

# Pre-create the series of the fixed label sets: they appear at 0 from the start (rate() works at the
# first increment) and the hot path only looks up an existing child.
_SIGN_INS = {(s, r): SIGN_INS.labels(s, r) for s in SOURCES for r in RESULTS}
_TOKENS = {grant: TOKENS.labels(grant) for grant in (*GRANT_TYPES, "other")}
_DEPENDENCY = {name: DEPENDENCY_ERRORS.labels(name) for name in DEPENDENCIES}
_BACKCHANNEL = {name: BACKCHANNEL.labels(name) for name in (*BACKCHANNEL_OUTCOMES, "other")}
# endpoint -> (latency child, response counters by status // 100); filled once per endpoint per process.
_ENDPOINTS: dict[str, tuple[Any, tuple[Any, ...]]] = {}


def sign_in(source: str | None, result: str) -> None:
    """Count one sign-in attempt (``source``: citizen|ldap; ``result``: success|failure|locked|unavailable)."""
    child = _SIGN_INS.get((source or "", result))
    if child is not None:
        child.inc()


def backchannel_delivered(outcome: str) -> None:
    """Count one back-channel logout delivery attempt by the notice's new status (delivered|pending|failed)."""
    _BACKCHANNEL.get(outcome, _BACKCHANNEL["other"]).inc()


def dependency_error(dependency: str) -> None:
    """Count one failure of ``dependency`` (ldap|redis|database) seen while answering a request."""
    child = _DEPENDENCY.get(dependency)
    if child is not None:
        child.inc()


def unhandled_exception() -> None:
    """Count one exception that reached the last-resort handler (idp.errors)."""
    UNHANDLED.inc()


def _children(endpoint: str) -> tuple[Any, tuple[Any, ...]]:
    found = _ENDPOINTS.get(endpoint)
    if found is None:
        # Endpoints are the app's fixed set of routes (plus "none" for unrouted paths): bounded.
        found = _ENDPOINTS[endpoint] = (LATENCY.labels(endpoint),
                                        tuple(REQUESTS.labels(endpoint, c) for c in STATUS_CLASSES))
    return found


def observe(endpoint: str | None, status: int, seconds: float) -> None:
    """Record one answered request (called from the request hook in :mod:`idp.web`)."""
    latency, by_class = _children(endpoint or "none")
    latency.observe(seconds)
    index = status // 100 - 1
    if 0 <= index < 5:
        by_class[index].inc()
    if endpoint == TOKEN_ENDPOINT and status == 200:
        grant = request.form.get("grant_type", "")
        _TOKENS.get(grant, _TOKENS["other"]).inc()


def render() -> Response:
    """The metrics in the format the scraper asks for (``Accept``: Prometheus text 0.0.4 by default, or
    OpenMetrics); all workers' values in multi-process mode."""
    try:
        encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
    except (ValueError, TypeError, IndexError):  # a version it cannot parse (0.26 raises TypeError on "x.y"):
        # the plain text format every scraper reads
        encoder, content_type = generate_latest, CONTENT_TYPE_PLAIN_0_0_4
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # Only under gunicorn with several workers (gunicorn.conf.py sets the directory).
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        body = encoder(registry)
    else:
        body = encoder(REGISTRY)
    return Response(body, content_type=content_type, headers={"Cache-Control": "no-store"})


def init_app(app: Flask) -> None:
    """Parse ``IDP_METRICS_ALLOW`` once and add ``/metrics`` (404 for callers outside the allowed networks)."""
    allowed = tuple(ipaddress.ip_network(cidr, strict=False) for cidr in state(app).config["METRICS_ALLOW"])

    def metrics_view() -> Response:
        # request.remote_addr is the client as resolved by ProxyFix (IDP_TRUSTED_PROXIES).
        try:
            addr = ipaddress.ip_address(request.remote_addr or "")
        except ValueError:
            abort(404)
        if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
            addr = addr.ipv4_mapped
        if not any(addr in net for net in allowed):
            abort(404)  # not 403: the endpoint is not advertised to the outside
        return render()

    app.add_url_rule("/metrics", endpoint="metrics", view_func=metrics_view, methods=["GET"])

