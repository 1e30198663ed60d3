"""OpenTelemetry traces (off by default): Flask requests, SQLAlchemy, Redis, the directory and outbound HTTP.

On when ``IDP_OTEL_EXPORTER_OTLP_ENDPOINT`` names an OTLP/HTTP collector (``http(s)://host:4318``; spans go
to ``<endpoint>/v1/traces``).  The on/off switch is ours, so that an ``OTEL_*`` variable left in a shell
never turns tracing on by surprise; everything else is OpenTelemetry's own standard variables, read by the
SDK as usual: ``OTEL_SERVICE_NAME`` (default ``idp``), ``OTEL_RESOURCE_ATTRIBUTES``,
``OTEL_TRACES_SAMPLER`` / ``OTEL_TRACES_SAMPLER_ARG``, ``OTEL_EXPORTER_OTLP_HEADERS`` (the collector's
credentials), ``OTEL_EXPORTER_OTLP_TIMEOUT``, ``OTEL_BSP_*`` (the batch processor).

The NIK and secrets never reach a span:

- request spans carry the path only: the query string (``login_hint``, ``code``, ``state`` ...) is cut from
  ``http.target``/``http.url``/``url.query``; form bodies, cookies and headers are never recorded;
- SQLAlchemy spans carry the statement with its placeholders, never the bound values;
- Redis spans carry the command name only (the keys are hashes, the values are sessions and tokens);
- the directory spans (``ldap.bind``, ``ldap.search`` in :mod:`idp.sources.ldap`) carry the server only,
  never the DN, the filter or the user name; outbound HTTP spans (:mod:`idp.net`) the URL without query;
- as a last guard, :class:`Scrubbing` masks any run of 16 digits left in any attribute before export.

One tracer provider per process (OpenTelemetry's global), made by the first app that turns tracing on;
the Flask and SQLAlchemy instrumentation is per app, Redis's per process.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from flask import Flask
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

from idp.extensions import db, state

log = logging.getLogger(__name__)

TRACER = "idp"
LONG_DIGITS = re.compile(r"\d(?:[ .-]?\d){15,}")
URL_ATTRIBUTES = ("http.url", "url.full", "http.target")
QUERY_ATTRIBUTES = ("url.query",)
_processors: dict[str, BatchSpanProcessor] = {}


def tracer() -> trace.Tracer:
    """The provider's own tracer (a no-op one while tracing is off)."""
    return trace.get_tracer(TRACER)


@contextmanager
def span(name: str, **attributes: Any) -> Iterator[trace.Span]:
    """A span of our own around a call (the directory, outbound HTTP); ``attributes`` must hold no secret."""
    with tracer().start_as_current_span(name, kind=trace.SpanKind.CLIENT,
                                        attributes={k: v for k, v in attributes.items() if v is not None}) as found:
        yield found


def without_query(url: str) -> str:
    """The URL without query, fragment or credentials (they carry codes, tokens, hints and NIKs)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return ""
    netloc = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _mask(value: Any) -> Any:
    if isinstance(value, str):
        return LONG_DIGITS.sub(lambda m: "*" * len(m.group(0)), value)
    if isinstance(value, (list, tuple)):
        return tuple(_mask(v) for v in value)
    return value


def _clean(attributes: Any) -> dict[str, Any]:
    out = {}
    for key, value in dict(attributes or {}).items():
        if key in URL_ATTRIBUTES and isinstance(value, str):
            value = without_query(value) if "://" in value else value.split("?", 1)[0]
        elif key in QUERY_ATTRIBUTES:
            continue
        out[key] = _mask(value)
    return out


class Scrubbing(SpanExporter):
    """An exporter that hands ``inner`` copies of the spans without queries or long digit runs."""

    def __init__(self, inner: SpanExporter) -> None:
        self.inner = inner

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        clean = [ReadableSpan(
            name=s.name, context=s.context, parent=s.parent, resource=s.resource, attributes=_clean(s.attributes),
            events=[Event(e.name, _clean(e.attributes), e.timestamp) for e in s.events], links=s.links,
            kind=s.kind, status=s.status, start_time=s.start_time, end_time=s.end_time,
            instrumentation_scope=s.instrumentation_scope) for s in spans]
        return self.inner.export(clean)

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.inner.force_flush(timeout_millis)


def _request_hook(span: trace.Span, environ: dict[str, Any]) -> None:
    # The WSGI instrumentation recorded the target with its query string before this hook: overwrite it.
    if span.is_recording():
        span.set_attribute("http.target", environ.get("PATH_INFO") or "/")
        url = span.attributes.get("http.url") if hasattr(span, "attributes") else None
        if isinstance(url, str):
            span.set_attribute("http.url", without_query(url))


def _redis_hook(span: trace.Span, instance: Any, args: Any, kwargs: Any) -> None:
    # Keys are hashes, values are sessions, codes and tokens: only the command's name is kept.
    if span.is_recording() and args:
        span.set_attribute("db.statement", str(args[0]).split(" ", 1)[0][:32])


def provider() -> TracerProvider | None:
    """The process's SDK tracer provider, or None while tracing is off everywhere."""
    found = trace.get_tracer_provider()
    return found if isinstance(found, TracerProvider) else None


def add_exporter(exporter: SpanExporter) -> BatchSpanProcessor:
    """Export this process's spans to ``exporter`` too (through :class:`Scrubbing`)."""
    current = provider()
    if current is None:
        current = TracerProvider(resource=Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME")
                                                           or "idp"}))
        trace.set_tracer_provider(current)
    processor = BatchSpanProcessor(Scrubbing(exporter))
    current.add_span_processor(processor)
    return processor


def init_app(app: Flask) -> None:
    """Turn tracing on for ``app`` when ``IDP_OTEL_EXPORTER_OTLP_ENDPOINT`` is set (module doc)."""
    endpoint = str(state(app).config["OTEL_EXPORTER_OTLP_ENDPOINT"])
    if not endpoint:
        return
    # Imported only when tracing is on: the OTLP exporter (protobuf) and the instrumentations add about a
    # third of a second to every process start (each CLI command, each worker), for nothing when it is off.
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.instrumentation.flask import FlaskInstrumentor
    from opentelemetry.instrumentation.redis import RedisInstrumentor
    from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

    if endpoint not in _processors:
        _processors[endpoint] = add_exporter(OTLPSpanExporter(endpoint=endpoint.rstrip("/") + "/v1/traces"))
    tp = provider()
    FlaskInstrumentor().instrument_app(app, tracer_provider=tp, request_hook=_request_hook,
                                       excluded_urls="metrics,healthz,readyz")
    with app.app_context():
        SQLAlchemyInstrumentor().instrument(engine=db.engine, tracer_provider=tp)
    if not RedisInstrumentor().is_instrumented_by_opentelemetry:
        RedisInstrumentor().instrument(tracer_provider=tp, request_hook=_redis_hook)
    log.info("tracing on: OTLP/HTTP to %s", without_query(endpoint))
