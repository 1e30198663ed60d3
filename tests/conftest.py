"""Fixtures that start the real services once per test run and build apps against them."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis as redis_lib
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import text

from idp import create_app
from idp.extensions import db

from . import services


def pytest_configure(config: pytest.Config) -> None:
    """Tests must not depend on the shell: an operator who exported ``IDP_ISSUER`` or
    ``IDP_JWKS_URI_ALLOW_LOOPBACK`` (say, after ``make run``) would otherwise change what every app of
    the suite, and every subprocess it starts, reads.  Only the suite's own ``IDP_TEST_*`` stay;
    each test sets the settings it needs as overrides (or in a subprocess's explicit environment)."""
    for name in services.ambient_settings():
        del os.environ[name]
    _reuse_route_builders()


def _reuse_route_builders() -> None:
    """Suite speed only: the suite builds an app per test, and werkzeug compiles two URL-builder functions
    per route with ``ast`` + ``compile()`` for every app (about 60 ms of each app's 65).  The generated code
    depends only on the rule's parsed parts, its defaults and converters and the ``append_unknown`` flag,
    so one code object per such key serves every app's identical rule (each still binds its own rule:
    ``Rule.compile`` does ``__get__(self)``).  Production builds its app once and is not touched."""
    from werkzeug.routing import rules

    original = rules.Rule._compile_builder
    if getattr(original, "reused", False):
        return
    made: dict[tuple[Any, ...], Callable[..., Any]] = {}

    def compile_builder(self: Any, append_unknown: bool = True) -> Callable[..., Any]:
        key = (self.rule, append_unknown, tuple(self._trace), repr(sorted((self.defaults or {}).items())),
               tuple(sorted((name, type(conv).__name__, repr({k: v for k, v in vars(conv).items() if k != "map"}))
                            for name, conv in self._converters.items())))
        found = made.get(key)
        if found is None:
            found = made[key] = original(self, append_unknown)
        return found

    compile_builder.reused = True  # type: ignore[attr-defined]
    rules.Rule._compile_builder = compile_builder  # type: ignore[method-assign]


# Low argon2 cost keeps the suite fast; production uses the OWASP defaults from the settings table.
FAST_ARGON2 = {"ARGON2_TIME_COST": 1, "ARGON2_MEMORY_KIB": 7168}


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    given = os.environ.get("IDP_TEST_REDIS_URL")
    if given:
        yield given
        return
    svc = services.start_redis()
    yield svc.url
    svc.stop()


@pytest.fixture(scope="session")
def postgres_admin_url() -> Iterator[str]:
    given = os.environ.get("IDP_TEST_DATABASE_URL")
    if given:
        yield given
        return
    svc = services.start_postgres()
    yield svc.url
    svc.stop()


@pytest.fixture(scope="session")
def postgres_url(postgres_admin_url: str) -> str:
    """One database for the run; tables are emptied between tests."""
    return services.create_database(postgres_admin_url, f"idp_test_{os.getpid()}")


KEEP_TABLES = {"signing_keys", "alembic_version"}


# Per database: the query that names the tables a test left rows in or whose id sequence it used, and
# each table's sequences.
_DIRTY: dict[str, tuple[str, dict[str, list[str]]]] = {}


def _dirty_tables(names: list[str]) -> tuple[list[str], dict[str, list[str]]]:
    """The tables of ``names`` that hold a row or whose sequence moved (only those need emptying), and the
    sequences of every table."""
    url = str(db.engine.url)
    if url not in _DIRTY:
        owned = db.session.execute(text(
            "SELECT t.relname, quote_ident(n.nspname) || '.' || quote_ident(s.relname) FROM pg_class s "
            "JOIN pg_depend d ON d.objid = s.oid AND d.deptype IN ('a', 'i') "
            "JOIN pg_class t ON t.oid = d.refobjid JOIN pg_namespace n ON n.oid = s.relnamespace "
            "WHERE s.relkind = 'S'")).all()
        sequences: dict[str, list[str]] = {}
        for table, sequence in owned:
            sequences.setdefault(table, []).append(sequence)
        parts = []
        for name in names:  # names come from the models, never from input
            used = "".join(f" OR (SELECT is_called FROM {seq})" for seq in sequences.get(name, []))
            parts.append(f"SELECT '{name}' WHERE EXISTS (SELECT 1 FROM \"{name}\"){used}")  # noqa: S608
        _DIRTY[url] = (" UNION ALL ".join(parts), sequences)
    query, sequences = _DIRTY[url]
    return [row[0] for row in db.session.execute(text(query))], sequences


def _empty_tables() -> None:
    names = [t.name for t in reversed(db.metadata.sorted_tables) if t.name not in KEEP_TABLES]
    if db.engine.dialect.name == "postgresql":
        # The state a TRUNCATE ... RESTART IDENTITY of every table would leave, in one round trip: the
        # tables a test touched are emptied (DELETE, children first: a few rows each, where TRUNCATE costs
        # file operations per table, about 90 ms a test) and their sequences start again at 1.
        dirty, sequences = _dirty_tables(names)
        if dirty:
            touched = set(dirty)
            statements = [f'DELETE FROM "{n}"' for n in names if n in touched]  # noqa: S608 - model names
            restarts = [f"setval('{seq}', 1, false)" for n in dirty for seq in sequences.get(n, [])]
            if restarts:
                statements.append("SELECT " + ", ".join(restarts))
            db.session.execute(text("; ".join(statements)))
    else:
        for name in names:
            db.session.execute(text(f'DELETE FROM "{name}"'))
    _keep_one_signer_per_key()
    db.session.commit()


def _keep_one_signer_per_key() -> None:
    """Signing keys are kept between tests (generating RSA keys for every app is slow), but no rotation
    state may leak into the next test: per algorithm and data key, only the newest key that already
    signs stays; scheduled, retired and superseded keys go."""
    from idp.models import SigningKey, utcnow

    now = utcnow()
    rows = db.session.execute(db.select(SigningKey).order_by(SigningKey.id)).scalars().all()
    keep: dict[tuple[str, str], SigningKey] = {}
    for row in rows:
        if row.status != "active" or (row.activated_at or row.created_at) > now:
            continue
        group = (row.alg, row.private_enc.partition(".")[0])  # the data key id prefixes the ciphertext
        current = keep.get(group)
        if current is None or (row.activated_at or row.created_at, row.id) > (
                current.activated_at or current.created_at, current.id):
            keep[group] = row
    kept = {row.id for row in keep.values()}
    for row in rows:
        if row.id not in kept:
            db.session.delete(row)


_schema_ready: set[str] = set()


@pytest.fixture
def make_app(tmp_path_factory: pytest.TempPathFactory, redis_url: str,
             postgres_url: str) -> Iterator[Callable[..., Flask]]:
    """Build an app: ``backend='postgres'`` (PostgreSQL + Redis, the default) or ``'sqlite'`` (embedded)."""
    made: list[Flask] = []

    def factory(backend: str = "postgres", **overrides: Any) -> Flask:
        instance = tmp_path_factory.mktemp("instance")
        settings: dict[str, Any] = {"INSTANCE_DIR": str(instance), "LOG_LEVEL": "WARNING",
                                    # Tests drive delivery passes themselves (backchannel.deliver); no thread per app.
                                    "BACKCHANNEL_WORKER": False, **FAST_ARGON2,
                                    # The outbound guard is on unless a test turns it off: the default
                                    # follows the issuer, and every test app's issuer is http loopback.
                                    "JWKS_URI_ALLOW_LOOPBACK": False,
                                    # Tests register many accounts from one address; the proof of work
                                    # (issue 16) is switched on by the tests of it (tests/citizen/test_defences.py).
                                    "PROOF_OF_WORK": "off"}
        if backend == "postgres":
            settings.update(DATABASE_URL=postgres_url, REDIS_URL=redis_url)
        settings.update(overrides)
        app = create_app(settings)
        app.config["TESTING"] = True
        with app.app_context():
            url = str(db.engine.url)
            if url not in _schema_ready or backend != "postgres":
                db.create_all()
                _schema_ready.add(url)
            _empty_tables()
        if settings.get("REDIS_URL"):
            conn = redis_lib.Redis.from_url(settings["REDIS_URL"])
            conn.flushdb()
            conn.close()
        made.append(app)
        return app

    yield factory
    for app in made:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
        app.extensions["idp"].store.close()


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    return make_app()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


class LiveServer:
    """The app served by a real HTTP server in a thread (for Chromium and real relying parties)."""

    def __init__(self, app: Flask, port: int) -> None:
        from werkzeug.serving import make_server

        self.app = app
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self._server = make_server("127.0.0.1", port, app, threaded=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join(5)


@pytest.fixture
def live_server(make_app: Callable[..., Flask]) -> Iterator[Callable[..., LiveServer]]:
    """Start ``make_app(**settings)`` on a free port with a matching issuer."""
    servers: list[LiveServer] = []

    def start(**settings: Any) -> LiveServer:
        port = services.free_port()
        app = make_app(ISSUER=f"http://127.0.0.1:{port}", **settings)
        server = LiveServer(app, port)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()
