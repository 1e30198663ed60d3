"""The per-process client cache (issue 8 hot-path rule): the token endpoint reads the client from memory,
a change made in this process takes effect at once, other processes' changes within the TTL, and a new
secret works at once everywhere (a failed check against a cached client asks the database)."""

from __future__ import annotations

import time
from typing import Any

from flask import Flask
from sqlalchemy import event, select, text

from idp.extensions import db
from idp.models import Client

from . import helpers
from .test_client_credentials import MACHINE, cc


def client_queries(app: Flask, action: Any) -> int:
    """How many SQL statements read the clients table while ``action`` runs."""
    seen: list[str] = []
    with app.app_context():
        engine = db.engine

    def listen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "FROM clients" in statement:
            seen.append(statement)

    event.listen(engine, "before_cursor_execute", listen)
    try:
        action()
    finally:
        event.remove(engine, "before_cursor_execute", listen)
    return len(seen)


def raw(app: Flask, sql: str, **params: Any) -> None:
    """A change made elsewhere (another node, a database console): no ORM, no event in this process."""
    with app.app_context(), db.engine.begin() as conn:
        conn.execute(text(sql), params)


def test_token_endpoint_reads_the_client_from_memory(app: Flask) -> None:
    cid, secret = helpers.create_client(app, **MACHINE)
    http = app.test_client()
    assert cc(http, cid, secret).status_code == 200  # loads and caches
    assert client_queries(app, lambda: [cc(http, cid, secret) for _ in range(5)]) == 0


def test_a_change_in_this_process_takes_effect_at_once(app: Flask) -> None:
    cid, secret = helpers.create_client(app, **MACHINE)
    http = app.test_client()
    assert cc(http, cid, secret).status_code == 200
    with app.app_context():
        db.session.execute(select(Client).where(Client.client_id == cid)).scalar_one().disabled = True
        db.session.commit()
    assert cc(http, cid, secret).status_code == 401


def test_other_processes_changes_arrive_within_the_ttl(oauth_app) -> None:
    app = oauth_app(CLIENT_CACHE_SECONDS=1)
    cid, secret = helpers.create_client(app, **MACHINE)
    http = app.test_client()
    assert cc(http, cid, secret).status_code == 200
    raw(app, "UPDATE clients SET disabled = true WHERE client_id = :cid", cid=cid)
    time.sleep(1.1)
    assert cc(http, cid, secret).status_code == 401


def test_a_new_secret_works_at_once_everywhere(app: Flask) -> None:
    cid, secret = helpers.create_client(app, **MACHINE)
    http = app.test_client()
    assert cc(http, cid, secret).status_code == 200
    new = "a-brand-new-secret-from-another-node-0123456789"
    with app.app_context():
        hashed = app.extensions["idp"].crypto.keyed_hash("client_secret", new)
    raw(app, "UPDATE clients SET client_secret_hash = :h WHERE client_id = :cid", h=hashed, cid=cid)
    assert cc(http, cid, new).status_code == 200
    assert cc(http, cid, "wrong").status_code == 401


def test_bulk_updates_clear_the_cache(app: Flask) -> None:
    from sqlalchemy import update

    cid, secret = helpers.create_client(app, **MACHINE)
    http = app.test_client()
    assert cc(http, cid, secret).status_code == 200
    with app.app_context():
        db.session.execute(update(Client).where(Client.client_id == cid).values(disabled=True))
        db.session.commit()
    assert cc(http, cid, secret).status_code == 401


def test_no_cache_when_off(oauth_app) -> None:
    app = oauth_app(CLIENT_CACHE_SECONDS=0)
    cid, secret = helpers.create_client(app, **MACHINE)
    http = app.test_client()
    assert cc(http, cid, secret).status_code == 200
    assert client_queries(app, lambda: cc(http, cid, secret)) == 1
