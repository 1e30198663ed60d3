"""Tracing (idp.tracing): off by default; when on, a sign-in with a NIK produces Flask, SQLAlchemy and Redis
spans (and the directory's and outbound HTTP spans have their own names) without the NIK or any secret,
both in an in-memory exporter and in what a real OTLP/HTTP collector (started here) receives."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from opentelemetry import trace
from opentelemetry.instrumentation.redis import RedisInstrumentor
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from idp import net, tracing
from idp.config import ConfigError, load
from tests.citizen.helpers import PASSWORD, csrf, register_and_verify, sign_in
from tests.helpers import choose_english


@pytest.fixture
def otlp_collector() -> Iterator[tuple[str, list[bytes]]]:
    """A real OTLP/HTTP receiver: keeps the protobuf bodies POSTed to /v1/traces."""
    bodies: list[bytes] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the http.server hook's name
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if self.path == "/v1/traces" and self.headers["Content-Type"] == "application/x-protobuf":
                bodies.append(body)
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", bodies
    server.shutdown()
    server.server_close()


@pytest.fixture
def traced(make_app: Callable[..., Flask], otlp_collector: tuple[str, list[bytes]]) -> Iterator[
        tuple[Flask, InMemorySpanExporter, list[bytes]]]:
    url, bodies = otlp_collector
    app = make_app(OTEL_EXPORTER_OTLP_ENDPOINT=url, JWKS_URI_ALLOW_LOOPBACK=True)
    memory = InMemorySpanExporter()
    extra = tracing.add_exporter(memory)
    yield app, memory, bodies
    # The provider is per process: stop what this test added, so that later tests export nothing.
    extra.shutdown()
    for processor in tracing._processors.values():
        processor.shutdown()
    tracing._processors.clear()
    RedisInstrumentor().uninstrument()


def _flush() -> None:
    found = tracing.provider()
    assert found is not None
    assert found.force_flush(10_000)


def test_tracing_is_off_by_default(make_app: Callable[..., Flask]) -> None:
    app = make_app()
    assert app.extensions["idp"].config["OTEL_EXPORTER_OTLP_ENDPOINT"] == ""
    assert not getattr(app, "_is_instrumented_by_opentelemetry", False)


def test_a_sign_in_with_a_nik_is_traced_without_the_nik(
        traced: tuple[Flask, InMemorySpanExporter, list[bytes]]) -> None:
    app, memory, bodies = traced
    browser = choose_english(app.test_client())
    citizen = register_and_verify(browser)
    # The NIK in a query string too (login_hint-like), and the password in the form body.
    page = browser.get(f"/login?login_hint={citizen.nik}&next=/account")
    assert page.status_code == 200
    assert sign_in(browser, citizen).status_code == 303
    assert browser.get(f"/login?identifier={citizen.nik}&password={PASSWORD.replace(' ', '+')}").status_code < 500
    assert csrf  # the helpers' CSRF handling drives the forms above
    with app.app_context():
        with tracing.span("ldap.bind", **{"db.system": "ldap"}):
            pass
        # Outbound HTTP (idp.net: jwks_uri, sector documents, back-channel logout), a query with a secret.
        answer = net.request("GET", f"{app.extensions['idp'].config['OTEL_EXPORTER_OTLP_ENDPOINT']}/jwks?"
                             f"token=s3cret&nik={citizen.nik}", timeout=5, max_bytes=100)
    _flush()
    spans = memory.get_finished_spans()
    kinds = {(s.instrumentation_scope.name if s.instrumentation_scope else "") for s in spans}
    assert any("flask" in k for k in kinds), kinds
    assert any("sqlalchemy" in k for k in kinds), kinds
    assert any("redis" in k for k in kinds), kinds
    assert any(s.name == "ldap.bind" for s in spans)
    secrets = (citizen.nik, citizen.nik[:12], PASSWORD, PASSWORD.replace(" ", "+"), "login_hint")
    for found in spans:
        text = repr(dict(found.attributes or {})) + repr([dict(e.attributes or {}) for e in found.events])
        for secret in secrets:
            assert secret not in text, (found.name, secret, text[:500])
    outbound = [s for s in spans if s.name == "HTTP GET"]
    assert len(outbound) == 1 and (outbound[0].attributes or {})["url.full"].endswith("/jwks")
    assert (outbound[0].attributes or {})["http.response.status_code"] == answer.status
    assert all("s3cret" not in repr(dict(s.attributes or {})) for s in spans)
    server_spans = [s for s in spans if s.kind == trace.SpanKind.SERVER]
    assert any((s.attributes or {}).get("http.target") == "/login" for s in server_spans)
    redis_statements = {(s.attributes or {}).get("db.statement") for s in spans
                        if "redis" in (s.instrumentation_scope.name if s.instrumentation_scope else "")}
    # Command names only (pipelines: the library's own "?" placeholders), never keys or values.
    assert redis_statements
    assert all(word.isupper() or word == "?" for v in redis_statements for word in str(v).split()), redis_statements

    # What the collector received over OTLP/HTTP: the same spans, and no NIK anywhere in the bytes.
    assert bodies
    names = set()
    for body in bodies:
        assert citizen.nik.encode() not in body and PASSWORD.encode() not in body
        request = ExportTraceServiceRequest.FromString(body)
        for resource in request.resource_spans:
            service = {a.key: a.value.string_value for a in resource.resource.attributes}["service.name"]
            assert service == "idp"
            for scope in resource.scope_spans:
                names |= {s.name for s in scope.spans}
    assert "ldap.bind" in names and any(n.startswith(("GET", "POST")) for n in names), names


@pytest.mark.parametrize("value", ["collector:4318", "grpc://collector:4317", "http://"])
def test_a_bad_endpoint_stops_the_start(value: str, tmp_path: Any) -> None:
    with pytest.raises(ConfigError, match="IDP_OTEL_EXPORTER_OTLP_ENDPOINT"):
        load({"OTEL_EXPORTER_OTLP_ENDPOINT": value, "INSTANCE_DIR": str(tmp_path)}, environ={})


@pytest.mark.parametrize(("url", "clean"), [
    ("https://rp.example/cb?code=abc&state=x#frag", "https://rp.example/cb"),
    ("https://user:pw@rp.example/logout", "https://rp.example/logout"),
    ("/login?login_hint=3603011205900001", "/login"),
])
def test_without_query(url: str, clean: str) -> None:
    assert tracing.without_query(url) == clean
